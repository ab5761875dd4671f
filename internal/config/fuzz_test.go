package config_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
)

// fzSeed turns a partial environment into FuzzConfigLoad arguments, one per name in vars.
func fzSeed(vars []string, env map[string]string) [28]string {
	var args [28]string
	for i, k := range vars {
		args[i] = env[k]
	}
	return args
}

// FuzzConfigLoad gives every variable an arbitrary value. Load never panics; it either succeeds with a
// configuration that keeps every invariant the rest of Latchkey relies on, or fails with an *Error that
// lists its problems and never quotes the Corbado API secret, a database or Redis password or the secret
// key. The argument for LATCHKEY_SECRET_KEY_FILE is the file's contents: the fuzz function writes them
// to a file and sets the variable to its path.
//
//	go test -run='^$' -fuzz='^FuzzConfigLoad$' -fuzztime=30s ./internal/config/
func FuzzConfigLoad(f *testing.F) {
	// The fuzz function takes one argument per variable, in this order.
	vars := config.Vars()
	if want := "LATCHKEY_ADDR,LATCHKEY_PUBLIC_URL,LATCHKEY_DATABASE_URL,LATCHKEY_REDIS_URL," +
		"LATCHKEY_LOG_LEVEL,LATCHKEY_CEREMONY_TIMEOUT,LATCHKEY_TOKEN_TTL," +
		"LATCHKEY_SESSION_LIFETIME,LATCHKEY_SESSION_IDLE_TIMEOUT,LATCHKEY_RP_NAME," +
		"LATCHKEY_RATE_LIMIT,LATCHKEY_TRUSTED_PROXIES,LATCHKEY_SECRET_KEY,LATCHKEY_SECRET_KEY_FILE," +
		"CORBADO_PROJECT_ID,CORBADO_API_SECRET,CORBADO_FRONTEND_API,CORBADO_BACKEND_API," +
		"LATCHKEY_DEV,LATCHKEY_RELATED_ORIGINS,LATCHKEY_ACTIVITY_RETENTION," +
		"LATCHKEY_SMTP_URL,LATCHKEY_SMTP_FROM,LATCHKEY_REDIS_PREFIX," +
		"LATCHKEY_DB_MAX_OPEN_CONNS,LATCHKEY_DB_MAX_IDLE_CONNS,LATCHKEY_STARTUP_WAIT," +
		"LATCHKEY_REDIS_CA_FILE"; strings.Join(vars, ",") != want {
		f.Fatalf("config.Vars() = %q: update FuzzConfigLoad's arguments to match", vars)
	}
	caPEM, err := os.ReadFile(filepath.Join("testdata", "redis-ca.pem")) // a throwaway test CA's certificate
	if err != nil {
		f.Fatal(err)
	}
	fzCAPEM := string(caPEM)
	for _, env := range []map[string]string{
		{},
		{
			"LATCHKEY_ADDR": ":9000", "LATCHKEY_PUBLIC_URL": "https://Login.Example.com/",
			"LATCHKEY_DATABASE_URL": "postgres://u:p@db:5432/latchkey", "LATCHKEY_REDIS_URL": "redis://cache:6379/0",
			"LATCHKEY_LOG_LEVEL": "DEBUG", "LATCHKEY_CEREMONY_TIMEOUT": "90s", "LATCHKEY_TOKEN_TTL": "2m",
			"LATCHKEY_SESSION_LIFETIME": "720h", "LATCHKEY_SESSION_IDLE_TIMEOUT": "30m", "LATCHKEY_RP_NAME": "Acme",
			"LATCHKEY_RATE_LIMIT": "10/s", "LATCHKEY_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
		},
		{
			"LATCHKEY_PUBLIC_URL": "http://app.localhost:3000", "CORBADO_PROJECT_ID": "pro-1234567890",
			"CORBADO_API_SECRET": "corbado1_s3cretvalueXYZ", "CORBADO_FRONTEND_API": "https://pro-1234567890.frontendapi.cloud.corbado.io",
			"CORBADO_BACKEND_API": "https://backendapi.cloud.corbado.io",
		},
		{"CORBADO_PROJECT_ID": "pro-1", "CORBADO_API_SECRET": "not-a-corbado-secret-hunter2"},
		{"CORBADO_PROJECT_ID": "pro_bad id", "CORBADO_API_SECRET": "corbado1_x", "CORBADO_FRONTEND_API": "ftp://x/y"},
		{"CORBADO_API_SECRET": "corbado1_orphanedsecret"},
		{
			"LATCHKEY_ADDR": "nonsense", "LATCHKEY_PUBLIC_URL": "ftp://example.com", "LATCHKEY_DATABASE_URL": "mysql://root:hunter2@db/x",
			"LATCHKEY_LOG_LEVEL": "loud", "LATCHKEY_CEREMONY_TIMEOUT": "forever", "LATCHKEY_TOKEN_TTL": "1s",
		},
		{"LATCHKEY_PUBLIC_URL": "http://localhost:8080/app?x=1#y"},
		{"LATCHKEY_PUBLIC_URL": "https://u:p@example.com"},
		{"LATCHKEY_PUBLIC_URL": "http://127.0.0.1:8080"},
		{"LATCHKEY_PUBLIC_URL": "http://[::1]:8080"},
		{"LATCHKEY_PUBLIC_URL": "http://example.com"},
		{"LATCHKEY_PUBLIC_URL": "https://"},
		{"LATCHKEY_PUBLIC_URL": "https://:443"},
		{"LATCHKEY_ADDR": "localhost:70000"},
		{"LATCHKEY_ADDR": "[::1]:-1"},
		{"LATCHKEY_DATABASE_URL": "sqlite:"},
		{"LATCHKEY_DATABASE_URL": "postgres://user:pa%zzword@db/x"},
		{"LATCHKEY_REDIS_URL": "http://user:redispassword@cache:6379"},
		{"LATCHKEY_RATE_LIMIT": "off"},
		{"LATCHKEY_RATE_LIMIT": "0/min"},
		{"LATCHKEY_RATE_LIMIT": "99999999999999999999/h"},
		{"LATCHKEY_TRUSTED_PROXIES": "10.0.0.0/33,::1/129,foo"},
		{"LATCHKEY_SESSION_LIFETIME": "-1h", "LATCHKEY_SESSION_IDLE_TIMEOUT": "9223372036854775807ns"},
		{"LATCHKEY_RP_NAME": strings.Repeat("é", 40)},
		{"LATCHKEY_SECRET_KEY": "c2VjcmV0LWtleS10aGF0LWlzLWxvbmctZW5vdWdoLTEyMzQ="},
		{"LATCHKEY_SECRET_KEY": "short-secret-hunter2"},
		{"LATCHKEY_SECRET_KEY_FILE": "c2VjcmV0LWtleS10aGF0LWlzLWxvbmctZW5vdWdoLTEyMzQ=\n"},
		{"LATCHKEY_SECRET_KEY_FILE": "short-file-secret"},
		{"LATCHKEY_SECRET_KEY": "both-set-secret-value-long-enough-0123456789", "LATCHKEY_SECRET_KEY_FILE": "x"},
		{"LATCHKEY_DEV": "true"},
		{"LATCHKEY_DEV": "yes"},
		{"LATCHKEY_RELATED_ORIGINS": "https://shop.example.com, https://Example.co.uk:8443"},
		{"LATCHKEY_RELATED_ORIGINS": "http://x.example, https://1.2.3.4, https://a.example/path, https://u:p@b.example"},
		{"LATCHKEY_ACTIVITY_RETENTION": "720h"},
		{"LATCHKEY_ACTIVITY_RETENTION": "1m"},
		{"LATCHKEY_SMTP_URL": "smtp://mailer:smtppassword@mail.example.com:587", "LATCHKEY_SMTP_FROM": "login@example.com"},
		{"LATCHKEY_SMTP_URL": "smtps://mailer:smtppassword@mail.example.com"},
		{"LATCHKEY_SMTP_URL": "http://mailer:smtppassword@mail.example.com:99999", "LATCHKEY_SMTP_FROM": "not an address"},
		{"LATCHKEY_SMTP_FROM": "login@example.com"},
		{"LATCHKEY_REDIS_URL": "redis://:redispassword@cache:6379/2", "LATCHKEY_REDIS_PREFIX": "shop:"},
		{"LATCHKEY_REDIS_PREFIX": "bad prefix*"},
		{"LATCHKEY_DB_MAX_OPEN_CONNS": "50", "LATCHKEY_DB_MAX_IDLE_CONNS": "10", "LATCHKEY_STARTUP_WAIT": "0"},
		{"LATCHKEY_DB_MAX_OPEN_CONNS": "5", "LATCHKEY_DB_MAX_IDLE_CONNS": "6", "LATCHKEY_STARTUP_WAIT": "2h"},
		{"LATCHKEY_DATABASE_URL": "postgres://u:pgpassword@db/x", "LATCHKEY_DB_MAX_IDLE_CONNS": "21", "LATCHKEY_DB_MAX_OPEN_CONNS": "+7"},
		{"LATCHKEY_REDIS_URL": "rediss://:redispassword@cache:6380/0", "LATCHKEY_REDIS_CA_FILE": fzCAPEM},
		{"LATCHKEY_REDIS_URL": "redis://cache:6379/0", "LATCHKEY_REDIS_CA_FILE": fzCAPEM},
		{"LATCHKEY_REDIS_URL": "rediss://cache:6380/0", "LATCHKEY_REDIS_CA_FILE": "not a certificate"},
	} {
		a := fzSeed(vars, env)
		f.Add(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25], a[26], a[27])
	}

	f.Fuzz(func(t *testing.T, addr, publicURL, databaseURL, redisURL, logLevel, ceremonyTimeout, tokenTTL,
		sessionLifetime, sessionIdle, rpName, rateLimit, trustedProxies, secretKey, secretKeyFile,
		projectID, apiSecret, frontendAPI, backendAPI, dev, relatedOrigins, activityRetention, smtpURL, smtpFrom,
		redisPrefix, dbMaxOpen, dbMaxIdle, startupWait, redisCAFile string) {
		values := []string{addr, publicURL, databaseURL, redisURL, logLevel, ceremonyTimeout, tokenTTL,
			sessionLifetime, sessionIdle, rpName, rateLimit, trustedProxies, secretKey, secretKeyFile,
			projectID, apiSecret, frontendAPI, backendAPI, dev, relatedOrigins, activityRetention, smtpURL, smtpFrom,
			redisPrefix, dbMaxOpen, dbMaxIdle, startupWait, redisCAFile}
		env := map[string]string{}
		for i, k := range vars {
			env[k] = values[i]
		}
		dir := t.TempDir()
		// The arguments for the *_FILE variables are the files' contents: each is written to a file, and
		// the variable names it.
		load := func(env map[string]string) (config.Config, error) {
			paths := map[string]string{}
			for _, k := range []string{"LATCHKEY_SECRET_KEY_FILE", "LATCHKEY_REDIS_CA_FILE"} {
				if contents := env[k]; contents != "" {
					paths[k] = filepath.Join(dir, strings.ToLower(k))
					if err := os.WriteFile(paths[k], []byte(contents), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			return config.Load(func(k string) string {
				if strings.HasSuffix(k, "_FILE") {
					return paths[k]
				}
				return env[k]
			})
		}
		c, err := load(env)
		if err != nil {
			fzCheckError(t, err, env, load)
			return
		}
		fzCheckConfig(t, c)
		if want := strings.EqualFold(strings.TrimSpace(dev), "true"); c.Dev != want {
			t.Errorf("LATCHKEY_DEV=%q gave Dev %v", dev, c.Dev)
		}
		for _, o := range c.RelatedOrigins {
			if !strings.HasPrefix(o, "https://") || strings.ContainsAny(o[len("https://"):], "/?#@ ") || o != strings.ToLower(o) {
				t.Errorf("LATCHKEY_RELATED_ORIGINS=%q gave origin %q", relatedOrigins, o)
			}
		}
		if c.ActivityRetention < time.Hour {
			t.Errorf("LATCHKEY_ACTIVITY_RETENTION=%q gave %v", activityRetention, c.ActivityRetention)
		}
		open, idle := c.DBMaxOpenConns, c.DBMaxIdleConns
		if open < 0 || open > 1000 || idle < 0 || idle > 1000 || (open > 0 && idle > open) ||
			(open == 0 && idle > config.DefaultPostgresMaxConns && !strings.HasPrefix(c.DatabaseURL, "sqlite:")) {
			t.Errorf("LATCHKEY_DB_MAX_OPEN_CONNS=%q, LATCHKEY_DB_MAX_IDLE_CONNS=%q gave a pool of %d with %d idle", dbMaxOpen, dbMaxIdle, open, idle)
		}
		if c.RedisRootCAs != nil && !strings.HasPrefix(c.RedisURL, "rediss://") {
			t.Errorf("LATCHKEY_REDIS_CA_FILE was taken with LATCHKEY_REDIS_URL=%q, which does not use TLS", c.RedisURL)
		}
		if (c.RedisRootCAs != nil) != (strings.TrimSpace(redisCAFile) != "") {
			t.Errorf("LATCHKEY_REDIS_CA_FILE holding %q gave RootCAs %v", redisCAFile, c.RedisRootCAs != nil)
		}
		if c.StartupWait < 0 || c.StartupWait > time.Hour {
			t.Errorf("LATCHKEY_STARTUP_WAIT=%q gave %v", startupWait, c.StartupWait)
		}
	})
}

// fzCheckError checks a refused configuration: an *Error with problems, none of which quotes a secret.
func fzCheckError(t *testing.T, err error, env map[string]string, load func(map[string]string) (config.Config, error)) {
	t.Helper()
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
		t.Fatalf("Load error %v (%T) is not an *Error with problems", err, err)
	}
	for _, p := range cerr.Problems {
		if strings.TrimSpace(p) == "" {
			t.Errorf("empty problem in %q", cerr.Problems)
		}
	}
	msg := err.Error()
	secrets := map[string]string{"CORBADO_API_SECRET": strings.TrimSpace(env["CORBADO_API_SECRET"])}
	for _, k := range []string{"LATCHKEY_SECRET_KEY", "LATCHKEY_SECRET_KEY_FILE"} { // the key, or the file's contents
		secrets[k] = strings.TrimSpace(env[k])
	}
	for _, k := range []string{"LATCHKEY_DATABASE_URL", "LATCHKEY_REDIS_URL", "LATCHKEY_SMTP_URL"} {
		if pw := fzPassword(env[k]); pw != "" {
			secrets[k] = pw
		}
	}
	for k, secret := range secrets {
		if !fzSecretLike(secret, k, env) || !strings.Contains(msg, secret) {
			continue
		}
		// The secret might be part of the fixed wording; check the same configuration with the secret
		// swapped for another value, which must not contain it either.
		other := map[string]string{}
		for name, v := range env {
			other[name] = v
		}
		other[k] = strings.Replace(env[k], secret, fzSwap(secret), 1)
		if _, err2 := load(other); err2 == nil || !strings.Contains(err2.Error(), secret) {
			t.Fatalf("the error quotes the value of %s (%q):\n%s", k, secret, msg)
		}
	}
}

// fzPassword is the password in a URL's authority (scheme://user:password@host/…), as url.Parse reads it.
func fzPassword(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	i := strings.LastIndex(rest, "@")
	if i < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:i], ":")
	return pw
}

