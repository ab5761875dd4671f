package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/softauthn"
	"github.com/latchkey/latchkey/internal/testdb"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/internal/testredis"
)

// TestMultiInstance runs two Latchkey processes on one PostgreSQL schema and one Redis prefix, behind a
// round-robin proxy, and drives a passkey client through it: every step that matters is checked to have
// been served by the instance named.
func TestMultiInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-instance test skipped with -short: it builds the binary and runs two servers")
	}
	databaseURL := testdb.PostgresURL(t) // skips (or fails under CI) without PostgreSQL
	redisURL, prefix := testredis.URL(t) // skips (or fails under CI) without Redis
	bin := filepath.Join(t.TempDir(), "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://localhost:" + portOf(proxyLn.Addr().String())
	env := []string{
		"LATCHKEY_PUBLIC_URL=" + public,
		"LATCHKEY_DATABASE_URL=" + databaseURL,
		"LATCHKEY_REDIS_URL=" + redisURL,
		"LATCHKEY_REDIS_PREFIX=" + prefix,
		"LATCHKEY_RATE_LIMIT=off",
		"LATCHKEY_LOG_LEVEL=warn",
		"LATCHKEY_SECRET_KEY=bXVsdGktaW5zdGFuY2UtdGVzdC1zZWNyZXQta2V5LTAxMjM0NTY3",
	}
	a := startProc(t, bin, "A", env)
	b := startProc(t, bin, "B", env)

	p := &roundRobin{backends: []*proc{a, b}, public: public}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(proxyLn) }()
	t.Cleanup(func() { _ = srv.Close() })

	c := newMultiClient(public)
	email := "multi@example.com"

	// Sign up on A (the proxy alternates, so a cheap request to B sits between the two steps).
	p.expectNext(t, "A")
	opts := c.post(t, "/passkeys/signup/begin", fmt.Sprintf(`{"email":%q,"name":"Multi Instance"}`, email), 200)
	c.get(t, "/healthz", 200) // B
	cred, err := c.auth.CreateJSON(opts, softauthn.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	c.post(t, "/passkeys/signup/finish", string(cred), 200)
	p.assertServed(t, "POST /passkeys/signup/begin", "A")
	p.assertServed(t, "POST /passkeys/signup/finish", "A")

	// Begin a log-in on A and finish it on B.
	logIn := func(t *testing.T, c *multiClient, beginOn, finishOn string) {
		t.Helper()
		p.expectNext(t, beginOn)
		opts := c.post(t, "/passkeys/login/begin", `{}`, 200)
		if beginOn == finishOn {
			c.get(t, "/healthz", 200)
		}
		assertion, err := c.auth.GetJSON(opts, softauthn.Tweaks{})
		if err != nil {
			t.Fatal(err)
		}
		c.post(t, "/passkeys/login/finish", string(assertion), 200)
		p.assertServed(t, "POST /passkeys/login/begin", beginOn)
		p.assertServed(t, "POST /passkeys/login/finish", finishOn)
	}
	// exchange swaps the session JWT for a session on instance on, then opens /home on the other one.
	exchange := func(t *testing.T, c *multiClient, on string) {
		t.Helper()
		p.expectNext(t, on)
		c.post(t, "/auth/session", "", http.StatusSeeOther) // to /home
		p.assertServed(t, "POST /auth/session", on)
		body := c.get(t, "/home", 200)
		p.assertServed(t, "GET /home", other(on))
		if !strings.Contains(body, email) || !strings.Contains(body, "Multi Instance") {
			t.Fatalf("home on %s does not show the user", other(on))
		}
	}
	logIn(t, c, "A", "B")
	exchange(t, c, "B") // exchange on B, /home on A

	// A second device logs in too; the first device revokes it on B, and A refuses it on its very next
	// request — although A has served (and cached) that session just before.
	c2 := newMultiClient(public)
	c2.auth = c.auth // the same synced passkey
	logIn(t, c2, "A", "B")
	exchange(t, c2, "A")
	for range 4 { // both instances have read the session, each twice
		c2.get(t, "/home", 200)
	}
	revokeIDs := regexp.MustCompile(`action="/account/sessions/revoke"[^>]*>\s*<input type="hidden" name="id" value="([0-9a-f]+)"`)
	ids := revokeIDs.FindAllStringSubmatch(c.get(t, "/home", 200), -1)
	if len(ids) != 1 {
		t.Fatalf("the first device's home lists %d other sessions to revoke, want 1", len(ids))
	}
	p.expectNext(t, "B")
	c.postForm(t, "/account/sessions/revoke", url.Values{"id": {ids[0][1]}}, http.StatusSeeOther)
	p.assertServed(t, "POST /account/sessions/revoke", "B")
	resp := c2.do(t, "GET", "/home", "", "", 0)
	if resp.status != http.StatusSeeOther {
		t.Fatalf("the revoked session's next request on A: status %d, want 303 to the login page", resp.status)
	}
	p.assertServed(t, "GET /home", "A")
	for i := range 4 { // and it stays refused on both
		if resp := c2.do(t, "GET", "/home", "", "", 0); resp.status != http.StatusSeeOther {
			t.Fatalf("revoked session, request %d: status %d", i+2, resp.status)
		}
	}
	c.get(t, "/home", 200) // the revoking device is still logged in

	// Rotate the signing key with A's configuration, then a log-in finished on A gets a token signed
	// with the new key, which B verifies at once.
	logIn(t, c, "B", "A")
	oldKid := c.tokenKid(t)
	runCLI(t, bin, env, "keys", "rotate")
	start := time.Now()
	newKid := oldKid
	for newKid == oldKid && time.Since(start) < 5*time.Second {
		time.Sleep(20 * time.Millisecond) // A hears about the rotation through Redis
		logIn(t, c, "B", "A")
		newKid = c.tokenKid(t)
	}
	if newKid == oldKid {
		t.Fatalf("5 s after keys rotate, A still signs with the old key %s", oldKid)
	}
	t.Logf("A signed with the new key %s %v after the rotation", newKid, time.Since(start).Round(time.Millisecond))
	exchange(t, c, "B") // B verifies the new key's token, A serves the session
	jwks := c.get(t, "/.well-known/jwks", 200)
	if !strings.Contains(jwks, `"`+oldKid+`"`) || !strings.Contains(jwks, `"`+newKid+`"`) {
		t.Errorf("the JWKS must list the old key (its tokens are still valid) and the new one: %s", jwks)
	}
}

