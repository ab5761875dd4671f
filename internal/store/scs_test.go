package store

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

func TestSessionStore(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		ss := s.SessionStore()
		later := time.Now().Add(time.Hour)
		create := func(token string, data []byte) func() error {
			return func() error {
				created, err := ss.CreateCtx(ctx, token, data, later, NewSession{UserID: "usr-1", ProviderSessionID: ""})
				if err == nil && !created {
					t.Errorf("CreateCtx(%q) created nothing", token)
				}
				return err
			}
		}

		steps := []struct {
			name      string
			do        func() error
			token     string
			wantData  []byte
			wantFound bool
		}{
			{"unknown", nil, "nope", nil, false},
			{"commit never inserts", func() error { return ss.CommitCtx(ctx, "tok", []byte("zero"), later) }, "tok", nil, false},
			{"create", create("tok", []byte("one")), "tok", []byte("one"), true},
			{"overwrite", func() error { return ss.Commit("tok", []byte("two"), later) }, "tok", []byte("two"), true},
			{"expired", func() error { return ss.CommitCtx(ctx, "tok", []byte("three"), time.Now().Add(-time.Second)) }, "tok", nil, false},
			{"expiry is final", func() error { return ss.CommitCtx(ctx, "tok", []byte("four"), later) }, "tok", nil, false},
			{"empty data", create("empty", nil), "empty", []byte{}, true},
			{"delete", func() error { return ss.DeleteCtx(ctx, "empty") }, "empty", nil, false},
			{"delete is final", func() error { return ss.CommitCtx(ctx, "empty", []byte("five"), later) }, "empty", nil, false},
			{"delete again", func() error { return ss.Delete("empty") }, "empty", nil, false},
		}
		for _, st := range steps {
			if st.do != nil {
				if err := st.do(); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
			}
			for _, find := range []func(string) ([]byte, bool, error){
				ss.Find,
				func(token string) ([]byte, bool, error) { return ss.FindCtx(ctx, token) },
			} {
				data, found, err := find(st.token)
				if err != nil || found != st.wantFound || !bytes.Equal(data, st.wantData) {
					t.Errorf("%s: Find(%q) = %q, %v, %v; want %q, %v", st.name, st.token, data, found, err, st.wantData, st.wantFound)
				}
			}
		}
	})
}

// TestSessionCreateNeedsActiveProviderSession: a login whose provider session was revoked, belongs to
// someone else or whose user is gone creates no app session.
func TestSessionCreateNeedsActiveProviderSession(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		ss := s.SessionStore()
		f := newFixture(t, "create@example.com")
		f.create(t, s)
		now := time.Now()
		revoked := ProviderSession{ID: "ps-create-revoked", UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.insertProviderSession(ctx, s.DB(), revoked); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeProviderSession(ctx, revoked.ID, now); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, token, user, sid string
			want                   bool
		}{
			{"revoked provider session", "t-revoked", f.user.ID, revoked.ID, false},
			{"another user's provider session", "t-other", "usr-someone-else", f.session.ID, false},
			{"unknown provider session", "t-unknown", f.user.ID, "ps-unknown", false},
			{"active provider session", "t-active", f.user.ID, f.session.ID, true},
		} {
			created, err := ss.CreateCtx(ctx, tc.token, []byte("x"), now.Add(time.Hour), NewSession{UserID: tc.user, ProviderSessionID: tc.sid})
			if err != nil || created != tc.want {
				t.Errorf("%s: CreateCtx = %v, %v; want %v", tc.name, created, err, tc.want)
			}
			if _, found, _ := ss.FindCtx(ctx, tc.token); found != tc.want {
				t.Errorf("%s: session found = %v, want %v", tc.name, found, tc.want)
			}
		}
	})
}

func TestSessionManagerRoundTrip(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		sm := scs.New()
		sm.Store = s.SessionStore()
		sm.Lifetime = time.Hour

		mux := http.NewServeMux()
		mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
			sm.Put(r.Context(), "user", r.FormValue("user"))
			// A login creates its row (session.Manager does this through CreateCtx); scs's own commit after
			// the handler then updates it.
			token, expiry, err := sm.Commit(r.Context())
			if err == nil {
				_, err = s.SessionStore().CreateCtx(r.Context(), token, []byte(`{}`), expiry, NewSession{UserID: "usr-123", ProviderSessionID: ""})
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
		mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, sm.GetString(r.Context(), "user"))
		})
		mux.HandleFunc("POST /destroy", func(w http.ResponseWriter, r *http.Request) {
			if err := sm.Destroy(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
		srv := httptest.NewServer(sm.LoadAndSave(mux))
		t.Cleanup(srv.Close)
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Jar: jar}

		do := func(method, path, want string) {
			t.Helper()
			req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path+"?user=usr-123", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != want {
				t.Fatalf("%s %s = %d %q, want 200 %q", method, path, resp.StatusCode, body, want)
			}
		}
		rows := func() int {
			t.Helper()
			var n int
			if err := s.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM sessions").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		do("GET", "/get", "")
		do("POST", "/put", "")
		if n := rows(); n != 1 {
			t.Fatalf("sessions rows after put = %d, want 1", n)
		}
		do("GET", "/get", "usr-123")
		do("POST", "/destroy", "")
		if n := rows(); n != 0 {
			t.Errorf("sessions rows after destroy = %d, want 0", n)
		}
		do("GET", "/get", "")
	})
}
