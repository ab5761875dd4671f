// Package config reads Latchkey's configuration from environment variables (and an optional .env file)
// and checks it, reporting every problem at once.
package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/corbado"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/secretbox"
)

// Config is everything Latchkey needs to start.
type Config struct {
	Addr        string   // LATCHKEY_ADDR: where the HTTP server listens
	PublicURL   *url.URL // LATCHKEY_PUBLIC_URL: the origin people open in their browser
	DatabaseURL string   // LATCHKEY_DATABASE_URL: sqlite:PATH or postgres://…
	RedisURL    string   // LATCHKEY_REDIS_URL: optional; sessions, caches' invalidation and rate limits shared by instances
	RedisPrefix string   // LATCHKEY_REDIS_PREFIX: what every Redis key and channel of this site starts with
	// RedisRootCAs (the PEM file LATCHKEY_REDIS_CA_FILE) are the only certificate authorities a rediss://
	// server's certificate may chain to; nil: the system's.
	RedisRootCAs    *x509.CertPool
	LogLevel        slog.Level    // LATCHKEY_LOG_LEVEL: debug, info, warn, error
	CeremonyTimeout time.Duration // LATCHKEY_CEREMONY_TIMEOUT: how long a passkey prompt may take
	TokenTTL        time.Duration // LATCHKEY_TOKEN_TTL: lifetime of the session JWT the provider issues
	SessionLifetime time.Duration // LATCHKEY_SESSION_LIFETIME: how long a login lasts
	SessionIdle     time.Duration // LATCHKEY_SESSION_IDLE_TIMEOUT: log out after this much inactivity
	RPName          string        // LATCHKEY_RP_NAME: the name passkey prompts show
	RateLimit       int           // LATCHKEY_RATE_LIMIT: requests per client (IPv4 address or IPv6 /64) per step (begin, finish, exchange) per RatePeriod; 0 = off
	RatePeriod      time.Duration
	TrustedProxies  []netip.Prefix // LATCHKEY_TRUSTED_PROXIES: proxies whose X-Forwarded-For is believed
	// SecretKey (LATCHKEY_SECRET_KEY, or the contents of LATCHKEY_SECRET_KEY_FILE) encrypts the
	// provider's private keys in the database; empty: they are stored unencrypted.
	SecretKey Secret
	// Dev (LATCHKEY_DEV=true) is development mode: the component gallery at /dev/components, assets read
	// from ./assets on every change instead of the copies built into the binary, and no asset caching.
	Dev bool
	// RelatedOrigins (LATCHKEY_RELATED_ORIGINS) are other https origins whose pages may use this site's
	// passkeys (WebAuthn related origin requests), published at /.well-known/webauthn.
	RelatedOrigins []string
	// ActivityRetention (LATCHKEY_ACTIVITY_RETENTION) is how long activity log entries are kept.
	ActivityRetention time.Duration
	// SMTP (LATCHKEY_SMTP_URL, LATCHKEY_SMTP_FROM) sends recovery links by email; nil: no email.
	SMTP *SMTP
	// DBMaxOpenConns (LATCHKEY_DB_MAX_OPEN_CONNS) bounds the database connection pool; 0: the database's
	// default (DefaultPostgresMaxConns on PostgreSQL, no bound on SQLite).
	DBMaxOpenConns int
	// DBMaxIdleConns (LATCHKEY_DB_MAX_IDLE_CONNS) is how many idle connections the pool keeps open, at
	// most DBMaxOpenConns; 0: as many as the pool's bound (on SQLite without a bound: database/sql's 2).
	DBMaxIdleConns int
	// StartupWait (LATCHKEY_STARTUP_WAIT) is how long start-up waits for PostgreSQL to answer; 0: it
	// fails at once.
	StartupWait time.Duration

	Corbado Corbado
}

// SMTP is the mail server account recovery mails through.
type SMTP struct {
	TLS      bool   // smtps://: implicit TLS; smtp://: STARTTLS when the server offers it
	Host     string // host name
	Port     int
	Username string
	Password Secret
	From     string // the sender address
}