// fzSecretLike reports whether a secret is long enough, and absent from the other variables, that
// finding it in an error means the error quotes it.
func fzSecretLike(secret, from string, env map[string]string) bool {
	if len(secret) < 8 {
		return false
	}
	for k, v := range env {
		if k != from && strings.Contains(v, secret) {
			return false
		}
	}
	// A password inside a URL is also the URL's own substring: only other parts of the URL may echo it.
	rest := strings.Replace(env[from], secret, "", 1)
	return !strings.Contains(rest, secret)
}

// fzSwap returns a value of the same length and shape as s (same prefix corbado1_, same bytes that
// matter to URL parsing) that shares no run of letters with it.
func fzSwap(s string) string {
	b := []byte(s)
	start := 0
	if strings.HasPrefix(s, "corbado1_") {
		start = len("corbado1_")
	}
	for i := start; i < len(b); i++ {
		switch c := b[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			if c == 'Q' {
				b[i] = 'W'
			} else {
				b[i] = 'Q'
			}
		}
	}
	return string(b)
}

// fzCheckConfig checks the invariants of an accepted configuration.
func fzCheckConfig(t *testing.T, c config.Config) {
	t.Helper()
	if host, port, err := net.SplitHostPort(c.Addr); err != nil {
		t.Errorf("Addr %q is not host:port: %v", c.Addr, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		t.Errorf("Addr %q (host %q) has port %q", c.Addr, host, port)
	}

	u := c.PublicURL
	switch {
	case u == nil:
		t.Fatal("no PublicURL")
	case u.Scheme != "http" && u.Scheme != "https":
		t.Errorf("PublicURL scheme %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "" || c.RPID() == "" || c.RPID() != u.Hostname():
		t.Errorf("PublicURL %q: host %q, RPID %q", u, u.Host, c.RPID())
	case u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || u.User != nil || u.ForceQuery:
		t.Errorf("PublicURL %q is not an origin: %#v", u, u)
	case u.Scheme == "http" && c.RPID() != "localhost" && !strings.HasSuffix(c.RPID(), ".localhost"):
		t.Errorf("plain http accepted off localhost: %q", u)
	case net.ParseIP(c.RPID()) != nil:
		t.Errorf("PublicURL on an IP address accepted: %q", u)
	case c.Secure() != (u.Scheme == "https"):
		t.Errorf("Secure() = %v for %q", c.Secure(), u)
	}
	if again, err := config.ParseOrigin(c.Origin()); err != nil || again.String() != c.Origin() || strings.HasSuffix(c.Origin(), "/") {
		t.Errorf("Origin %q does not parse back to itself (%v)", c.Origin(), err)
	}

	switch {
	case strings.HasPrefix(c.DatabaseURL, "sqlite:") && len(c.DatabaseURL) > len("sqlite:"):
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
	default:
		t.Errorf("DatabaseURL %q accepted", c.DatabaseURL)
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		t.Errorf("RedisURL %q accepted", c.RedisURL)
	}
	switch c.LogLevel {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
	default:
		t.Errorf("LogLevel %v", c.LogLevel)
	}
	for _, d := range []struct {
		name     string
		got      time.Duration
		min, max time.Duration
	}{
		{"CeremonyTimeout", c.CeremonyTimeout, 5 * time.Second, 5 * time.Minute},
		{"TokenTTL", c.TokenTTL, 30 * time.Second, time.Hour},
		{"SessionLifetime", c.SessionLifetime, time.Minute, 90 * 24 * time.Hour},
		{"SessionIdle", c.SessionIdle, time.Minute, 90 * 24 * time.Hour},
	} {
		if d.got < d.min || d.got > d.max {
			t.Errorf("%s = %v, outside [%v, %v]", d.name, d.got, d.min, d.max)
		}
	}
	if c.RPName == "" || len(c.RPName) > 64 {
		t.Errorf("RPName %q", c.RPName)
	}
	if key := string(c.SecretKey); key != "" {
		if len(key) < 32 || key != strings.TrimSpace(key) {
			t.Errorf("secret key of %d bytes accepted (or not trimmed)", len(key))
		}
		only := config.Config{SecretKey: c.SecretKey} // other fields may hold the same text
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if strings.Contains(fmt.Sprintf(verb, only), key) {
				t.Errorf("formatting the configuration with %s shows the secret key", verb)
			}
		}
	}
	if c.RateLimit < 0 || c.RateLimit > 1_000_000 || (c.RatePeriod != time.Second && c.RatePeriod != time.Minute && c.RatePeriod != time.Hour) {
		t.Errorf("rate limit %d per %v", c.RateLimit, c.RatePeriod)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			t.Errorf("invalid trusted proxy prefix %v", p)
		}
	}

	co := c.Corbado
	if !c.CorbadoMode() {
		if co.APISecret != "" || co.FrontendAPI != "" || co.BackendAPI != "" {
			t.Errorf("Corbado settings %+v accepted without a project ID", co)
		}
		return
	}
	if rest, ok := strings.CutPrefix(co.ProjectID, "pro-"); !ok || rest == "" || len(rest) > 59 || strings.TrimLeft(rest, "0123456789") != "" {
		t.Errorf("ProjectID %q accepted", co.ProjectID)
	}
	if co.APISecret != "" && !strings.HasPrefix(co.APISecret, "corbado1_") {
		t.Error("an API secret without the corbado1_ prefix was accepted")
	}
	for name, v := range map[string]string{"FrontendAPI": co.FrontendAPI, "BackendAPI": co.BackendAPI} {
		if o, err := config.ParseOrigin(v); err != nil || o.String() != v {
			t.Errorf("%s %q is not an origin (%v)", name, v, err)
		}
	}
}
