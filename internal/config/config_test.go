package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
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
		{"public URL with a zoned IPv6 address", "LATCHKEY_PUBLIC_URL", "https://[fe80::1%25en0]", "invalid host"},
		{"public URL on a short-form IPv4", "LATCHKEY_PUBLIC_URL", "https://127.1", "invalid host"},
		{"public URL on a hex IPv4", "LATCHKEY_PUBLIC_URL", "https://0x7f000001", "invalid host"},
		{"public URL with an empty label", "LATCHKEY_PUBLIC_URL", "https://a..b", "invalid host"},
		{"public URL with an underscore", "LATCHKEY_PUBLIC_URL", "https://_", "invalid host"},
		{"public URL with a hyphen-edged label", "LATCHKEY_PUBLIC_URL", "https://-x-.com", "invalid host"},
		{"public URL with a non-ASCII host", "LATCHKEY_PUBLIC_URL", "https://exa%c3%a9mple.com", "invalid host"},
		{"public URL with an empty port", "LATCHKEY_PUBLIC_URL", "https://example.com:", "invalid port"},
		{"public URL with port 0", "LATCHKEY_PUBLIC_URL", "https://example.com:0", "invalid port"},
		{"public URL with a huge port", "LATCHKEY_PUBLIC_URL", "https://example.com:99999", "invalid port"},
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

func TestCorbadoMode(t *testing.T) {
	c, err := Load(env(map[string]string{"CORBADO_PROJECT_ID": "pro-1234567890"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.CorbadoMode() || c.Corbado.FrontendAPI != "https://pro-1234567890.frontendapi.cloud.corbado.io" ||
		c.Corbado.BackendAPI != "https://backendapi.cloud.corbado.io" || c.Corbado.APISecret != "" {
		t.Errorf("corbado defaults = %+v", c.Corbado)
	}
	c, err = Load(env(map[string]string{
		"CORBADO_PROJECT_ID":   "pro-42",
		"CORBADO_API_SECRET":   "corbado1_abcdefghijklmnop",
		"CORBADO_FRONTEND_API": "https://auth.example.com/",
		"CORBADO_BACKEND_API":  "http://localhost:9999",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Corbado.FrontendAPI != "https://auth.example.com" || c.Corbado.BackendAPI != "http://localhost:9999" {
		t.Errorf("corbado = %+v", c.Corbado)
	}
}

// TestCorbadoProjectIDShape: only what Corbado's bundle accepts (/^pro-\d+$/) loads; anything else is
// refused at start-up with the expected shape spelled out, not later in the browser.
func TestCorbadoProjectIDShape(t *testing.T) {
	const maxDigits = "12345678901234567890123456789012345678901234567890123456789" // 59 digits
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"pro-1", true},
		{"pro-1234567890", true},
		{"pro-" + maxDigits, true},
		{"pro-" + maxDigits + "0", false}, // would not fit a DNS label
		{"pro-", false},
		{"pro-abc123", false},
		{"pro-12AB", false},
		{"PRO-123", false},
		{"pro_123", false},
		{"pro-1 23", false},
		{"pro-12.3", false},
		{"pro--123", false},
		{"pro-١٢٣", false}, // Arabic-Indic digits: \d in JavaScript is ASCII only
		{"pro-123\n456", false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			c, err := Load(env(map[string]string{"CORBADO_PROJECT_ID": tc.id}))
			if tc.ok {
				if err != nil || c.Corbado.ProjectID != tc.id {
					t.Fatalf("Load: project ID %q, err %v; want %q accepted", c.Corbado.ProjectID, err, tc.id)
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load accepted project ID %q (err %v)", tc.id, err)
			}
			want := fmt.Sprintf("CORBADO_PROJECT_ID=%q is not a Corbado project ID: expected \"pro-\" followed by 1 to 59 digits "+
				"and nothing else, like pro-1234567890 (copy it from your Corbado project's settings)", tc.id)
			if len(cerr.Problems) != 1 || cerr.Problems[0] != want {
				t.Errorf("problems = %q, want exactly %q", cerr.Problems, want)
			}
		})
	}
}

func TestCorbadoConfigErrors(t *testing.T) {
	const secret = "sk_live_do_not_print_me"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"project ID without pro-", map[string]string{"CORBADO_PROJECT_ID": "1234"}, []string{"CORBADO_PROJECT_ID", "pro-"}},
		{"project ID with a slash", map[string]string{"CORBADO_PROJECT_ID": "pro-12/../x"}, []string{"CORBADO_PROJECT_ID"}},
		{"secret without corbado1_", map[string]string{"CORBADO_PROJECT_ID": "pro-1", "CORBADO_API_SECRET": secret}, []string{"CORBADO_API_SECRET", "corbado1_"}},
		{"frontend API with a path", map[string]string{"CORBADO_PROJECT_ID": "pro-1", "CORBADO_FRONTEND_API": "https://x.example.com/api"}, []string{"CORBADO_FRONTEND_API", "no path"}},
		{"frontend API not http", map[string]string{"CORBADO_PROJECT_ID": "pro-1", "CORBADO_FRONTEND_API": "ftp://x.example.com"}, []string{"CORBADO_FRONTEND_API", "http"}},
		{"backend API with a query", map[string]string{"CORBADO_PROJECT_ID": "pro-1", "CORBADO_BACKEND_API": "https://b.example.com?x=1"}, []string{"CORBADO_BACKEND_API", "query"}},
		{"backend API with a fragment", map[string]string{"CORBADO_PROJECT_ID": "pro-1", "CORBADO_BACKEND_API": "https://b.example.com#x"}, []string{"CORBADO_BACKEND_API", "fragment"}},
		{"secret without a project", map[string]string{"CORBADO_API_SECRET": secret}, []string{"CORBADO_API_SECRET", "CORBADO_PROJECT_ID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Error("the API secret appears in the error")
			}
		})
	}
}

func TestDevMode(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    bool
		problem string // "" = loads
	}{
		{"", false, ""},
		{"true", true, ""},
		{"TRUE", true, ""},
		{" true ", true, ""},
		{"false", false, ""},
		{"False", false, ""},
		{"yes", false, `LATCHKEY_DEV="yes" must be true or false`},
		{"1", false, `LATCHKEY_DEV="1" must be true or false`},
		{"on", false, `LATCHKEY_DEV="on" must be true or false`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			c, err := Load(env(map[string]string{"LATCHKEY_DEV": tc.value}))
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("LATCHKEY_DEV=%q: %v", tc.value, err)
				}
				if c.Dev != tc.want {
					t.Errorf("LATCHKEY_DEV=%q: Dev = %v, want %v", tc.value, c.Dev, tc.want)
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || cerr.Problems[0] != tc.problem {
				t.Errorf("LATCHKEY_DEV=%q: err = %v, want exactly the problem %q", tc.value, err, tc.problem)
			}
		})
	}
	// A bad LATCHKEY_DEV is listed with the other problems, not instead of them.
	_, err := Load(env(map[string]string{"LATCHKEY_DEV": "maybe", "LATCHKEY_LOG_LEVEL": "loud"}))
	var cerr *Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 2 {
		t.Errorf("err = %v, want two problems (LATCHKEY_LOG_LEVEL and LATCHKEY_DEV)", err)
	}
}