// Corbado holds Corbado mode settings; ProjectID empty means the embedded provider.
type Corbado struct {
	ProjectID   string
	APISecret   string
	FrontendAPI string
	BackendAPI  string
}

// Defaults for a zero-configuration start.
const (
	DefaultAddr            = "localhost:8080"
	DefaultPublicURL       = "http://localhost:8080"
	DefaultDatabaseURL     = "sqlite:latchkey.db"
	DefaultCeremonyTimeout = 5 * time.Minute
	DefaultTokenTTL        = 5 * time.Minute
	DefaultSessionLifetime = 24 * time.Hour
	DefaultSessionIdle     = 2 * time.Hour
	DefaultRPName          = "Latchkey"
)

// DefaultRedisPrefix starts every Redis key and channel unless LATCHKEY_REDIS_PREFIX says otherwise;
// sites sharing one Redis need prefixes of their own.
const DefaultRedisPrefix = "latchkey:"

// validRedisPrefix reports whether p is 1–64 of [A-Za-z0-9._:-].
func validRedisPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r)) {
			return false
		}
	}
	return true
}

// DefaultStartupWait is how long start-up waits for the database unless LATCHKEY_STARTUP_WAIT says.
const DefaultStartupWait = 30 * time.Second

// DefaultPostgresMaxConns is the PostgreSQL pool's bound unless LATCHKEY_DB_MAX_OPEN_CONNS says (the
// store's default, store.DefaultPostgresMaxConns).
const DefaultPostgresMaxConns = 20

// maxDBConns bounds LATCHKEY_DB_MAX_OPEN_CONNS and LATCHKEY_DB_MAX_IDLE_CONNS.
const maxDBConns = 1000

// DefaultActivityRetention is how long activity log entries are kept unless LATCHKEY_ACTIVITY_RETENTION says.
const DefaultActivityRetention = 180 * 24 * time.Hour

// maxRelatedOrigins bounds LATCHKEY_RELATED_ORIGINS (browsers look at a handful of registrable domains).
const maxRelatedOrigins = 50

// relatedOrigins parses LATCHKEY_RELATED_ORIGINS: comma-separated https origins with a host name (no
// path, query, user or IP address), each normalised to scheme://host[:port] and listed once.
func relatedOrigins(raw string, bad func(string, ...any)) []string {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		switch {
		case err != nil || u.Scheme != "https" || u.Host == "" || u.Hostname() == "":
			bad("LATCHKEY_RELATED_ORIGINS: %q is not an https origin like https://shop.example.com", part)
			continue
		case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			bad("LATCHKEY_RELATED_ORIGINS: %q must be an origin only (scheme, host and port; no path, query or user)", part)
			continue
		}
		if _, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
			bad("LATCHKEY_RELATED_ORIGINS: %q must use a host name, not an IP address", part)
			continue
		}
		origin := "https://" + strings.ToLower(u.Host)
		if !slices.Contains(out, origin) {
			out = append(out, origin)
		}
	}
	if len(out) > maxRelatedOrigins {
		bad("LATCHKEY_RELATED_ORIGINS lists %d origins; at most %d are allowed", len(out), maxRelatedOrigins)
	}
	return out
}

