package main

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, for the integrity check

	"github.com/latchkey/latchkey/internal/softauthn"
	"github.com/latchkey/latchkey/internal/testlog"
)

// TestCrashSafety starts the real binary, runs sign-ups and log-ins against it from several clients,
// kills it with SIGKILL in the middle of that load, starts it again on the same database and checks
// that every account whose sign-up had been answered 200 is still there and logs in with its passkey.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped with -short: it builds the binary and kills it mid-load (about 5 s)")
	}
	bin := filepath.Join(t.TempDir(), "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "latchkey.db")
		users := crashAndRecover(t, bin, "sqlite:"+path)
		crashCheckSQLite(t, path, users)
	})
	t.Run("postgres", func(t *testing.T) {
		crashAndRecover(t, bin, postgresSchema(t))
	})
}

// crashAccount is a sign-up that was answered 200: its email and the passkey that made it.
type crashAccount struct {
	email  string
	auth   *softauthn.Authenticator
	credID []byte
}

// crashServer is one run of the binary.
type crashServer struct {
	cmd  *exec.Cmd
	out  *testlog.Buffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// crashStart runs the binary on port with databaseURL and waits until /healthz answers 200.
func crashStart(t *testing.T, bin, port, databaseURL string) *crashServer {
	t.Helper()
	base := "http://localhost:" + port
	cmd := exec.Command(bin, "-env-file", "")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{ // only these: nothing from the environment running the tests
		"LATCHKEY_ADDR=localhost:" + port,
		"LATCHKEY_PUBLIC_URL=" + base,
		"LATCHKEY_DATABASE_URL=" + databaseURL,
		"LATCHKEY_RATE_LIMIT=off",
		"LATCHKEY_LOG_LEVEL=warn",
	}
	s := &crashServer{cmd: cmd, out: &testlog.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server output (pid %d):\n%s", cmd.Process.Pid, s.out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("the server exited before it was ready (%v):\n%s", s.err, s.out.String())
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not become healthy within 15 s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL (if the process still runs) and waits for it to exit.
func (s *crashServer) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// crashAndRecover runs the load, kills the server mid-load, restarts it and checks every account. It
// returns the accounts whose sign-up had succeeded.
func crashAndRecover(t *testing.T, bin, databaseURL string) []crashAccount {
	port := freePort(t)
	base := "http://localhost:" + port
	first := crashStart(t, bin, port, databaseURL)

	const workers = 6
	var (
		mu       sync.Mutex
		accounts []crashAccount
		logins   int
		failures []string // answers other than 200 from a live server
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []crashAccount
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%3 == 2 && len(mine) > 0 { // every third round logs in with one of this worker's accounts
					err := crashLogin(base, mine[i%len(mine)])
					mu.Lock()
					if err == nil {
						logins++
					} else if s := crashFailure(err); s != "" {
						failures = append(failures, "log-in: "+s)
					}
					mu.Unlock()
					continue
				}
				email := fmt.Sprintf("crash-%d-%d@example.com", w, i)
				a, err := crashSignup(base, email)
				mu.Lock()
				if err == nil {
					accounts = append(accounts, a)
					mine = append(mine, a)
				} else if s := crashFailure(err); s != "" {
					failures = append(failures, "sign-up "+email+": "+s)
				}
				mu.Unlock()
			}
		}()
	}

	// Let the load run, then kill the server while requests are in flight.
	start := time.Now()
	for {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		n := len(accounts)
		mu.Unlock()
		if (n >= 30 && time.Since(start) > 700*time.Millisecond) || time.Since(start) > 4*time.Second {
			break
		}
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-first.done
	close(stop)
	wg.Wait()
	if ws, ok := first.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the server was not killed by SIGKILL: %v", first.cmd.ProcessState)
	}
	for _, f := range failures {
		t.Errorf("answer from the live server: %s", f)
	}
	if len(accounts) < 10 {
		t.Fatalf("only %d sign-ups succeeded before the kill: the load did not run", len(accounts))
	}
	t.Logf("killed after %v: %d sign-ups and %d log-ins had succeeded", time.Since(start).Round(time.Millisecond), len(accounts), logins)

	// Restart on the same database: every account answered 200 is there and logs in.
	second := crashStart(t, bin, port, databaseURL)
	sem := make(chan struct{}, 8)
	var lost []string
	for _, a := range accounts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := crashLogin(base, a); err != nil {
				mu.Lock()
				lost = append(lost, fmt.Sprintf("%s: %v", a.email, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, l := range lost {
		t.Errorf("after the restart, account %s", l)
	}

	// A clean stop after recovery: SIGTERM shuts down gracefully with status 0.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.done:
		if second.err != nil {
			t.Errorf("graceful stop after recovery: %v", second.err)
		}
	case <-time.After(12 * time.Second):
		t.Error("the restarted server did not stop within 12 s of SIGTERM")
	}
	return accounts
}

// crashCheckSQLite opens the database file after both runs: it passes SQLite's integrity check and holds
// every account.
func crashCheckSQLite(t *testing.T, path string, accounts []crashAccount) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
		t.Errorf("integrity_check = %q, %v", result, err)
	}
	var users, passkeys int
	if err := db.QueryRow("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM passkeys)").Scan(&users, &passkeys); err != nil {
		t.Fatal(err)
	}
	if users < len(accounts) || passkeys < len(accounts) {
		t.Errorf("%d users and %d passkeys in the database, want at least %d of each", users, passkeys, len(accounts))
	}
}

// errDown marks a request the server never answered (it was killed or not listening).
var errDown = errors.New("no answer")

// crashFailure describes an error that came from a live server, or returns "" for errDown.
func crashFailure(err error) string {
	if errors.Is(err, errDown) {
		return ""
	}
	return err.Error()
}

// crashClient is a client with its own cookie jar that does not follow redirects.
func crashClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// crashCall sends one request and returns the body of a response with status want.
func crashCall(c *http.Client, method, url, body string, want int) ([]byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", errDown, method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: read: %v", errDown, method, url, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, bytes.TrimSpace(b))
	}
	return b, nil
}