func other(name string) string {
	if name == "A" {
		return "B"
	}
	return "A"
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// instance is one Latchkey process.
type proc struct {
	name  string
	base  string
	proxy *httputil.ReverseProxy
	out   *testlog.Buffer
}

func startProc(t *testing.T, bin, name string, env []string) *proc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(bin, "-env-file", "")
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"LATCHKEY_ADDR=localhost:" + port}, env...)
	out := &testlog.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("instance %s output:\n%s", name, out.String())
		}
	})
	base := "http://localhost:" + port
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("instance %s exited before it was ready:\n%s", name, out.String())
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not healthy within 20 s: %v\n%s", name, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	u, _ := url.Parse(base)
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		director(r)
		r.Host = host // the public host, as a load balancer passes it
	}
	return &proc{name: name, base: base, proxy: rp, out: out}
}

// runCLI runs the binary's command line with env and returns what it printed.
func runCLI(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-env-file", ""}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("latchkey %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// roundRobin sends each request to the next backend in turn and remembers who served what.
type roundRobin struct {
	backends []*proc
	public   string // the proxy's own URL
	mu       sync.Mutex
	next     int
	served   []string // "METHOD /path -> A"
}

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	b := p.backends[p.next%len(p.backends)]
	p.next++
	p.served = append(p.served, r.Method+" "+r.URL.Path+" -> "+b.name)
	p.mu.Unlock()
	b.proxy.ServeHTTP(w, r)
}

// expectNext makes the next request go to backend name, spending a /healthz on the other if needed.
func (p *roundRobin) expectNext(t *testing.T, name string) {
	t.Helper()
	p.mu.Lock()
	nextName := p.backends[p.next%len(p.backends)].name
	p.mu.Unlock()
	if nextName != name {
		resp, err := http.Get(p.public + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

// assertServed checks that the latest request for route was served by backend name.
func (p *roundRobin) assertServed(t *testing.T, route, name string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.served) - 1; i >= 0; i-- {
		if r, by, _ := strings.Cut(p.served[i], " -> "); r == route {
			if by != name {
				t.Fatalf("%s was served by %s, want %s (requests: %v)", route, by, name, p.served)
			}
			return
		}
	}
	t.Fatalf("%s never went through the proxy (requests: %v)", route, p.served)
}

// multiClient is a passkey client with a cookie jar, talking to the proxy.
type multiClient struct {
	base string
	jar  *cookiejar.Jar
	http *http.Client
	auth *softauthn.Authenticator
}

func newMultiClient(base string) *multiClient {
	jar, _ := cookiejar.New(nil)
	return &multiClient{base: base, jar: jar, auth: softauthn.New(base), http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type multiResponse struct {
	status int
	body   []byte
}

func (c *multiClient) do(t *testing.T, method, path, contentType, body string, want int) multiResponse {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want != 0 && resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return multiResponse{status: resp.StatusCode, body: b}
}

func (c *multiClient) get(t *testing.T, path string, want int) string {
	t.Helper()
	return string(c.do(t, "GET", path, "", "", want).body)
}

func (c *multiClient) post(t *testing.T, path, jsonBody string, want int) []byte {
	t.Helper()
	ct := ""
	if jsonBody != "" {
		ct = "application/json"
	}
	return c.do(t, "POST", path, ct, jsonBody, want).body
}

func (c *multiClient) postForm(t *testing.T, path string, form url.Values, want int) {
	t.Helper()
	c.do(t, "POST", path, "application/x-www-form-urlencoded", form.Encode(), want)
}

// tokenKid is the key ID in the header of the session JWT cookie the client holds.
func (c *multiClient) tokenKid(t *testing.T) string {
	t.Helper()
	u, _ := url.Parse(c.base)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name != "cbo_session_token" {
			continue
		}
		header, _, _ := strings.Cut(ck.Value, ".")
		raw, err := base64.RawURLEncoding.DecodeString(header)
		if err != nil {
			t.Fatalf("session token header: %v", err)
		}
		var h struct {
			Kid string `json:"kid"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			t.Fatalf("session token header: %v", err)
		}
		return h.Kid
	}
	t.Fatal("the client holds no session token cookie")
	return ""
}