func TestSMTP(t *testing.T) {
	for _, tc := range []struct {
		name, url, from string
		want            *SMTP
		problem         string // "" when valid
	}{
		{"unset", "", "", nil, ""},
		{"STARTTLS with a password", "smtp://mailer:smtp-hunter2@mail.example.com:2525", "Latchkey <login@example.com>",
			&SMTP{Host: "mail.example.com", Port: 2525, Username: "mailer", Password: "smtp-hunter2", From: "login@example.com"}, ""},
		{"implicit TLS, default port", "smtps://mail.example.com", "login@example.com",
			&SMTP{TLS: true, Host: "mail.example.com", Port: 465, From: "login@example.com"}, ""},
		{"default submission port", "smtp://mail.example.com", "login@example.com",
			&SMTP{Host: "mail.example.com", Port: 587, From: "login@example.com"}, ""},
		{"no from", "smtp://mailer:smtp-hunter2@mail.example.com", "", nil, "LATCHKEY_SMTP_FROM is required with LATCHKEY_SMTP_URL"},
		{"from not an address", "smtp://mail.example.com", "nobody", nil, `LATCHKEY_SMTP_FROM="nobody" is not an email address`},
		{"from without a URL", "", "login@example.com", nil, "LATCHKEY_SMTP_FROM is set but LATCHKEY_SMTP_URL is not"},
		{"wrong scheme", "http://mailer:smtp-hunter2@mail.example.com", "login@example.com", nil,
			`LATCHKEY_SMTP_URL must look like smtp://USER:PASSWORD@HOST:587 or smtps://USER:PASSWORD@HOST:465 (got "http://mailer:xxxxx@mail.example.com")`},
		{"bad port", "smtp://mailer:smtp-hunter2@mail.example.com:99999", "login@example.com", nil,
			`LATCHKEY_SMTP_URL has an invalid port (got "smtp://mailer:xxxxx@mail.example.com:99999")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(map[string]string{"LATCHKEY_SMTP_URL": tc.url, "LATCHKEY_SMTP_FROM": tc.from}))
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if (c.SMTP == nil) != (tc.want == nil) || (c.SMTP != nil && *c.SMTP != *tc.want) {
					t.Errorf("SMTP = %+v, want %+v", c.SMTP, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("err = %v, want %q", err, tc.problem)
			}
			if err != nil && strings.Contains(err.Error(), "smtp-hunter2") {
				t.Errorf("err %v shows the password", err)
			}
		})
	}
}

func TestPoolSizesAndStartupWait(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DBMaxOpenConns != 0 || c.DBMaxIdleConns != 0 || c.StartupWait != 30*time.Second {
		t.Errorf("defaults: open %d idle %d wait %v, want 0 (the database's default), 0 and 30s", c.DBMaxOpenConns, c.DBMaxIdleConns, c.StartupWait)
	}
	for _, tc := range []struct {
		name                 string
		env                  map[string]string
		open, idle           int
		wait                 time.Duration
		wantErr, wantNotSaid string
	}{
		{"both set", map[string]string{"LATCHKEY_DB_MAX_OPEN_CONNS": "50", "LATCHKEY_DB_MAX_IDLE_CONNS": "10", "LATCHKEY_STARTUP_WAIT": "2m"}, 50, 10, 2 * time.Minute, "", ""},
		{"no waiting", map[string]string{"LATCHKEY_STARTUP_WAIT": "0"}, 0, 0, 0, "", ""},
		{"idle within the PostgreSQL default", map[string]string{"LATCHKEY_DATABASE_URL": "postgres://db/x", "LATCHKEY_DB_MAX_IDLE_CONNS": "20"}, 0, 20, 30 * time.Second, "", ""},
		{"idle on SQLite without a bound", map[string]string{"LATCHKEY_DB_MAX_IDLE_CONNS": "64"}, 0, 64, 30 * time.Second, "", ""},
		{"open not a number", map[string]string{"LATCHKEY_DB_MAX_OPEN_CONNS": "lots"}, 0, 0, 0, `LATCHKEY_DB_MAX_OPEN_CONNS="lots" must be a whole number from 1 to 1000`, ""},
		{"open zero", map[string]string{"LATCHKEY_DB_MAX_OPEN_CONNS": "0"}, 0, 0, 0, `LATCHKEY_DB_MAX_OPEN_CONNS="0" must be a whole number from 1 to 1000`, ""},
		{"open too many", map[string]string{"LATCHKEY_DB_MAX_OPEN_CONNS": "1001"}, 0, 0, 0, `LATCHKEY_DB_MAX_OPEN_CONNS="1001" must be a whole number from 1 to 1000`, ""},
		{"idle negative", map[string]string{"LATCHKEY_DB_MAX_IDLE_CONNS": "-2"}, 0, 0, 0, `LATCHKEY_DB_MAX_IDLE_CONNS="-2" must be a whole number from 1 to 1000`, ""},
		{"idle over open", map[string]string{"LATCHKEY_DB_MAX_OPEN_CONNS": "5", "LATCHKEY_DB_MAX_IDLE_CONNS": "6"}, 0, 0, 0,
			"LATCHKEY_DB_MAX_IDLE_CONNS=6 is more than LATCHKEY_DB_MAX_OPEN_CONNS=5", ""},
		{"idle over the PostgreSQL default", map[string]string{"LATCHKEY_DATABASE_URL": "postgres://u:hunter2@db/x", "LATCHKEY_DB_MAX_IDLE_CONNS": "21"}, 0, 0, 0,
			"LATCHKEY_DB_MAX_IDLE_CONNS=21 is more than the 20 connections the PostgreSQL pool has unless LATCHKEY_DB_MAX_OPEN_CONNS says more", "hunter2"},
		{"wait not a duration", map[string]string{"LATCHKEY_STARTUP_WAIT": "forever"}, 0, 0, 0, `LATCHKEY_STARTUP_WAIT="forever" is not a duration`, ""},
		{"wait negative", map[string]string{"LATCHKEY_STARTUP_WAIT": "-1s"}, 0, 0, 0, "LATCHKEY_STARTUP_WAIT=-1s must be between 0s and 1h0m0s", ""},
		{"wait too long", map[string]string{"LATCHKEY_STARTUP_WAIT": "2h"}, 0, 0, 0, "LATCHKEY_STARTUP_WAIT=2h must be between 0s and 1h0m0s", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.env))
			if tc.wantErr != "" {
				var cerr *Error
				if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want the one problem %q", err, tc.wantErr)
				}
				if tc.wantNotSaid != "" && strings.Contains(err.Error(), tc.wantNotSaid) {
					t.Errorf("the error quotes %q", tc.wantNotSaid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DBMaxOpenConns != tc.open || c.DBMaxIdleConns != tc.idle || c.StartupWait != tc.wait {
				t.Errorf("open %d idle %d wait %v, want %d %d %v", c.DBMaxOpenConns, c.DBMaxIdleConns, c.StartupWait, tc.open, tc.idle, tc.wait)
			}
		})
	}
	if DefaultPostgresMaxConns != store.DefaultPostgresMaxConns {
		t.Errorf("config says PostgreSQL's pool has %d connections by default, the store gives it %d", DefaultPostgresMaxConns, store.DefaultPostgresMaxConns)
	}
}