// crashSignup creates an account the way the browser does, with a new software passkey.
func crashSignup(base, email string) (crashAccount, error) {
	c := crashClient()
	opts, err := crashCall(c, "POST", base+"/passkeys/signup/begin", fmt.Sprintf(`{"email":%q,"name":"Crash Test"}`, email), http.StatusOK)
	if err != nil {
		return crashAccount{}, err
	}
	auth := softauthn.New(base)
	resp, err := auth.CreateJSON(opts, softauthn.Tweaks{})
	if err != nil {
		return crashAccount{}, fmt.Errorf("softauthn create: %w", err)
	}
	if _, err := crashCall(c, "POST", base+"/passkeys/signup/finish", string(resp), http.StatusOK); err != nil {
		return crashAccount{}, err
	}
	return crashAccount{email: email, auth: auth, credID: auth.Credentials()[0].ID}, nil
}

// crashLogin logs in with the account's passkey, exchanges the session token for a session and checks
// that the home page shows the account's email.
func crashLogin(base string, a crashAccount) error {
	c := crashClient()
	opts, err := crashCall(c, "POST", base+"/passkeys/login/begin", `{}`, http.StatusOK)
	if err != nil {
		return err
	}
	resp, err := a.auth.GetJSON(opts, softauthn.Tweaks{Credential: a.credID})
	if err != nil {
		return fmt.Errorf("softauthn get: %w", err)
	}
	if _, err := crashCall(c, "POST", base+"/passkeys/login/finish", string(resp), http.StatusOK); err != nil {
		return err
	}
	if _, err := crashCall(c, "POST", base+"/auth/session", "", http.StatusSeeOther); err != nil {
		return err
	}
	home, err := crashCall(c, "GET", base+"/home", "", http.StatusOK)
	if err != nil {
		return err
	}
	if !bytes.Contains(home, []byte(a.email)) {
		return fmt.Errorf("the home page does not show %s", a.email)
	}
	return nil
}
