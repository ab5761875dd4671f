package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/passkeyclient"
	"github.com/latchkey/latchkey/internal/redisstore"
	"github.com/latchkey/latchkey/internal/testdb"
	"github.com/latchkey/latchkey/internal/testredis"
)

func loadConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Start-up with Redis: a refused password fails at once without showing it; an unreachable Redis is
// waited for up to LATCHKEY_STARTUP_WAIT, then named (without its password) in one clear error; a
// reachable one makes /readyz ask it.
func TestStartupWithRedis(t *testing.T) {
	url, prefix := testredis.URL(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)

	// A user of the test's own with a password (the default user takes any password).
	r, err := redisstore.Open(ctx, url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	user := strings.ReplaceAll(strings.TrimSuffix(prefix, ":"), ":", "-")
	c := r.Client()
	if err := c.Do(ctx, c.B().AclSetuser().Username(user).Rule("on", ">right-password", "~*", "&*", "+@all").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Do(context.Background(), c.B().AclDeluser().Username(user).Build()).Error() })
	wrong := strings.Replace(url, "redis://", "redis://"+user+":s3cret-wrong-pass@", 1)
	cfg := loadConfig(t, map[string]string{"LATCHKEY_DATABASE_URL": testdb.SQLiteURL(t), "LATCHKEY_REDIS_URL": wrong,
		"LATCHKEY_REDIS_PREFIX": prefix, "LATCHKEY_STARTUP_WAIT": "20s"})
	start := time.Now()
	_, err = New(ctx, cfg, log)
	if err == nil {
		t.Fatal("started with a refused Redis password")
	}
	if strings.Contains(err.Error(), "s3cret-wrong-pass") {
		t.Errorf("the error shows the password: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a refused password was waited for (%v): it cannot get better", took)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "redis://:pw-closed@" + ln.Addr().String() + "/0"
	ln.Close()
	cfg = loadConfig(t, map[string]string{"LATCHKEY_DATABASE_URL": testdb.SQLiteURL(t), "LATCHKEY_REDIS_URL": closed,
		"LATCHKEY_REDIS_PREFIX": prefix, "LATCHKEY_STARTUP_WAIT": "1s"})
	_, err = New(ctx, cfg, log)
	if err == nil || !strings.Contains(err.Error(), "Redis at redis://:xxxxx@"+ln.Addr().String()) || strings.Contains(err.Error(), "pw-closed") {
		t.Fatalf("unreachable Redis: %v; want an error naming it without its password", err)
	}

	cfg = loadConfig(t, map[string]string{"LATCHKEY_DATABASE_URL": testdb.SQLiteURL(t), "LATCHKEY_REDIS_URL": url, "LATCHKEY_REDIS_PREFIX": prefix})
	a, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	names := []string{}
	for _, c := range a.readyChecks() {
		if err := c.Check(ctx); err != nil {
			t.Errorf("ready check %s: %v", c.Name, err)
		}
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "database,redis" {
		t.Errorf("ready checks %v, want database and redis", names)
	}
}

// Redis over TLS (rediss://): a server certificate from a private CA is trusted through
// LATCHKEY_REDIS_CA_FILE, and sessions then live in that Redis; a certificate Latchkey does not trust
// (the system's CAs, or another CA) stops start-up at once — waiting cannot change the certificate —
// with words that say what to do.
func TestStartupWithRedisOverTLS(t *testing.T) {
	srv := testredis.TLS(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)

	for name, caFile := range map[string]string{"the system's CAs": "", "another CA": srv.OtherCAFile} {
		cfg := loadConfig(t, map[string]string{"LATCHKEY_DATABASE_URL": testdb.SQLiteURL(t), "LATCHKEY_REDIS_URL": srv.URL,
			"LATCHKEY_REDIS_CA_FILE": caFile, "LATCHKEY_STARTUP_WAIT": "20s"})
		start := time.Now()
		a, err := New(ctx, cfg, log)
		if err == nil {
			a.Close()
			t.Fatalf("%s: started although Redis's certificate is not trusted", name)
		}
		if !strings.Contains(err.Error(), "presented a TLS certificate Latchkey does not trust") || !strings.Contains(err.Error(), "LATCHKEY_REDIS_CA_FILE") {
			t.Errorf("%s: error %q, want it to say the certificate is not trusted and how to trust it", name, err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: an untrusted certificate was waited for (%v): it cannot get better", name, took)
		}
	}

	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + portOf(ln.Addr())
	cfg := loadConfig(t, map[string]string{"LATCHKEY_DATABASE_URL": testdb.SQLiteURL(t), "LATCHKEY_REDIS_URL": srv.URL,
		"LATCHKEY_REDIS_CA_FILE": srv.CAFile, "LATCHKEY_PUBLIC_URL": base, "LATCHKEY_RATE_LIMIT": "off"})
	a, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, c := range a.readyChecks() {
		if err := c.Check(ctx); err != nil {
			t.Errorf("ready check %s: %v", c.Name, err)
		}
	}
	hs := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	pc := passkeyclient.New(base, passkeyclient.Options{})
	cookie, err := pc.SignUpAndLogIn(ctx, "tls@example.com")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/home", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /home with the session over TLS Redis: %d, want 200", resp.StatusCode)
	}
	c := a.redis.Client()
	if n, err := c.Do(ctx, c.B().Dbsize().Build()).AsInt64(); err != nil || n == 0 {
		t.Errorf("the TLS Redis holds %d keys (%v): want the session there", n, err)
	}
}

// portOf is the port of a listener's address.
func portOf(addr net.Addr) string { return strconv.Itoa(addr.(*net.TCPAddr).Port) }
