package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/softauthn"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testdb"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/internal/testredis"
)

// cliBackends are the databases the command tests run against.
func cliBackends() map[string]func(testing.TB) string {
	return map[string]func(testing.TB) string{"sqlite": testdb.SQLiteURL, "postgres": testdb.PostgresURL}
}

// cliRun runs `latchkey -env-file "" ARGS…` with env as the whole environment and stdin as its
// standard input, and returns what it printed.
func cliRun(t *testing.T, env map[string]string, stdin io.Reader, args ...string) (string, error) {
	t.Helper()
	out := &testlog.Buffer{}
	err := runWith(t.Context(), append([]string{"latchkey", "-env-file", ""}, args...), func(k string) string { return env[k] }, stdin, out)
	return out.String(), err
}

// cliOK is cliRun for a command that must succeed.
func cliOK(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := cliRun(t, env, strings.NewReader(""), args...)
	if err != nil {
		t.Fatalf("latchkey %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// cliFails runs a command that must fail with exactly wantErr, and returns its output.
func cliFails(t *testing.T, env map[string]string, wantErr string, args ...string) string {
	t.Helper()
	out, err := cliRun(t, env, strings.NewReader(""), args...)
	if err == nil || err.Error() != wantErr {
		t.Fatalf("latchkey %s = %v, want the error %q\n%s", strings.Join(args, " "), err, wantErr, out)
	}
	return out
}

// TestCLIHelp: every way of asking for help answers without configuration (here even an invalid one),
// names every command, flag and where configuration comes from; unknown commands, bad flags and
// missing or extra arguments are refused in words that point to --help.
func TestCLIHelp(t *testing.T) {
	env := map[string]string{"LATCHKEY_TOKEN_TTL": "not a duration"} // help must not need the configuration
	overview := []string{"users list [--json]", "users show [--json] EMAIL|USER_ID", "users delete [--yes] EMAIL|USER_ID",
		"users recover EMAIL", "sessions revoke --user EMAIL|USER_ID", "keys list [--json]", "keys rotate", "help [COMMAND]",
		"-env-file FILE", "LATCHKEY_DATABASE_URL", "LATCHKEY_PUBLIC_URL", "LATCHKEY_SECRET_KEY", ".env", "real environment variables win"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, overview},
		{[]string{"-h"}, overview},
		{[]string{"help"}, overview},
		{[]string{"users", "--help"}, []string{"Usage: latchkey [-env-file FILE] users COMMAND [ARGS]", "users list [--json]", "users delete [--yes] EMAIL|USER_ID", "users recover EMAIL"}},
		{[]string{"help", "keys"}, []string{"keys list [--json]", "keys rotate", "Run 'latchkey keys COMMAND --help'"}},
		{[]string{"users", "delete", "--help"}, []string{"Usage: latchkey [-env-file FILE] users delete [--yes] EMAIL|USER_ID", "type its email address to confirm", "--yes", "LATCHKEY_DATABASE_URL"}},
		{[]string{"users", "list", "-h"}, []string{"--json", "last log-in"}},
		{[]string{"help", "sessions", "revoke"}, []string{"--user EMAIL|USER_ID", "--user EMAIL|USER_ID  EMAIL|USER_ID of the account", "provider session"}},
		{[]string{"keys", "rotate", "--help"}, []string{"Usage: latchkey [-env-file FILE] keys rotate\n", "LATCHKEY_TOKEN_TTL", "deletable", "Nobody is\nlogged out"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out := cliOK(t, env, tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}

	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" (see: latchkey --help)`},
		{[]string{"users", "frobnicate"}, `unknown command "users frobnicate" (see: latchkey users --help)`},
		{[]string{"users"}, `"users" needs a command: list, show, delete, recover (see: latchkey users --help)`},
		{[]string{"keys"}, `"keys" needs a command: list, rotate (see: latchkey keys --help)`},
		{[]string{"help", "frobnicate"}, `no help for "frobnicate": unknown command (see: latchkey --help)`},
		{[]string{"--frobnicate"}, `flag provided but not defined: -frobnicate (see: latchkey --help)`},
		{[]string{"users", "list", "--all"}, `users list: flag provided but not defined: -all (see: latchkey users list --help)`},
		{[]string{"users", "list", "extra"}, `users list: unexpected argument "extra" (see: latchkey users list --help)`},
		{[]string{"users", "show"}, `users show needs EMAIL|USER_ID (see: latchkey users show --help)`},
		{[]string{"users", "delete", "a@example.com", "b@example.com"}, `users delete: unexpected argument "b@example.com" (see: latchkey users delete --help)`},
		{[]string{"users", "delete", "--yes=maybe", "a@example.com"}, `users delete: invalid boolean value "maybe" for -yes: parse error (see: latchkey users delete --help)`},
		{[]string{"sessions", "revoke"}, `sessions revoke needs --user EMAIL|USER_ID (see: latchkey sessions revoke --help)`},
		{[]string{"sessions", "revoke", "--user"}, `sessions revoke: flag needs an argument: -user (see: latchkey sessions revoke --help)`},
		{[]string{"keys", "rotate", "now"}, `keys rotate: unexpected argument "now" (see: latchkey keys rotate --help)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if out := cliFails(t, env, tc.wantErr, tc.args...); out != "" {
				t.Errorf("printed %q besides the error", out)
			}
		})
	}

	// A command that needs the configuration reports a bad one.
	if _, err := cliRun(t, env, nil, "users", "list"); err == nil || !strings.Contains(err.Error(), `LATCHKEY_TOKEN_TTL="not a duration" is not a duration`) {
		t.Errorf("users list with a bad configuration = %v", err)
	}
}

// seeded is what seedAccounts stored.
type seeded struct {
	ada, grace store.User
	token      string // grace's app session token: never printed
}

// seedAccounts stores two accounts through the store: Ada (no log-in yet) and Grace (a named passkey
// used once, one logged-in session, an activity entry).
func seedAccounts(t *testing.T, databaseURL string) seeded {
	t.Helper()
	st, err := store.Open(t.Context(), databaseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	s := seeded{
		ada:   store.User{ID: "usr-ada", Email: "ada@example.com", Name: "Ada Lovelace", CreatedAt: at},
		grace: store.User{ID: "usr-grace", Email: "grace@example.com", Name: "Grace \x1b[31mHopper", CreatedAt: at.Add(time.Hour)},
		token: "secret-session-token-of-grace",
	}
	for i, u := range []store.User{s.ada, s.grace} {
		p := store.Passkey{CredentialID: []byte{byte(i), 1, 2, 3}, UserID: u.ID, PublicKey: []byte{1}, AAGUID: make([]byte, 16),
			Transports: []string{"internal"}, AttestationType: "none", UserPresent: true, UserVerified: true,
			BackupEligible: true, BackupState: i == 1, CreatedAt: u.CreatedAt}
		ps := store.ProviderSession{ID: fmt.Sprintf("ps-%d", i), UserID: u.ID, CreatedAt: u.CreatedAt, ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.CreateUserWithPasskey(ctx, u, p, store.UsedChallenge{Hash: []byte{byte(i), 9}, ExpiresAt: u.CreatedAt}, ps); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RenamePasskey(ctx, s.grace.ID, []byte{1, 1, 2, 3}, "Work laptop"); err != nil {
		t.Fatal(err)
	}
	login := time.Date(2026, 4, 2, 8, 0, 0, 0, time.UTC)
	if err := st.RecordLogin(ctx, []byte{1, 1, 2, 3}, 1, true, false, login, store.UsedChallenge{Hash: []byte{7}, ExpiresAt: login},
		store.ProviderSession{ID: "ps-login", UserID: s.grace.ID, CreatedAt: login, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	expiry := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	if ok, err := st.SessionStore().CreateCtx(ctx, s.token, []byte("x"), expiry, store.NewSession{UserID: s.grace.ID,
		ProviderSessionID: "ps-login", PublicID: "pub-1", IP: "203.0.113.7",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36",
		CreatedAt: login}); err != nil || !ok {
		t.Fatalf("CreateCtx = %v, %v", ok, err)
	}
	activity.New(st, nil, func() time.Time { return login }).Record(ctx, s.grace.ID, activity.LogIn, "")
	return s
}

// TestCLIUsers: users list (table and JSON) and users show (by any spelling of the email, or by ID), with
// no session token printed and a name's escape sequence defused; unknown accounts in plain words.
func TestCLIUsers(t *testing.T) {
	for name, newURL := range cliBackends() {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"LATCHKEY_DATABASE_URL": newURL(t)}
			if out := cliOK(t, env, "users", "list"); out != "No accounts yet.\n" {
				t.Errorf("users list on an empty database = %q", out)
			}
			s := seedAccounts(t, env["LATCHKEY_DATABASE_URL"])

			wantList := "" +
				"EMAIL              NAME               USER ID    CREATED                  PASSKEYS  SESSIONS  LAST LOG-IN\n" +
				"ada@example.com    Ada Lovelace       usr-ada    2026-03-01 09:30:00 UTC  1         0         never\n" +
				"grace@example.com  Grace \uFFFD[31mHopper  usr-grace  2026-03-01 10:30:00 UTC  1         1         2026-04-02 08:00:00 UTC\n" +
				"2 accounts.\n"
			if out := cliOK(t, env, "users", "list"); out != wantList {
				t.Errorf("users list =\n%s\nwant\n%s", out, wantList)
			}
			var listed []map[string]any
			if err := json.Unmarshal([]byte(cliOK(t, env, "users", "list", "--json")), &listed); err != nil {
				t.Fatalf("users list --json: %v", err)
			}
			wantJSON := []map[string]any{
				{"email": "ada@example.com", "name": "Ada Lovelace", "user_id": "usr-ada", "created_at": "2026-03-01T09:30:00Z", "passkeys": 1.0, "sessions": 0.0, "last_login_at": nil},
				{"email": "grace@example.com", "name": s.grace.Name, "user_id": "usr-grace", "created_at": "2026-03-01T10:30:00Z", "passkeys": 1.0, "sessions": 1.0, "last_login_at": "2026-04-02T08:00:00Z"},
			}
			if got, want := fmt.Sprint(listed), fmt.Sprint(wantJSON); got != want {
				t.Errorf("users list --json =\n%s\nwant\n%s", got, want)
			}

			wantShow := "" +
				"User ID:  usr-grace\n" +
				"Email:    grace@example.com\n" +
				"Name:     Grace \uFFFD[31mHopper\n" +
				"Created:  2026-03-01 10:30:00 UTC\n" +
				"\n" +
				"Passkeys (1):\n" +
				"  NAME         AUTHENTICATOR  SYNCED  CREATED                  LAST USED                WARNING\n" +
				"  Work laptop  Passkey        yes     2026-03-01 10:30:00 UTC  2026-04-02 08:00:00 UTC  -\n" +
				"\n" +
				"Sessions (1 logged in):\n" +
				"  DEVICE               IP           CREATED                  LAST SEEN                EXPIRES\n" +
				"  Chrome 140 on Linux  203.0.113.7  2026-04-02 08:00:00 UTC  2026-04-02 08:00:00 UTC  2100-01-01 00:00:00 UTC\n" +
				"\n" +
				"Recent activity (latest 20):\n" +
				"  WHEN                     WHAT       DETAIL  IP  DEVICE\n" +
				"  2026-04-02 08:00:00 UTC  Logged in  -       -   Unknown browser on unknown system\n"
			for _, ref := range []string{"grace@example.com", " Grace@EXAMPLE.com ", "usr-grace"} {
				out := cliOK(t, env, "users", "show", ref)
				if out != wantShow {
					t.Errorf("users show %q =\n%s\nwant\n%s", ref, out, wantShow)
				}
				if strings.Contains(out, s.token) || strings.Contains(out, "\x1b") {
					t.Errorf("users show printed the session token or an escape character:\n%q", out)
				}
			}
			var shown map[string]any
			out := cliOK(t, env, "users", "show", "--json", "usr-grace")
			if err := json.Unmarshal([]byte(out), &shown); err != nil {
				t.Fatalf("users show --json: %v\n%s", err, out)
			}
			if strings.Contains(out, s.token) || shown["email"] != "grace@example.com" ||
				fmt.Sprint(shown["passkeys"]) != "[map[authenticator:Passkey clone_warning_at:<nil> created_at:2026-03-01T10:30:00Z last_used_at:2026-04-02T08:00:00Z name:Work laptop synced:true]]" ||
				fmt.Sprint(shown["sessions"]) != "[map[created_at:2026-04-02T08:00:00Z device:Chrome 140 on Linux expires_at:2100-01-01T00:00:00Z ip:203.0.113.7 last_seen_at:2026-04-02T08:00:00Z]]" {
				t.Errorf("users show --json =\n%s", out)
			}

			cliFails(t, env, `no account has the email address "nobody@example.com"`, "users", "show", "nobody@example.com")
			cliFails(t, env, `no account has the email address "not@valid@example.com"`, "users", "show", "not@valid@example.com")
			cliFails(t, env, `no account has the user ID "usr-nobody"`, "users", "show", "usr-nobody")
			cliFails(t, env, `"grace" is neither an email address nor a user ID (usr-…)`, "users", "show", "grace")
		})
	}
}

// TestCLIUsersDelete: without --yes and without a terminal nothing is deleted; with --yes the account,
// its passkeys and its sessions are gone; unknown accounts are refused in words.
func TestCLIUsersDelete(t *testing.T) {
	for name, newURL := range cliBackends() {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"LATCHKEY_DATABASE_URL": newURL(t)}
			s := seedAccounts(t, env["LATCHKEY_DATABASE_URL"])

			for _, stdin := range []io.Reader{strings.NewReader("grace@example.com\n"), nil} { // a pipe answering, and none
				out, err := cliRun(t, env, stdin, "users", "delete", "grace@example.com")
				want := "users delete: not deleting grace@example.com without confirmation: standard input is not a terminal (add --yes to delete without asking)"
				if err == nil || err.Error() != want || out != "" {
					t.Fatalf("users delete without --yes or a terminal = %v, %q; want the error %q", err, out, want)
				}
			}
			if out := cliOK(t, env, "users", "list"); !strings.Contains(out, "grace@example.com") || !strings.Contains(out, "2 accounts.") {
				t.Fatalf("a refused delete deleted something:\n%s", out)
			}
			cliFails(t, env, `no account has the email address "nobody@example.com"`, "users", "delete", "--yes", "nobody@example.com")

			out := cliOK(t, env, "users", "delete", "grace@example.com", "--yes")
			if want := "Deleted the account grace@example.com (usr-grace): its passkeys are gone and every session of it has ended.\n"; out != want {
				t.Errorf("users delete --yes = %q, want %q", out, want)
			}
			st, err := store.Open(t.Context(), env["LATCHKEY_DATABASE_URL"], nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = st.Close() }()
			if _, err := st.UserByID(t.Context(), s.grace.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the deleted account is still there: %v", err)
			}
			if _, found, err := st.SessionStore().FindCtx(t.Context(), s.token); err != nil || found {
				t.Errorf("the deleted account's session is still there: %v, %v", found, err)
			}
			if keys, err := st.PasskeysByUser(t.Context(), s.grace.ID); err != nil || len(keys) != 0 {
				t.Errorf("the deleted account's passkeys: %d, %v", len(keys), err)
			}
			if _, err := st.UserByID(t.Context(), s.ada.ID); err != nil {
				t.Errorf("another account went too: %v", err)
			}
			cliFails(t, env, `no account has the user ID "usr-grace"`, "users", "delete", "--yes", "usr-grace")
		})
	}
}

// instance is one Latchkey server of a test, built by app.New.
type instance struct {
	base string // where it listens: http://localhost:PORT
	app  *app.App
}

// startInstance starts app.New on a fresh localhost port with env (LATCHKEY_PUBLIC_URL defaults to that
// address) and stops it when the test ends. The background jobs do not run.
func startInstance(t *testing.T, env map[string]string) instance {
	t.Helper()
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	e := map[string]string{"LATCHKEY_PUBLIC_URL": base, "LATCHKEY_RATE_LIMIT": "off"}
	for k, v := range env {
		e[k] = v
	}
	cfg, err := config.Load(func(k string) string { return e[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = a.Close()
	})
	return instance{base: base, app: a}
}

// cliBrowser is a client with its own cookie jar, like one browser: cookies for localhost go to every port.
type cliBrowser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *cliBrowser {
	jar, _ := cookiejar.New(nil)
	return &cliBrowser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// call sends a request and returns the status, body and Location.
func (b *cliBrowser) call(method, url, body string) (int, string, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, string(out), resp.Header.Get("Location")
}

// must is call for a request answered with status want.
func (b *cliBrowser) must(method, url, body string, want int) string {
	b.t.Helper()
	status, out, _ := b.call(method, url, body)
	if status != want {
		b.t.Fatalf("%s %s: status %d, want %d: %s", method, url, status, want, out)
	}
	return out
}

// sessionToken is the session JWT cookie the provider set.
func (b *cliBrowser) sessionToken(base string) string {
	u, _ := url.Parse(base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "cbo_session_token" {
			return c.Value
		}
	}
	b.t.Fatal("no cbo_session_token cookie")
	return ""
}

// apiSignUp creates an account on base the way the page does, with a software passkey.
func apiSignUp(t *testing.T, base, email string) *softauthn.Authenticator {
	t.Helper()
	b := newBrowser(t)
	opts := b.must("POST", base+"/passkeys/signup/begin", fmt.Sprintf(`{"email":%q,"name":"Ada Lovelace"}`, email), http.StatusOK)
	auth := softauthn.New(base)
	resp, err := auth.CreateJSON([]byte(opts), softauthn.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	b.must("POST", base+"/passkeys/signup/finish", string(resp), http.StatusOK)
	return auth
}

// passkeyLogin runs a passkey log-in ceremony on base; the browser then holds the session JWT cookie.
func passkeyLogin(t *testing.T, b *cliBrowser, base string, auth *softauthn.Authenticator) {
	t.Helper()
	opts := b.must("POST", base+"/passkeys/login/begin", `{}`, http.StatusOK)
	resp, err := auth.GetJSON([]byte(opts), softauthn.Tweaks{Credential: auth.Credentials()[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	b.must("POST", base+"/passkeys/login/finish", string(resp), http.StatusOK)
}

// exchange posts the session JWT to base's /auth/session and returns the status.
func exchange(t *testing.T, b *cliBrowser, base string) (int, string) {
	t.Helper()
	status, body, _ := b.call("POST", base+"/auth/session", "")
	return status, body
}

// TestCLISessionsRevoke: a person logged in through the handlers (and a second log-in not exchanged yet)
// is logged out everywhere by `sessions revoke --user`: the session's next request lands on the login
// page, the pending token is refused, every provider session is revoked, the activity log says so.
//
// With SQLite the server's session cache is told nothing by the command, so the command returns only
// once that cache has asked the database again; with Redis the command deletes the sessions there too.
func TestCLISessionsRevoke(t *testing.T) {
	backends := map[string]func(t *testing.T) map[string]string{}
	for name, newURL := range cliBackends() {
		backends[name] = func(t *testing.T) map[string]string { return map[string]string{"LATCHKEY_DATABASE_URL": newURL(t)} }
	}
	backends["postgres+redis"] = func(t *testing.T) map[string]string {
		url, prefix := testredis.URL(t)
		return map[string]string{"LATCHKEY_DATABASE_URL": testdb.PostgresURL(t), "LATCHKEY_REDIS_URL": url, "LATCHKEY_REDIS_PREFIX": prefix}
	}
	for name, newEnv := range backends {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t)
			srv := startInstance(t, env)
			auth := apiSignUp(t, srv.base, "ada@example.com")
			other := apiSignUp(t, srv.base, "grace@example.com")

			loggedIn := newBrowser(t)
			passkeyLogin(t, loggedIn, srv.base, auth)
			if status, body := exchange(t, loggedIn, srv.base); status != http.StatusSeeOther {
				t.Fatalf("exchange: %d %s", status, body)
			}
			if home := loggedIn.must("GET", srv.base+"/home", "", http.StatusOK); !strings.Contains(home, "ada@example.com") {
				t.Fatal("home does not show the account")
			}
			pending := newBrowser(t) // logged in with the passkey, token not exchanged yet
			passkeyLogin(t, pending, srv.base, auth)
			bystander := newBrowser(t)
			passkeyLogin(t, bystander, srv.base, other)
			if status, body := exchange(t, bystander, srv.base); status != http.StatusSeeOther {
				t.Fatalf("exchange: %d %s", status, body)
			}

			out := cliOK(t, env, "sessions", "revoke", "--user", "ADA@example.com")
			u, err := srv.app.Store().UserByEmail(t.Context(), "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("Logged ada@example.com (%s) out everywhere: 1 session ended, and every provider session of it revoked.\n", u.ID); out != want {
				t.Errorf("sessions revoke = %q, want %q", out, want)
			}
			if status, _, loc := loggedIn.call("GET", srv.base+"/home", ""); status != http.StatusSeeOther || loc != "/" {
				t.Errorf("GET /home after the revocation: %d to %q, want 303 to /", status, loc)
			}
			if status, body := exchange(t, pending, srv.base); status != http.StatusUnauthorized || !strings.Contains(body, "We could not confirm your login. Please log in again.") {
				t.Errorf("exchanging a token issued before the revocation: %d, want 401 with the words", status)
			}
			var active int
			q := `SELECT COUNT(*) FROM provider_sessions WHERE user_id = $1 AND revoked_at IS NULL`
			if srv.app.Store().Dialect() == store.DialectSQLite {
				q = strings.Replace(q, "$1", "?", 1)
			}
			if err := srv.app.Store().DB().QueryRowContext(t.Context(), q, u.ID).Scan(&active); err != nil || active != 0 {
				t.Errorf("%d provider sessions of the account still active (%v)", active, err)
			}
			entries, err := srv.app.Store().RecentActivity(t.Context(), u.ID, 1)
			if err != nil || len(entries) != 1 || entries[0].Kind != activity.LoggedOutByOperator || entries[0].Detail != "1 session ended" {
				t.Errorf("latest activity = %+v, %v; want %q, 1 session ended", entries, err, activity.LoggedOutByOperator)
			}
			if bystander.must("GET", srv.base+"/home", "", http.StatusOK) == "" {
				t.Error("another account's session ended")
			}

			// Logging in again works: the passkey stays.
			again := newBrowser(t)
			passkeyLogin(t, again, srv.base, auth)
			if status, body := exchange(t, again, srv.base); status != http.StatusSeeOther {
				t.Errorf("log-in after the revocation: %d %s", status, body)
			}
			cliFails(t, env, `no account has the email address "nobody@example.com"`, "sessions", "revoke", "--user", "nobody@example.com")
		})
	}
}
