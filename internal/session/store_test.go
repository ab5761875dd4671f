package session

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

func storedExpiry(t *testing.T, st *store.Store, token string) (time.Time, bool) {
	t.Helper()
	var ms int64
	err := st.DB().QueryRow(`SELECT expiry FROM sessions WHERE token = ?`, token).Scan(&ms)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

func TestIdleRefresherSkipsOnlyUnchangedRecentWrites(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := newIdleRefresher(st.SessionStore(), time.Minute)
	r.now = func() time.Time { return now }
	data := []byte(`{"v":{"user_id":"usr-1"}}`)

	if _, err := st.SessionStore().CreateCtx(ctx, "tok", []byte(`{}`), now.Add(time.Hour), store.NewSession{UserID: "usr-1", ProviderSessionID: ""}); err != nil {
		t.Fatal(err)
	}
	if err := r.CommitCtx(ctx, "tok", data, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	first, _ := storedExpiry(t, st, "tok")

	now = now.Add(30 * time.Second) // same data, within the window: no write
	if err := r.CommitCtx(ctx, "tok", data, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := storedExpiry(t, st, "tok"); !got.Equal(first) {
		t.Errorf("unchanged data within the window was written: expiry %v, want %v", got, first)
	}

	changed := []byte(`{"v":{"user_id":"usr-2"}}`) // changed data: written at once
	if err := r.CommitCtx(ctx, "tok", changed, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if b, found, _ := st.SessionStore().Find("tok"); !found || string(b) != string(changed) {
		t.Errorf("changed data not written: %q", b)
	}

	now = now.Add(61 * time.Second) // window passed: the expiry moves forward
	if err := r.CommitCtx(ctx, "tok", changed, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := storedExpiry(t, st, "tok"); !got.Equal(now.Add(time.Hour).Truncate(time.Millisecond)) {
		t.Errorf("expiry after the window = %v, want %v", got, now.Add(time.Hour))
	}

	// Another process deletes the session (a logout elsewhere): a skipped write must not bring it back.
	if err := st.SessionStore().Delete("tok"); err != nil {
		t.Fatal(err)
	}
	if err := r.CommitCtx(ctx, "tok", changed, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, found := storedExpiry(t, st, "tok"); found {
		t.Error("a deleted session was written back")
	}
}

func TestJSONCodecIsDeterministicAndStringOnly(t *testing.T) {
	c := jsonCodec{}
	d := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	values := map[string]any{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
	first, err := c.Encode(d, values)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, _ := c.Encode(d, values)
		if string(again) != string(first) {
			t.Fatalf("encoding differs between runs: %s vs %s", again, first)
		}
	}
	gotD, gotV, err := c.Decode(first)
	if err != nil || !gotD.Equal(d) || len(gotV) != 5 || gotV["c"] != "3" {
		t.Errorf("round trip = %v %v %v", gotD, gotV, err)
	}
	if _, err := c.Encode(d, map[string]any{"n": 1}); err == nil {
		t.Error("a non-string value was encoded")
	}
	if _, _, err := c.Decode([]byte("not json")); err == nil {
		t.Error("garbage decoded")
	}
}

// The hand-written codec writes JSON that encoding/json reads back to the same values, and reads both its
// own output and encoding/json's (sessions stored before it) — escapes, controls, Unicode, empty maps.
func TestJSONCodecAgreesWithEncodingJSON(t *testing.T) {
	c := jsonCodec{}
	d := time.Date(2026, 12, 2, 3, 4, 5, 123456789, time.UTC)
	for _, values := range []map[string]string{
		{},
		{"user_id": "usr-1", "name": "Ada Lovelace", "email": "ada@example.com"},
		{"name": `quote " backslash \ slash / <b>&amp;`, "ctl": "a\x00b\x01c\nd\re\tf\x1f"},
		{"name": "Mariam 👩‍💻", "fa": "علی‌زاده", "he": "שלום", "sep": "\u2028\u2029"},
		{"bad": "invalid \xff utf-8"},
		{"": ""},
	} {
		in := make(map[string]any, len(values))
		for k, v := range values {
			in[k] = v
		}
		b, err := c.Encode(d, in)
		if err != nil {
			t.Fatal(err)
		}
		var e encoded
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("encoding/json cannot read %q: %v", b, err)
		}
		want, _ := json.Marshal(encoded{Deadline: d, Values: values})
		var w encoded
		_ = json.Unmarshal(want, &w)
		if !e.Deadline.Equal(d) || !maps.Equal(e.Values, w.Values) {
			t.Errorf("encoding/json reads %q as %v %v, want %v %v", b, e.Deadline, e.Values, d, w.Values)
		}
		for name, data := range map[string][]byte{"own": b, "encoding/json": want} {
			gotD, gotV, err := c.Decode(data)
			if err != nil || !gotD.Equal(d) || len(gotV) != len(w.Values) {
				t.Fatalf("decode %s %q = %v %v %v", name, data, gotD, gotV, err)
			}
			for k, v := range w.Values {
				if gotV[k] != v {
					t.Errorf("decode %s %q: %q = %q, want %q", name, data, k, gotV[k], v)
				}
			}
		}
	}
}
