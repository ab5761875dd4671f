package config

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsGiveAWorkingLocalhostSetup(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "localhost:8080" || c.Origin() != "http://localhost:8080" || c.RPID() != "localhost" ||
		c.DatabaseURL != "sqlite:latchkey.db" || c.Secure() || c.CorbadoMode() || c.LogLevel != slog.LevelInfo ||
		c.CeremonyTimeout != 5*time.Minute || c.TokenTTL != 5*time.Minute {
		t.Errorf("defaults = %+v", c)
	}
}

func TestValidValues(t *testing.T) {
	c, err := Load(env(map[string]string{
		"LATCHKEY_ADDR":             ":9000",
		"LATCHKEY_PUBLIC_URL":       "https://Login.Example.com/",
		"LATCHKEY_DATABASE_URL":     "postgres://u:p@db:5432/latchkey",
		"LATCHKEY_REDIS_URL":        "redis://cache:6379/0",
		"LATCHKEY_LOG_LEVEL":        "DEBUG",
		"LATCHKEY_CEREMONY_TIMEOUT": "90s",
		"LATCHKEY_TOKEN_TTL":        "2m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Origin() != "https://login.example.com" || c.RPID() != "login.example.com" || !c.Secure() ||
		c.LogLevel != slog.LevelDebug || c.CeremonyTimeout != 90*time.Second || c.TokenTTL != 2*time.Minute {
		t.Errorf("config = %+v origin %s", c, c.Origin())
	}
}

func TestEveryProblemIsListedAtOnce(t *testing.T) {
	_, err := Load(env(map[string]string{
		"LATCHKEY_ADDR":             "nonsense",
		"LATCHKEY_PUBLIC_URL":       "ftp://example.com",
		"LATCHKEY_DATABASE_URL":     "mysql://root:hunter2@db/x",
		"LATCHKEY_LOG_LEVEL":        "loud",
		"LATCHKEY_CEREMONY_TIMEOUT": "forever",
		"LATCHKEY_TOKEN_TTL":        "1s",
	}))
	cerr, ok := err.(*Error)
	if !ok {
		t.Fatalf("err = %v, want *Error", err)
	}
	for _, want := range []string{"LATCHKEY_ADDR", "LATCHKEY_PUBLIC_URL", "LATCHKEY_DATABASE_URL", "LATCHKEY_LOG_LEVEL",
		"LATCHKEY_CEREMONY_TIMEOUT", "LATCHKEY_TOKEN_TTL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if len(cerr.Problems) != 6 {
		t.Errorf("%d problems, want 6: %q", len(cerr.Problems), cerr.Problems)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("the database password appears in the error")
	}
}

func TestInvalidSingleValues(t *testing.T) {
	for _, tc := range []struct {
		name, key, value, want string
	}{
		{"public URL with a path", "LATCHKEY_PUBLIC_URL", "http://localhost:8080/app", "origin only"},
		{"public URL with a query", "LATCHKEY_PUBLIC_URL", "http://localhost:8080?x=1", "origin only"},
		{"public URL with credentials", "LATCHKEY_PUBLIC_URL", "https://u:p@example.com", "user name or password"},
		{"public URL on an IP", "LATCHKEY_PUBLIC_URL", "http://127.0.0.1:8080", "not an IP address"},
		{"plain http off localhost", "LATCHKEY_PUBLIC_URL", "http://example.com", "must use https"},
		{"port out of range", "LATCHKEY_ADDR", "localhost:70000", "invalid port"},
		{"empty sqlite path", "LATCHKEY_DATABASE_URL", "sqlite:", "file path"},
		{"redis with the wrong scheme", "LATCHKEY_REDIS_URL", "http://cache:6379", "redis://"},
		{"ceremony timeout too long", "LATCHKEY_CEREMONY_TIMEOUT", "1h", "between"},
		{"idle timeout not a duration", "LATCHKEY_SESSION_IDLE_TIMEOUT", "2 hours", "not a duration"},
		{"name too long", "LATCHKEY_RP_NAME", strings.Repeat("x", 65), "64 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(map[string]string{tc.key: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to name %s and say %q", err, tc.key, tc.want)
			}
		})
	}
}

// Every variable Load reads is in .env.example (with a comment) and in the README's table.
func TestVarsAreDocumented(t *testing.T) {
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(example), "\n")
	for _, v := range Vars() {
		found := false
		for i, line := range lines {
			if strings.HasPrefix(line, v+"=") {
				found = true
				j := i - 1
				for j >= 0 && strings.Contains(lines[j], "=") && !strings.HasPrefix(lines[j], "#") {
					j-- // a group of variables shares the comment above it
				}
				if j < 0 || !strings.HasPrefix(lines[j], "#") {
					t.Errorf("%s has no comment in .env.example", v)
				}
			}
		}
		if !found {
			t.Errorf("%s is missing from .env.example", v)
		}
		if !strings.Contains(string(readme), "`"+v+"`") {
			t.Errorf("%s is missing from the README", v)
		}
	}
	// And the documented defaults load without error.
	m := map[string]string{}
	for _, line := range lines {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	if _, err := Load(env(m)); err != nil {
		t.Errorf(".env.example does not load: %v", err)
	}
}
