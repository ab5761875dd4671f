package app

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
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