// Vars lists every environment variable Latchkey reads, in the order .env.example documents them.
func Vars() []string {
	return []string{
		"LATCHKEY_ADDR", "LATCHKEY_PUBLIC_URL", "LATCHKEY_DATABASE_URL", "LATCHKEY_REDIS_URL",
		"LATCHKEY_LOG_LEVEL", "LATCHKEY_CEREMONY_TIMEOUT", "LATCHKEY_TOKEN_TTL",
		"LATCHKEY_SESSION_LIFETIME", "LATCHKEY_SESSION_IDLE_TIMEOUT", "LATCHKEY_RP_NAME",
		"LATCHKEY_RATE_LIMIT", "LATCHKEY_TRUSTED_PROXIES", "LATCHKEY_SECRET_KEY", "LATCHKEY_SECRET_KEY_FILE",
		"CORBADO_PROJECT_ID", "CORBADO_API_SECRET", "CORBADO_FRONTEND_API", "CORBADO_BACKEND_API",
		"LATCHKEY_DEV", "LATCHKEY_RELATED_ORIGINS", "LATCHKEY_ACTIVITY_RETENTION",
		"LATCHKEY_SMTP_URL", "LATCHKEY_SMTP_FROM", "LATCHKEY_REDIS_PREFIX",
		"LATCHKEY_DB_MAX_OPEN_CONNS", "LATCHKEY_DB_MAX_IDLE_CONNS", "LATCHKEY_STARTUP_WAIT",
		"LATCHKEY_REDIS_CA_FILE",
	}
}

