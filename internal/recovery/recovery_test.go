package recovery

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testdb"
)

type entry struct{ userID, kind, detail string }

type fakeActivity struct {
	mu      sync.Mutex
	entries []entry
}

func (f *fakeActivity) Record(_ context.Context, userID, kind, detail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, entry{userID, kind, detail})
}

func (f *fakeActivity) kinds(userID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.entries {
		if e.userID == userID {
			out = append(out, e.kind)
		}
	}
	return out
}

type setup struct {
	svc  *Service
	st   *store.Store
	act  *fakeActivity
	user store.User
	now  *time.Time
}

func newSetup(t *testing.T, accounts, clients Limiter) setup {
	t.Helper()
	st, err := store.Open(t.Context(), testdb.SQLiteURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.UnixMilli(1_760_000_000_000).UTC()
	u := store.User{ID: "usr-ada", Email: "ada@example.com", Name: "Ada", CreatedAt: now}
	p := store.Passkey{CredentialID: []byte("cred-ada"), UserID: u.ID, PublicKey: []byte{1}, AttestationType: "none", CreatedAt: now}
	ch := store.UsedChallenge{Hash: []byte("challenge"), ExpiresAt: now.Add(time.Minute)}
	ps := store.ProviderSession{ID: "ps-ada", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.CreateUserWithPasskey(t.Context(), u, p, ch, ps); err != nil {
		t.Fatal(err)
	}
	act := &fakeActivity{}
	s := setup{st: st, act: act, user: u, now: &now}
	s.svc = New(Dependencies{Store: st, Accounts: accounts, Clients: clients, Activity: act, Now: func() time.Time { return *s.now }})
	return s
}

func TestCodesFormat(t *testing.T) {
	s := newSetup(t, nil, nil)
	codes, err := s.svc.FirstCodes(t.Context(), s.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != CodesPerSet {
		t.Fatalf("got %d codes, want %d", len(codes), CodesPerSet)
	}
	re := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !re.MatchString(c) || seen[c] {
			t.Errorf("code %q: not xxxx-xxxx-xxxx of the alphabet, or repeated", c)
		}
		seen[c] = true
	}
	again, err := s.svc.FirstCodes(t.Context(), s.user.ID)
	if err != nil || again != nil {
		t.Fatalf("FirstCodes a second time = %v, %v; want nothing (shown once)", again, err)
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abcd-efgh-jkmn", "abcd-efgh-jkmn", true},
		{" ABCD EFGH JKMN ", "abcd-efgh-jkmn", true},
		{"abcdefghjkmn", "abcd-efgh-jkmn", true},
		{"oOiI-lLab-cdef", "0011-11ab-cdef", true},
		{"abcd-efgh-jkm", "", false},
		{"abcd-efgh-jkmnp", "", false},
		{"abcd-efgh-jkmu", "", false},
		{"", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := Normalize(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRedeem(t *testing.T) {
	s := newSetup(t, nil, nil)
	ctx := t.Context()
	codes, err := s.svc.FirstCodes(ctx, s.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, email, code string
		want              error
	}{
		{"unknown email", "nobody@example.com", codes[0], ErrWrongCode},
		{"wrong code", "ada@example.com", "0000-0000-0000", ErrWrongCode},
		{"not a code", "ada@example.com", "hello", ErrWrongCode},
		{"right code, typed loosely", " ADA@example.com ", codes[1][:4] + " " + codes[1][5:9] + codes[1][10:], nil},
		{"same code again", "ada@example.com", codes[1], ErrWrongCode},
		{"another code", "ada@example.com", codes[2], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			u, err := s.svc.Redeem(ctx, "192.0.2.1", tc.email, tc.code)
			t.Logf("attempt took %v", time.Since(start))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Redeem = %v, want %v", err, tc.want)
			}
			if tc.want == nil && u.ID != s.user.ID {
				t.Fatalf("Redeem logged in %q, want %q", u.ID, s.user.ID)
			}
		})
	}
	want := []string{CodesCreated, CodeFailed, CodeFailed, CodeUsed, CodeFailed, CodeUsed}
	if got := s.act.kinds(s.user.ID); !equal(got, want) {
		t.Errorf("activity = %q, want %q", got, want)
	}
	if got := s.act.kinds(""); len(got) != 0 {
		t.Errorf("unknown email recorded %q", got)
	}

	// A new set kills the old one.
	fresh, err := s.svc.NewCodes(ctx, s.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Redeem(ctx, "192.0.2.1", "ada@example.com", codes[3]); !errors.Is(err, ErrWrongCode) {
		t.Errorf("old code after a new set = %v, want ErrWrongCode", err)
	}
	if _, err := s.svc.Redeem(ctx, "192.0.2.1", "ada@example.com", fresh[0]); err != nil {
		t.Errorf("new code = %v, want success", err)
	}
}

func TestRedeemConcurrent(t *testing.T) {
	s := newSetup(t, nil, nil)
	codes, err := s.svc.FirstCodes(t.Context(), s.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.svc.Redeem(t.Context(), "192.0.2.1", "ada@example.com", codes[0])
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok, wrong := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrWrongCode):
			wrong++
		default:
			t.Errorf("Redeem: %v", err)
		}
	}
	if ok != 1 || wrong != 5 {
		t.Fatalf("6 racing uses of one code: %d logged in, %d refused; want 1 and 5", ok, wrong)
	}
}

func TestRedeemRateLimits(t *testing.T) {
	now := time.UnixMilli(1_760_000_000_000)
	clock := func() time.Time { return now }
	s := newSetup(t, ratelimit.New(5, 15*time.Minute, clock), ratelimit.New(10, 15*time.Minute, clock))
	ctx := t.Context()
	codes, err := s.svc.FirstCodes(ctx, s.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Per account: five wrong codes from five addresses, then even the right code is refused.
	for i := range 5 {
		if _, err := s.svc.Redeem(ctx, "192.0.2."+string(rune('1'+i)), "ada@example.com", "0000-0000-0000"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("attempt %d = %v, want ErrWrongCode", i+1, err)
		}
	}
	if _, err := s.svc.Redeem(ctx, "198.51.100.1", "Ada@Example.com", codes[0]); !errors.Is(err, ErrTooMany) {
		t.Fatalf("6th attempt on the account = %v, want ErrTooMany", err)
	}
	// Unknown addresses are limited alike, so the limit does not tell which accounts exist.
	for i := range 5 {
		if _, err := s.svc.Redeem(ctx, "203.0.113.9", "nobody@example.com", "0000-0000-0000"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("unknown attempt %d = %v, want ErrWrongCode", i+1, err)
		}
	}
	if _, err := s.svc.Redeem(ctx, "203.0.113.9", "nobody@example.com", "0000-0000-0000"); !errors.Is(err, ErrTooMany) {
		t.Fatalf("6th attempt on an unknown address = %v, want ErrTooMany", err)
	}
	// Per client: 10 attempts from one address over many accounts, then refused.
	for i := range 4 {
		if _, err := s.svc.Redeem(ctx, "203.0.113.9", "someone"+string(rune('a'+i))+"@example.com", "0000-0000-0000"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("client attempt %d = %v, want ErrWrongCode", 7+i, err)
		}
	}
	if _, err := s.svc.Redeem(ctx, "203.0.113.9", "ada2@example.com", "0000-0000-0000"); !errors.Is(err, ErrTooMany) {
		t.Fatalf("11th attempt from one address = %v, want ErrTooMany", err)
	}
	// After 15 minutes the account may try again.
	now = now.Add(15 * time.Minute)
	if _, err := s.svc.Redeem(ctx, "198.51.100.1", "ada@example.com", codes[0]); err != nil {
		t.Fatalf("after 15 minutes = %v, want success", err)
	}
	if got := s.act.kinds(s.user.ID); len(got) != 8 || got[6] != CodeFailed {
		t.Errorf("activity = %q, want created, 5 refused, refused (too many), used", got)
	}
}

func TestLinks(t *testing.T) {
	s := newSetup(t, nil, nil)
	ctx := t.Context()
	if _, _, err := s.svc.CreateLink(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateLink for nobody = %v, want store.ErrNotFound", err)
	}
	token, u, err := s.svc.CreateLink(ctx, "ADA@example.com")
	if err != nil || u.ID != s.user.ID || len(token) != 43 {
		t.Fatalf("CreateLink = %q, %q, %v", token, u.ID, err)
	}
	expiring, _, err := s.svc.CreateLink(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.svc.CheckLink(ctx, token); err != nil {
		t.Fatalf("CheckLink = %v", err)
	}
	if got, err := s.svc.UseLink(ctx, token); err != nil || got.ID != s.user.ID {
		t.Fatalf("UseLink = %q, %v", got.ID, err)
	}
	*s.now = s.now.Add(LinkTTL)
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"used", token, ErrLinkUsed},
		{"expired", expiring, ErrLinkExpired},
		{"unknown", "nope", ErrLinkUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.svc.CheckLink(ctx, tc.token); !errors.Is(err, tc.want) {
				t.Errorf("CheckLink = %v, want %v", err, tc.want)
			}
			if _, err := s.svc.UseLink(ctx, tc.token); !errors.Is(err, tc.want) {
				t.Errorf("UseLink = %v, want %v", err, tc.want)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type sent struct{ to, token string }

type fakeMailer struct {
	mu   sync.Mutex
	sent []sent
}

func (f *fakeMailer) SendRecoveryLink(_ context.Context, to, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, sent{to, token})
	return nil
}

func (f *fakeMailer) all() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sent...)
}

// TestEmailLink: a known address gets one link that works once and for LinkTTL; an unknown one gets
// the same answer and no mail; both are limited per address and per client; no mailer, no links.
func TestEmailLink(t *testing.T) {
	now := time.UnixMilli(1_760_000_000_000)
	clock := func() time.Time { return now }
	s := newSetup(t, ratelimit.New(2, 15*time.Minute, clock), ratelimit.New(5, 15*time.Minute, clock))
	ctx := t.Context()
	if err := s.svc.EmailLink(ctx, "192.0.2.1", "ada@example.com"); !errors.Is(err, ErrNoMail) {
		t.Fatalf("EmailLink without a mailer = %v, want ErrNoMail", err)
	}
	m := &fakeMailer{}
	s.svc.d.Mailer = m

	for _, email := range []string{"Ada@Example.com", "nobody@example.com"} {
		if err := s.svc.EmailLink(ctx, "192.0.2.1", email); err != nil {
			t.Fatalf("EmailLink(%s) = %v", email, err)
		}
	}
	s.svc.Wait()
	got := m.all()
	if len(got) != 1 || got[0].to != "ada@example.com" || len(got[0].token) != 43 {
		t.Fatalf("sent %q, want one link to ada@example.com", got)
	}
	if k := s.act.kinds(s.user.ID); len(k) != 1 || k[0] != "Recovery link emailed" {
		t.Errorf("activity = %q, want [Recovery link emailed]", k)
	}
	if u, err := s.svc.UseLink(ctx, got[0].token); err != nil || u.ID != s.user.ID {
		t.Fatalf("UseLink = %q, %v", u.ID, err)
	}
	if _, err := s.svc.UseLink(ctx, got[0].token); !errors.Is(err, ErrLinkUsed) {
		t.Errorf("second UseLink = %v, want ErrLinkUsed", err)
	}

	// Expiry: a link mailed now is dead LinkTTL later.
	if err := s.svc.EmailLink(ctx, "192.0.2.1", "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	s.svc.Wait()
	*s.now = s.now.Add(LinkTTL)
	if got := m.all(); len(got) != 2 {
		t.Fatalf("%d mails, want 2", len(got))
	} else if _, err := s.svc.UseLink(ctx, got[1].token); !errors.Is(err, ErrLinkExpired) {
		t.Errorf("UseLink after %v = %v, want ErrLinkExpired", LinkTTL, err)
	}

	// Limits: the address has had 2 links, so a 3rd is refused (unknown addresses alike); the client
	// has made 3 requests, 2 more are allowed, then refused.
	for _, tc := range []struct {
		client, email string
		want          error
	}{
		{"198.51.100.1", "ada@example.com", ErrTooMany},
		{"198.51.100.1", "nobody@example.com", nil},
		{"192.0.2.1", "nobody@example.com", ErrTooMany},
		{"192.0.2.1", "someone@example.com", nil},
		{"192.0.2.1", "someone.else@example.com", ErrTooMany},
	} {
		if err := s.svc.EmailLink(ctx, tc.client, tc.email); !errors.Is(err, tc.want) {
			t.Errorf("EmailLink(%s, %s) = %v, want %v", tc.client, tc.email, err, tc.want)
		}
	}
	s.svc.Wait()
	if got := m.all(); len(got) != 2 {
		t.Errorf("%d mails after refused and unknown requests, want still 2", len(got))
	}
}

func (f *fakeMailer) SendConfirmLink(_ context.Context, to, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, sent{to, "confirm:" + token})
	return nil
}

// TestConfirmation: sign-up's confirmation link confirms the address once, for ConfirmTTL.
func TestConfirmation(t *testing.T) {
	s := newSetup(t, nil, nil)
	ctx := t.Context()
	s.svc.SendConfirmation(ctx, s.user) // no mailer: nothing
	s.svc.Wait()
	m := &fakeMailer{}
	s.svc.d.Mailer = m
	for range 2 {
		s.svc.SendConfirmation(ctx, s.user)
	}
	s.svc.Wait()
	got := m.all()
	if len(got) != 2 || got[0].to != "ada@example.com" || !strings.HasPrefix(got[0].token, "confirm:") {
		t.Fatalf("sent %q, want two confirmation links to ada@example.com", got)
	}
	first, second := strings.TrimPrefix(got[0].token, "confirm:"), strings.TrimPrefix(got[1].token, "confirm:")
	if ok, err := s.svc.EmailConfirmed(ctx, s.user.ID); err != nil || ok {
		t.Fatalf("EmailConfirmed before = %v, %v", ok, err)
	}
	if err := s.svc.CheckConfirmation(ctx, first); err != nil {
		t.Fatalf("CheckConfirmation = %v", err)
	}
	if err := s.svc.Confirm(ctx, first); err != nil {
		t.Fatalf("Confirm = %v", err)
	}
	if ok, err := s.svc.EmailConfirmed(ctx, s.user.ID); err != nil || !ok {
		t.Fatalf("EmailConfirmed after = %v, %v", ok, err)
	}
	*s.now = s.now.Add(ConfirmTTL)
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"used", first, ErrLinkUsed},
		{"expired", second, ErrLinkExpired},
		{"unknown", "nope", ErrLinkUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.svc.CheckConfirmation(ctx, tc.token); !errors.Is(err, tc.want) {
				t.Errorf("CheckConfirmation = %v, want %v", err, tc.want)
			}
			if err := s.svc.Confirm(ctx, tc.token); !errors.Is(err, tc.want) {
				t.Errorf("Confirm = %v, want %v", err, tc.want)
			}
		})
	}
	if k := s.act.kinds(s.user.ID); len(k) != 1 || k[0] != "Email address confirmed" {
		t.Errorf("activity = %q", k)
	}
}