// Load reads the configuration through getenv and validates it. The error lists every problem found.
func Load(getenv func(string) string) (Config, error) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	duration := func(name string, def, minimum, maximum time.Duration) time.Duration {
		raw := get(name, "")
		if raw == "" {
			return def
		}
		d, err := time.ParseDuration(raw)
		if err != nil {
			bad("%s=%q is not a duration (use a form like 90s, 5m or 24h)", name, raw)
			return def
		}
		if d < minimum || d > maximum {
			bad("%s=%s must be between %s and %s", name, raw, minimum, maximum)
			return def
		}
		return d
	}

	c := Config{
		Addr:            get("LATCHKEY_ADDR", DefaultAddr),
		DatabaseURL:     get("LATCHKEY_DATABASE_URL", DefaultDatabaseURL),
		RedisURL:        get("LATCHKEY_REDIS_URL", ""),
		RedisPrefix:     get("LATCHKEY_REDIS_PREFIX", DefaultRedisPrefix),
		RPName:          get("LATCHKEY_RP_NAME", DefaultRPName),
		CeremonyTimeout: duration("LATCHKEY_CEREMONY_TIMEOUT", DefaultCeremonyTimeout, 5*time.Second, 5*time.Minute),
		TokenTTL:        duration("LATCHKEY_TOKEN_TTL", DefaultTokenTTL, 30*time.Second, time.Hour),
		SessionLifetime: duration("LATCHKEY_SESSION_LIFETIME", DefaultSessionLifetime, time.Minute, 90*24*time.Hour),
		SessionIdle:     duration("LATCHKEY_SESSION_IDLE_TIMEOUT", DefaultSessionIdle, time.Minute, 90*24*time.Hour),
	}

	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("LATCHKEY_ADDR=%q must be host:port, for example localhost:8080 or :8080", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("LATCHKEY_ADDR=%q has an invalid port", c.Addr)
	}

	rawURL := get("LATCHKEY_PUBLIC_URL", DefaultPublicURL)
	u, err := ParseOrigin(rawURL)
	if err != nil {
		bad("LATCHKEY_PUBLIC_URL=%q %v", rawURL, err)
	} else {
		if u.Scheme == "http" && !isLocalhost(u.Hostname()) {
			bad("LATCHKEY_PUBLIC_URL=%q must use https: browsers allow passkeys over plain http only on localhost", rawURL)
		}
		if isIPLike(u.Hostname()) {
			bad("LATCHKEY_PUBLIC_URL=%q must use a host name, not an IP address: passkeys need a domain (use http://localhost:PORT locally)", rawURL)
		}
		c.PublicURL = u
	}

	switch {
	case strings.HasPrefix(c.DatabaseURL, "sqlite:"):
		if strings.TrimPrefix(c.DatabaseURL, "sqlite:") == "" {
			bad("LATCHKEY_DATABASE_URL=%q needs a file path after sqlite:, for example sqlite:latchkey.db", c.DatabaseURL)
		}
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		if _, err := url.Parse(c.DatabaseURL); err != nil {
			bad("LATCHKEY_DATABASE_URL is not a valid postgres:// URL")
		}
	default:
		bad("LATCHKEY_DATABASE_URL must start with sqlite: or postgres:// (got %q)", redactURL(c.DatabaseURL))
	}

	if c.RedisURL != "" {
		if r, err := url.Parse(c.RedisURL); err != nil || (r.Scheme != "redis" && r.Scheme != "rediss") || r.Host == "" {
			bad("LATCHKEY_REDIS_URL must look like redis://HOST:PORT/DB (got %q)", redactURL(c.RedisURL))
		}
	}
	c.RedisRootCAs = loadRedisRootCAs(c.RedisURL, get, bad)
	if !validRedisPrefix(c.RedisPrefix) {
		bad("LATCHKEY_REDIS_PREFIX must be 1 to 64 letters, digits or . _ - : (got %q)", c.RedisPrefix)
	}

	switch lvl := strings.ToLower(get("LATCHKEY_LOG_LEVEL", "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		bad("LATCHKEY_LOG_LEVEL=%q must be one of debug, info, warn, error", lvl)
	}
	c.RateLimit, c.RatePeriod = 30, time.Minute
	if raw := get("LATCHKEY_RATE_LIMIT", ""); raw != "" {
		n, p, err := parseRate(raw)
		if err != nil {
			bad("LATCHKEY_RATE_LIMIT=%q %v", raw, err)
		} else {
			c.RateLimit, c.RatePeriod = n, p
		}
	}
	if raw := get("LATCHKEY_TRUSTED_PROXIES", ""); raw != "" {
		prefixes, err := ratelimit.ParsePrefixes(raw)
		if err != nil {
			bad("LATCHKEY_TRUSTED_PROXIES=%q must be a comma-separated list of IP addresses or CIDRs, like 10.0.0.0/8,127.0.0.1", raw)
		}
		c.TrustedProxies = prefixes
	}
	if len(c.RPName) > 64 {
		bad("LATCHKEY_RP_NAME is longer than 64 characters")
	}
	c.SecretKey = loadSecretKey(get, bad)
	switch raw := get("LATCHKEY_DEV", "false"); strings.ToLower(raw) {
	case "true":
		c.Dev = true
	case "false":
	default:
		bad("LATCHKEY_DEV=%q must be true or false", raw)
	}
	c.RelatedOrigins = relatedOrigins(get("LATCHKEY_RELATED_ORIGINS", ""), bad)
	c.ActivityRetention = duration("LATCHKEY_ACTIVITY_RETENTION", DefaultActivityRetention, time.Hour, 10*365*24*time.Hour)

	c.SMTP = loadSMTP(get("LATCHKEY_SMTP_URL", ""), get("LATCHKEY_SMTP_FROM", ""), bad)
	c.DBMaxOpenConns, c.DBMaxIdleConns = loadPool(get, bad, strings.HasPrefix(c.DatabaseURL, "sqlite:"))
	c.StartupWait = duration("LATCHKEY_STARTUP_WAIT", DefaultStartupWait, 0, time.Hour)

	c.Corbado = loadCorbado(get, bad)

	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// loadPool reads LATCHKEY_DB_MAX_OPEN_CONNS and LATCHKEY_DB_MAX_IDLE_CONNS: whole numbers from 1 to
// maxDBConns, the idle ones no more than the pool's bound (DefaultPostgresMaxConns on PostgreSQL when
// LATCHKEY_DB_MAX_OPEN_CONNS is unset; SQLite has no bound by default). 0 stands for unset.
func loadPool(get func(name, def string) string, bad func(string, ...any), sqlite bool) (open, idle int) {
	number := func(name string) int {
		raw := get(name, "")
		if raw == "" {
			return 0
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxDBConns {
			bad("%s=%q must be a whole number from 1 to %d", name, raw, maxDBConns)
			return 0
		}
		return n
	}
	open, idle = number("LATCHKEY_DB_MAX_OPEN_CONNS"), number("LATCHKEY_DB_MAX_IDLE_CONNS")
	switch {
	case idle == 0:
	case open > 0 && idle > open:
		bad("LATCHKEY_DB_MAX_IDLE_CONNS=%d is more than LATCHKEY_DB_MAX_OPEN_CONNS=%d: the idle connections are part of the pool", idle, open)
		idle = 0
	case open == 0 && !sqlite && idle > DefaultPostgresMaxConns:
		bad("LATCHKEY_DB_MAX_IDLE_CONNS=%d is more than the %d connections the PostgreSQL pool has unless LATCHKEY_DB_MAX_OPEN_CONNS says more: raise that too", idle, DefaultPostgresMaxConns)
		idle = 0
	}
	return open, idle
}

// parseRate reads "N/s", "N/min" or "N/h" (or "off").
func parseRate(raw string) (int, time.Duration, error) {
	if strings.EqualFold(raw, "off") {
		return 0, time.Minute, nil
	}
	num, unit, ok := strings.Cut(raw, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if !ok || err != nil || n < 1 || n > 1_000_000 {
		return 0, 0, errors.New("must look like 30/min (requests per client IP: N/s, N/min or N/h), or off")
	}
	switch strings.TrimSpace(strings.ToLower(unit)) {
	case "s", "sec", "second":
		return n, time.Second, nil
	case "m", "min", "minute":
		return n, time.Minute, nil
	case "h", "hour":
		return n, time.Hour, nil
	}
	return 0, 0, errors.New("must look like 30/min (requests per client IP: N/s, N/min or N/h), or off")
}

// Secret is a configuration value that must not be printed: fmt shows it as "[redacted]" (or "" when
// it is empty).
type Secret string

// String hides the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the secret from %#v.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// maxSecretKeyFileSize bounds what LATCHKEY_SECRET_KEY_FILE may hold.
const maxSecretKeyFileSize = 4096

// loadSecretKey reads LATCHKEY_SECRET_KEY or the file LATCHKEY_SECRET_KEY_FILE names (not both). No
// problem quotes the key or the file's contents.
func loadSecretKey(get func(name, def string) string, bad func(format string, a ...any)) Secret {
	key, path := get("LATCHKEY_SECRET_KEY", ""), get("LATCHKEY_SECRET_KEY_FILE", "")
	if key != "" && path != "" {
		bad("LATCHKEY_SECRET_KEY and LATCHKEY_SECRET_KEY_FILE are both set: set only one")
		return ""
	}
	name := "LATCHKEY_SECRET_KEY"
	if path != "" {
		name = fmt.Sprintf("LATCHKEY_SECRET_KEY_FILE=%q", path)
		contents, err := readSecretFile(path)
		if err != nil {
			bad("%s %v", name, err)
			return ""
		}
		key = strings.TrimSpace(contents)
		name += ": the key in the file"
	}
	if key == "" {
		return ""
	}
	if err := secretbox.CheckSecret(key); err != nil {
		bad("%s %v", name, err)
		return ""
	}
	return Secret(key)
}

// readSecretFile reads a small regular file. Its errors name the problem, never the contents.
func readSecretFile(path string) (string, error) {
	b, err := readSmallFile(path, maxSecretKeyFileSize, "it should hold only the key")
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", errors.New("is empty; it should hold the key (generate one with: openssl rand -base64 32)")
	}
	return string(b), nil
}

// readSmallFile reads a regular file of at most limit bytes; a larger one is refused in words ending
// with should (what the file is for). Its errors name the problem, never the contents.
func readSmallFile(path string, limit int64, should string) ([]byte, error) {
	opened := func(err error) error {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return errors.New("does not exist")
		case errors.Is(err, os.ErrPermission):
			return errors.New("cannot be read: permission denied")
		}
		return errors.New("cannot be opened")
	}
	// Stat first: opening a named pipe would block.
	if info, err := os.Stat(path); err != nil {
		return nil, opened(err)
	} else if !info.Mode().IsRegular() {
		return nil, errors.New("is not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, opened(err)
	}
	defer func() { _ = f.Close() }()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, errors.New("is not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, errors.New("cannot be read")
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("is larger than %d bytes; %s", limit, should)
	}
	return b, nil
}

// maxCAFileSize bounds what LATCHKEY_REDIS_CA_FILE may hold (a bundle of a few hundred certificates).
const maxCAFileSize = 1 << 20

// loadRedisRootCAs reads the certificate authorities in LATCHKEY_REDIS_CA_FILE, which only a rediss://
// LATCHKEY_REDIS_URL uses; nil when it is not set.
func loadRedisRootCAs(redisURL string, get func(name, def string) string, bad func(format string, a ...any)) *x509.CertPool {
	path := get("LATCHKEY_REDIS_CA_FILE", "")
	if path == "" {
		return nil
	}
	name := fmt.Sprintf("LATCHKEY_REDIS_CA_FILE=%q", path)
	if u, err := url.Parse(redisURL); err != nil || u.Scheme != "rediss" {
		bad("%s is set, but LATCHKEY_REDIS_URL does not start with rediss:// (Redis over TLS), so it would not be used", name)
		return nil
	}
	b, err := readSmallFile(path, maxCAFileSize, "it should hold the PEM certificates of the CAs that sign Redis's certificate")
	if err != nil {
		bad("%s %v", name, err)
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		bad("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", name)
		return nil
	}
	return pool
}

// Corbado defaults.
const DefaultCorbadoBackendAPI = "https://backendapi.cloud.corbado.io"

// loadCorbado reads the Corbado variables (the names Corbado's own Go SDK reads). The API secret is never
// echoed in a problem.
func loadCorbado(get func(name, def string) string, bad func(format string, a ...any)) Corbado {
	c := Corbado{
		ProjectID:   get("CORBADO_PROJECT_ID", ""),
		APISecret:   get("CORBADO_API_SECRET", ""),
		FrontendAPI: get("CORBADO_FRONTEND_API", ""),
		BackendAPI:  get("CORBADO_BACKEND_API", ""),
	}
	if c.ProjectID == "" {
		for _, name := range []string{"CORBADO_API_SECRET", "CORBADO_FRONTEND_API", "CORBADO_BACKEND_API"} {
			if get(name, "") != "" {
				bad("%s is set but CORBADO_PROJECT_ID is not: set CORBADO_PROJECT_ID (pro-…) for Corbado mode, or unset %s", name, name)
			}
		}
		return c
	}
	if !corbado.ValidProjectID(c.ProjectID) {
		bad("CORBADO_PROJECT_ID=%q is not a Corbado project ID: expected \"pro-\" followed by 1 to %d digits and nothing else, like pro-1234567890 (copy it from your Corbado project's settings)", c.ProjectID, corbado.MaxProjectIDDigits)
	}
	if c.APISecret != "" && (!strings.HasPrefix(c.APISecret, "corbado1_") || len(c.APISecret) < len("corbado1_")+8) {
		bad("CORBADO_API_SECRET must start with corbado1_ (create one under Settings → API secrets in the Corbado developer panel); the value given does not")
	}
	if c.FrontendAPI == "" {
		c.FrontendAPI = "https://" + c.ProjectID + ".frontendapi.cloud.corbado.io"
	} else if u, err := ParseOrigin(c.FrontendAPI); err != nil {
		bad("CORBADO_FRONTEND_API=%q %v (expected a form like https://pro-123.frontendapi.cloud.corbado.io)", c.FrontendAPI, err)
	} else {
		c.FrontendAPI = u.String()
	}
	if c.BackendAPI == "" {
		c.BackendAPI = DefaultCorbadoBackendAPI
	} else if u, err := ParseOrigin(c.BackendAPI); err != nil {
		bad("CORBADO_BACKEND_API=%q %v (expected a form like %s)", c.BackendAPI, err, DefaultCorbadoBackendAPI)
	} else {
		c.BackendAPI = u.String()
	}
	return c
}

// Error lists every configuration problem.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// ParseOrigin parses an http(s) URL that is a bare origin: scheme and host (and port), no path, query,
// fragment or credentials. The returned URL has no trailing slash.
func ParseOrigin(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must start with http:// or https://")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("has no host")
	case u.User != nil:
		return nil, errors.New("must not contain a user name or password")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return nil, errors.New("must be an origin only, with no path, query or fragment")
	case !validHost(u.Hostname()):
		return nil, errors.New("has an invalid host name (use an ASCII domain name such as login.example.com, or localhost)")
	case strings.HasSuffix(u.Host, ":") || (u.Port() != "" && !validPort(u.Port())):
		return nil, errors.New("has an invalid port (use a number from 1 to 65535)")
	}
	u.Path = ""
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// Secure reports whether the public URL is https, which switches on Secure cookies, __Host- prefixes and HSTS.
func (c Config) Secure() bool { return c.PublicURL != nil && c.PublicURL.Scheme == "https" }

// Origin is the public URL as an origin string, e.g. "http://localhost:8080".
func (c Config) Origin() string { return c.PublicURL.String() }

// RPID is the WebAuthn relying party ID: the public URL's host name.
func (c Config) RPID() string { return c.PublicURL.Hostname() }

// CorbadoMode reports whether Latchkey runs against a Corbado project instead of the embedded provider.
func (c Config) CorbadoMode() bool { return c.Corbado.ProjectID != "" }

// validHost accepts an IP address without a zone, or an ASCII DNS name whose labels are 1–63 letters,
// digits or inner hyphens and whose last label is not numeric (browsers read "127.1" or "0x7f000001" as
// IP addresses).
func validHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Zone() == ""
	}
	if host == "" || len(host) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	if strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "" {
		return false
	}
	return true
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// isIPLike reports whether a host is an IP address (including one with a zone).
func isIPLike(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

func isLocalhost(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// redactURL hides a password in a URL so it can be shown in an error message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "(unparseable)"
	case u.Opaque != "" || (u.Host == "" && strings.Contains(raw, "@")):
		// Not scheme://user:password@host: a password could sit anywhere in it, so show none of it.
		return "(not shown: it may hold a password)"
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", "" // a query may carry password=…
	return u.Redacted()
}

// loadSMTP reads LATCHKEY_SMTP_URL (smtp://user:pass@host:587 or smtps://…:465) and
// LATCHKEY_SMTP_FROM; nil when no URL is set. Problems never quote the password.
func loadSMTP(raw, from string, bad func(string, ...any)) *SMTP {
	if raw == "" {
		if from != "" {
			bad("LATCHKEY_SMTP_FROM is set but LATCHKEY_SMTP_URL is not: set both to send email")
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		bad("LATCHKEY_SMTP_URL must look like smtp://USER:PASSWORD@HOST:587 or smtps://USER:PASSWORD@HOST:465 (got %q)", redactURL(raw))
		return nil
	}
	s := &SMTP{TLS: u.Scheme == "smtps", Host: u.Hostname(), Port: 587}
	if s.TLS {
		s.Port = 465
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			bad("LATCHKEY_SMTP_URL has an invalid port (got %q)", redactURL(raw))
			return nil
		}
		s.Port = n
	}
	if u.User != nil {
		s.Username = u.User.Username()
		pw, _ := u.User.Password()
		s.Password = Secret(pw)
	}
	addr, err := mail.ParseAddress(from)
	switch {
	case from == "":
		bad("LATCHKEY_SMTP_FROM is required with LATCHKEY_SMTP_URL: the address mail comes from, like login@example.com")
		return nil
	case err != nil || strings.ContainsAny(from, "\r\n"):
		bad("LATCHKEY_SMTP_FROM=%q is not an email address", from)
		return nil
	}
	s.From = addr.Address
	return s
}
