// Command bench measures Latchkey on this machine against floors measured in the same run, prints a
// table per database setup and writes BENCHMARKS.md:
//
//	go run ./cmd/bench                       # SQLite, then PostgreSQL + Redis (task bench)
//	go run ./cmd/bench -modes sqlite,pg      # PostgreSQL without Redis
//	go run ./cmd/bench -quick -modes sqlite  # a few seconds, for development; writes nothing unless -out
//
// It builds cmd/latchkey, starts it on fresh databases (a SQLite file; a PostgreSQL schema and a Redis key
// prefix, both removed afterwards) and drives it over loopback. The whole run takes a few minutes and
// loads every core.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/passkeyclient"
	"github.com/latchkey/latchkey/internal/testdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// mode is a database setup Latchkey is measured on.
type mode struct {
	name           string // as -modes names it
	title          string
	postgres       bool
	redis          bool
	homeTarget     float64 // /home full page requests/s as a share of the hello floor's; 0: none
	fragmentTarget float64 // the same for the htmx fragment
}

func modeNamed(name string, redis bool) (mode, error) {
	switch name {
	case "sqlite":
		return mode{name: name, title: "SQLite", homeTarget: 0.60, fragmentTarget: 0.70}, nil
	case "pg+redis":
		if redis {
			return mode{name: name, title: "PostgreSQL + Redis", postgres: true, redis: true, homeTarget: 0.50}, nil
		}
		fallthrough
	case "pg":
		return mode{name: "pg", title: "PostgreSQL (sessions in the database, no Redis)", postgres: true, homeTarget: 0.50}, nil
	}
	return mode{}, fmt.Errorf("-modes: unknown mode %q (want sqlite, pg or pg+redis)", name)
}

// options are the run's settings.
type options struct {
	quick    bool
	args     []string // as given, for the report
	modes    []mode
	out      string
	bin      string
	pgURL    string
	redisURL string

	conc, loginConc            int
	warmup, measure            time.Duration // each /home and hello figure
	loginWarmup, loginTime     time.Duration
	usersSmall, usersBig       int // users seeded for the first stored-sessions figure, and in all
	sessionsSmall, sessionsBig int // sessions seeded for the first stored-sessions figure, and in all
	startRuns                  int
	benchTime                  time.Duration // testing.Benchmark's time per benchmark; 0: its default (1 s)
}

func (o options) loadNote() string {
	return fmt.Sprintf("%d keep-alive connections for `/home` and hello, %d log-in clients; %v warm-up, then %v measured per figure",
		o.conc, o.loginConc, o.warmup, o.measure)
}

// run parses args and runs the benchmark (or, as "bench hello -addr A", the hello floor server).
func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 1 && args[1] == "hello" {
		return hello(ctx, args[2:])
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	quick := fs.Bool("quick", false, "a few seconds with small numbers, for development (writes no file unless -out is given)")
	modes := fs.String("modes", "sqlite,pg+redis", "database setups to measure, in order: sqlite, pg (PostgreSQL), pg+redis (PostgreSQL + Redis)")
	redis := fs.Bool("redis", true, "with false, pg+redis is measured as pg (PostgreSQL without Redis)")
	out := fs.String("out", "", "file to write the report to (default BENCHMARKS.md; none with -quick)")
	bin := fs.String("bin", "", "a latchkey binary to measure instead of building ./cmd/latchkey")
	pgURL := fs.String("postgres", testdb.DefaultPostgresURL, "PostgreSQL to create a fresh schema in (dropped afterwards)")
	redisURL := fs.String("redis-url", "redis://127.0.0.1:6379/0", "Redis for pg+redis (keys under a fresh prefix, deleted afterwards)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := options{
		quick: *quick, args: args[1:], out: *out, bin: *bin, pgURL: *pgURL, redisURL: *redisURL,
		conc: 64, loginConc: 32,
		warmup: time.Second, measure: 4 * time.Second, loginWarmup: time.Second, loginTime: 4 * time.Second,
		usersSmall: 100, sessionsSmall: 1_000, usersBig: 10_000, sessionsBig: 100_000,
		startRuns: 5,
	}
	if o.quick {
		o.warmup, o.measure, o.loginWarmup, o.loginTime = 100*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond
		o.usersSmall, o.sessionsSmall, o.usersBig, o.sessionsBig = 10, 100, 100, 1_000
		o.startRuns = 3
		o.loginConc = 8
		o.benchTime = 100 * time.Millisecond
	} else if o.out == "" {
		o.out = "BENCHMARKS.md"
	}
	for name := range strings.SplitSeq(*modes, ",") {
		m, err := modeNamed(strings.TrimSpace(name), *redis)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(o.modes, func(x mode) bool { return x.name == m.name }) {
			o.modes = append(o.modes, m)
		}
	}
	if o.benchTime > 0 {
		if err := setBenchTime(o.benchTime); err != nil {
			return err
		}
	}

	dir, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	res, err := newResources(dir, o.pgURL, o.redisURL)
	if err != nil {
		return err
	}
	b := &bench{opts: o, out: stdout, start: time.Now(), dir: dir, res: res}
	defer func() {
		if err := res.cleanup(); err != nil {
			b.logf("cleaning up: %v", err)
		}
	}()
	return b.run(ctx)
}

// bench is one run.
type bench struct {
	opts  options
	out   io.Writer
	start time.Time
	dir   string
	res   *resources
	bin   string
}

// floors are measured for each mode, next to its figures.
type floors struct {
	hello     loadResult // a bare net/http hello page, loaded like /home
	helloErr  error
	crypto    float64 // the P-256 cost of a log-in on all cores, as log-ins/s
	cryptoErr error
}

// logf prints a progress line.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, "[%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) error {
	sys := readSysInfo()
	sys.loadStart = loadAverage()
	b.logf("Latchkey benchmark on %s (%d cores), %s", sys.cpu, sys.cores, sys.goVer)
	if b.bin = b.opts.bin; b.bin == "" {
		b.logf("building ./cmd/latchkey")
		bin, err := buildLatchkey(ctx, b.dir)
		if err != nil {
			return err
		}
		b.bin = bin
	}

	var tables []*table
	for _, m := range b.opts.modes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.logf("== %s ==", m.title)
		tables = append(tables, b.measureMode(ctx, m))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	sys.loadEnd = loadAverage()
	doc := report(sys, b.opts, tables)
	fmt.Fprintf(b.out, "\n%s", doc)
	if b.opts.out != "" {
		if err := os.WriteFile(b.opts.out, []byte(doc), 0o644); err != nil {
			return err
		}
		b.logf("wrote %s", b.opts.out)
	}
	b.logf("done")
	return nil
}

// measureHello starts the hello server (this program, "hello -addr") and loads it like /home.
func (b *bench) measureHello(ctx context.Context) (loadResult, error) {
	self, err := os.Executable()
	if err != nil {
		return loadResult{}, err
	}
	port, err := freePort()
	if err != nil {
		return loadResult{}, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := startProc(self, []string{"hello", "-addr", addr}, nil, b.dir, filepath.Join(b.dir, "hello.log"))
	if err != nil {
		return loadResult{}, err
	}
	defer p.stop()
	tr := newTransport(addr, b.opts.conc)
	defer tr.CloseIdleConnections()
	client := newClient(tr)
	url := fmt.Sprintf("http://localhost:%d/", port)
	if err := p.waitReady(ctx, client, url, 10*time.Second); err != nil {
		return loadResult{}, fmt.Errorf("hello server: %w", err)
	}
	r := runLoad(ctx, b.opts.conc, b.opts.warmup, b.opts.measure, func(w int) func() error {
		return getOp(ctx, client, url, nil, nil, 0, 1)
	})
	if f := r.failure(); f != "" {
		return r, errors.New(f)
	}
	return r, nil
}

// hello serves a bare net/http hello page until ctx ends: the floor /home is compared with.
func hello(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "Hello, world!\n")
	})}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Figure names (the test looks for each).
const (
	figHomeRPS      = "`/home` full page: requests/s"
	figHomeP50      = "`/home` full page: p50"
	figHomeP99      = "`/home` full page: p99"
	figFragRPS      = "`/home` htmx fragment: requests/s"
	figFragP50      = "`/home` htmx fragment: p50"
	figFragP99      = "`/home` htmx fragment: p99"
	figCheck        = "Session check per request (session middleware, in-process)"
	figLogins       = "Log-ins/s (begin, finish, exchange over loopback)"
	figLoginP50     = "Log-in p50"
	figLoginP99     = "Log-in p99"
	figPageTotal    = "Login page first visit, gzip: total"
	figPageFile     = "Login page first visit: "
	figStart        = "Process start to first page, median"
	targetLoginP99  = 50 * time.Millisecond
	targetPageBytes = 25_000
	targetRSS       = 150_000_000
	targetStart     = 200 * time.Millisecond
)

// measureMode measures every figure of mode m into a table.
func (b *bench) measureMode(ctx context.Context, m mode) *table {
	o := b.opts
	t := &table{title: m.title}
	port, err := freePort()
	if err != nil {
		t.skipped = err.Error()
		return t
	}
	env, err := b.res.env(ctx, m, port)
	if err != nil {
		t.skipped = err.Error()
		b.logf("  not measured: %v", err)
		return t
	}
	addr, base := env["LATCHKEY_ADDR"], env["LATCHKEY_PUBLIC_URL"]
	p, err := startProc(b.bin, []string{"-env-file="}, env, b.dir, filepath.Join(b.dir, m.name+".log"))
	if err != nil {
		t.skipped = err.Error()
		return t
	}
	defer p.stop()
	tr := newTransport(addr, o.conc)
	defer tr.CloseIdleConnections()
	client := newClient(tr)
	if err := p.waitReady(ctx, client, base+"/healthz", 30*time.Second); err != nil {
		t.skipped = "Latchkey could not start: " + err.Error()
		if m.redis {
			t.skipped += ". (`-modes sqlite,pg` or `-redis=false` measures PostgreSQL without Redis.)"
		}
		b.logf("  %s", t.skipped)
		return t
	}
	b.logf("  Latchkey is up at %s (%s)", base, env["LATCHKEY_DATABASE_URL"][:strings.IndexAny(env["LATCHKEY_DATABASE_URL"], ":")])

	// The floors, measured while Latchkey waits.
	var f floors
	b.logf("  floor: bare net/http hello page, %d connections", o.conc)
	if f.hello, f.helloErr = b.measureHello(ctx); f.helloErr == nil {
		b.logf("    hello: %s, p50 %s, p99 %s", perSec(f.hello.perSecond(), "req/s"), ms(f.hello.p50()), ms(f.hello.p99()))
	} else {
		b.logf("    hello floor failed: %v", f.helloErr)
	}
	b.logf("  floor: P-256 operations of a log-in on all cores")
	if f.crypto, f.cryptoErr = cryptoFloor(); f.cryptoErr == nil {
		b.logf("    %s", perSec(f.crypto, "log-ins/s"))
	} else {
		b.logf("    crypto floor failed: %v", f.cryptoErr)
	}

	// /home with one logged-in session.
	cookie, err := passkeyclient.New(base, passkeyclient.Options{Transport: tr}).SignUpAndLogIn(ctx, "bench-home@example.com")
	if err == nil {
		err = checkHome(ctx, client, base, cookie)
	}
	b.homeRows(ctx, t, m, f, client, base, cookie, err)

	// Log-ins.
	b.logf("  log-ins: %d clients", o.loginConc)
	if r, err := b.measureLogins(ctx, addr, base); err != nil {
		b.logf("  log-ins failed: %v", err)
		t.missing(figLogins, "≥ 25% of the floor", err)
		t.missing(figLoginP50, "—", err)
		t.missing(figLoginP99, "< 50 ms", err)
	} else {
		b.logf("  log-ins: %s, p50 %s, p99 %s", perSec(r.perSecond(), "log-ins/s"), ms(r.p50()), ms(r.p99()))
		if f.cryptoErr != nil {
			t.add(figLogins, perSec(r.perSecond(), "log-ins/s"), "not measured", "—", "≥ 25% of the floor", false)
		} else {
			share := r.perSecond() / f.crypto
			t.add(figLogins, perSec(r.perSecond(), "log-ins/s"), "P-256: "+perSec(f.crypto, "log-ins/s"), pct(share), "≥ 25% of the floor", share >= 0.25)
		}
		t.add(figLoginP50, ms(r.p50()), "—", "—", "—", true)
		t.add(figLoginP99, ms(r.p99()), "—", "—", "< 50 ms", r.p99() < targetLoginP99)
	}

	// The login page's first visit.
	if files, err := loginPageSizes(ctx, addr, base); err != nil {
		t.missing(figPageTotal, "≤ 25 kB", err)
	} else {
		var body, wire int
		for _, f := range files {
			body += f.body
			wire += f.wire
		}
		b.logf("  login page: %s in %d files (%s on the wire)", byteCount(body), len(files), byteCount(wire))
		t.add(figPageTotal, fmt.Sprintf("%s (%s on the wire)", byteCount(body), byteCount(wire)), "—", "—", "≤ 25 kB", body <= targetPageBytes)
		for _, f := range files {
			enc := f.encoding
			if enc == "" {
				enc = "not compressed"
			}
			t.add(figPageFile+"`"+f.path+"` ("+enc+")", fmt.Sprintf("%s (%s on the wire)", byteCount(f.body), byteCount(f.wire)), "—", "—", "—", true)
		}
	}

	// Stored sessions and memory.
	b.storedRows(ctx, t, p, env, client, base)
	p.stop()

	// The session check, in-process.
	b.logf("  session check vs JWT verification (in-process)")
	if c, err := b.measureSessionCheck(ctx, m); err != nil {
		b.logf("  session check failed: %v", err)
		t.missing(figCheck, "floor ≥ 5× value", err)
	} else {
		x := float64(c.verify) / float64(c.check)
		b.logf("  session check %s, JWT verification %s: %s cheaper", us(c.check), us(c.verify), times(x))
		t.add(figCheck, us(c.check), "JWT verified per request: "+us(c.verify), times(x)+" (floor ÷ value)", "floor ≥ 5× value", x >= 5)
	}

	// Process start to the first page.
	b.logf("  start to first page, %d starts", o.startRuns)
	fresh, joining, err := b.measureStart(ctx, m)
	if err != nil {
		t.missing(figStart, "< 200 ms", err)
		return t
	}
	b.logf("  start to first page: %s on a fresh database", ms(fresh))
	if !m.postgres {
		t.add(figStart+fmt.Sprintf(" of %d, fresh database", o.startRuns), ms(fresh), "—", "—", "< 200 ms", fresh < targetStart)
		return t
	}
	// PostgreSQL: a fresh schema is created once per deployment (every migration runs); instances start,
	// restart and scale out against a database that exists.
	b.logf("  start to first page: %s on an existing database", ms(joining))
	t.add(figStart+fmt.Sprintf(" of %d, existing database (an instance joining)", o.startRuns), ms(joining), "—", "—", "< 200 ms", joining < targetStart)
	t.add(figStart+fmt.Sprintf(" of %d, fresh database (runs every migration)", o.startRuns), ms(fresh), "—", "—", "—", true)
	return t
}

// checkHome checks that cookie opens /home as a full page, and as a fragment with HX-Request.
func checkHome(ctx context.Context, client *http.Client, base, cookie string) error {
	for _, fragment := range []bool{false, true} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/home", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Cookie", cookie)
		if fragment {
			req.Header.Set("HX-Request", "true")
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /home: status %d", resp.StatusCode)
		}
		if full := strings.Contains(strings.ToLower(string(body)), "<html"); full == fragment {
			return fmt.Errorf("GET /home (HX-Request %v) answered a full page: %v", fragment, full)
		}
	}
	return nil
}

// homeRows measures /home, full page and fragment, with one session cookie.
func (b *bench) homeRows(ctx context.Context, t *table, m mode, f floors, client *http.Client, base, cookie string, loginErr error) {
	o := b.opts
	cookies := cookieHeaders([]string{cookie})
	for _, v := range []struct {
		fragment      bool
		rps, p50, p99 string
		target        float64
	}{
		{false, figHomeRPS, figHomeP50, figHomeP99, m.homeTarget},
		{true, figFragRPS, figFragP50, figFragP99, m.fragmentTarget},
	} {
		targetText := "—"
		if v.target > 0 {
			targetText = fmt.Sprintf("≥ %.0f%% of the floor", 100*v.target)
		}
		if loginErr != nil {
			t.missing(v.rps, targetText, fmt.Errorf("no session: %w", loginErr))
			t.missing(v.p50, "—", fmt.Errorf("no session: %w", loginErr))
			t.missing(v.p99, "—", fmt.Errorf("no session: %w", loginErr))
			continue
		}
		var header http.Header
		if v.fragment {
			header = http.Header{"Hx-Request": {"true"}}
		}
		b.logf("  %s", strings.TrimSuffix(v.rps, ": requests/s"))
		r := runLoad(ctx, o.conc, o.warmup, o.measure, func(w int) func() error {
			return getOp(ctx, client, base+"/home", header, cookies, 0, 1)
		})
		b.logf("    %s, p50 %s, p99 %s", perSec(r.perSecond(), "req/s"), ms(r.p50()), ms(r.p99()))
		if f := r.failure(); f != "" {
			err := errors.New(f)
			t.missing(v.rps, targetText, err)
			t.missing(v.p50, "—", err)
			t.missing(v.p99, "—", err)
			continue
		}
		if f.helloErr != nil {
			t.add(v.rps, perSec(r.perSecond(), "req/s"), "not measured", "—", targetText, false)
			t.add(v.p50, ms(r.p50()), "not measured", "—", "—", true)
			t.add(v.p99, ms(r.p99()), "not measured", "—", "—", true)
			continue
		}
		share := r.perSecond() / f.hello.perSecond()
		t.add(v.rps, perSec(r.perSecond(), "req/s"), "hello: "+perSec(f.hello.perSecond(), "req/s"), pct(share), targetText, v.target == 0 || share >= v.target)
		t.add(v.p50, ms(r.p50()), "hello: "+ms(f.hello.p50()), times(float64(r.p50())/float64(f.hello.p50())), "—", true)
		t.add(v.p99, ms(r.p99()), "hello: "+ms(f.hello.p99()), times(float64(r.p99())/float64(f.hello.p99())), "—", true)
	}
}

// measureLogins signs up loginConc accounts (not timed), then has each client log in again and again.
func (b *bench) measureLogins(ctx context.Context, addr, base string) (loadResult, error) {
	o := b.opts
	tr := newTransport(addr, 2*o.loginConc)
	defer tr.CloseIdleConnections()
	clients := make([]*passkeyclient.Client, o.loginConc)
	tag := randomHex(4)
	if err := parallel(ctx, 8, o.loginConc, func(i int) error {
		clients[i] = passkeyclient.New(base, passkeyclient.Options{Transport: tr})
		return clients[i].SignUp(ctx, fmt.Sprintf("bench-login-%s-%d@example.com", tag, i), "Bench User")
	}); err != nil {
		return loadResult{}, fmt.Errorf("sign-up: %w", err)
	}
	r := runLoad(ctx, o.loginConc, o.loginWarmup, o.loginTime, func(w int) func() error {
		c := clients[w]
		return func() error {
			c.ClearCookies()
			_, err := c.LogIn(ctx)
			return err
		}
	})
	if f := r.failure(); f != "" {
		return r, errors.New(f)
	}
	return r, nil
}

// storedRows seeds users and sessions into the running Latchkey's database in two steps and measures
// /home's p99 with the seeded sessions' cookies after each, then the process's RSS.
func (b *bench) storedRows(ctx context.Context, t *table, p *proc, env map[string]string, client *http.Client, base string) {
	o := b.opts
	small := fmt.Sprintf("`/home` p99 with %s stored sessions", thousands(int64(o.sessionsSmall)))
	big := fmt.Sprintf("`/home` p99 with %s stored sessions", thousands(int64(o.sessionsBig)))
	rss := fmt.Sprintf("RSS with %s sessions and %s users", thousands(int64(o.sessionsBig)), thousands(int64(o.usersBig)))
	fail := func(err error) {
		b.logf("  stored sessions failed: %v", err)
		t.missing(small, "—", err)
		t.missing(big, "≤ 1.5× the fewer", err)
		t.missing(rss, "< 150 MB", err)
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		fail(err)
		return
	}
	b.logf("  seeding %s users, %s sessions", thousands(int64(o.usersSmall)), thousands(int64(o.sessionsSmall)))
	t0 := time.Now()
	first, err := seed(ctx, cfg, o.usersSmall, o.sessionsSmall)
	if err != nil {
		fail(err)
		return
	}
	b.logf("    seeded in %s", ms(time.Since(t0)))
	r1 := b.homeWithCookies(ctx, client, base, first)
	if f := r1.failure(); f != "" {
		fail(errors.New(f))
		return
	}
	b.logf("    /home with %s cookies: %s, p99 %s", thousands(int64(len(first))), perSec(r1.perSecond(), "req/s"), ms(r1.p99()))

	b.logf("  seeding up to %s users, %s sessions", thousands(int64(o.usersBig)), thousands(int64(o.sessionsBig)))
	t0 = time.Now()
	more, err := seed(ctx, cfg, o.usersBig-o.usersSmall, o.sessionsBig-o.sessionsSmall)
	if err != nil {
		fail(err)
		return
	}
	b.logf("    seeded in %s", ms(time.Since(t0)))
	// The same shape as the first measurement — as many sessions, of as many users, each with all its
	// sessions — but of users picked at random among all of them: only the number stored differs.
	// (seed spreads session i over user i % users, so a user's sessions are every users-th cookie.)
	newUsers := o.usersBig - o.usersSmall
	perUser := len(first) / o.usersSmall
	sample := make([]string, 0, len(first))
	for _, u := range rand.Perm(newUsers)[:min(o.usersSmall, newUsers)] {
		for k := range perUser {
			if i := u + k*newUsers; i < len(more) {
				sample = append(sample, more[i])
			}
		}
	}
	r2 := b.homeWithCookies(ctx, client, base, sample)
	if f := r2.failure(); f != "" {
		t.add(small, ms(r1.p99()), "—", "—", "—", true)
		t.missing(big, "≤ 1.5× the fewer", errors.New(f))
		t.missing(rss, "< 150 MB", errors.New(f))
		return
	}
	b.logf("    /home with %s of them: %s, p99 %s", thousands(int64(len(sample))), perSec(r2.perSecond(), "req/s"), ms(r2.p99()))
	x := float64(r2.p99()) / float64(r1.p99())
	t.add(small, ms(r1.p99()), "—", "—", "—", true)
	t.add(big, ms(r2.p99()), "with "+thousands(int64(o.sessionsSmall))+": "+ms(r1.p99()), times(x), "≤ 1.5× the fewer", x <= 1.5)
	n, err := readRSS(p.cmd.Process.Pid)
	if err != nil || p.exited() {
		t.missing(rss, "< 150 MB", fmt.Errorf("read RSS: %v", err))
		return
	}
	b.logf("    RSS %.1f MB", float64(n)/1e6)
	t.add(rss, fmt.Sprintf("%.1f MB", float64(n)/1e6), "—", "—", "< 150 MB", n < targetRSS)
}

// homeWithCookies loads /home (full page) with cookies in turn: each worker starts at its own and steps
// by the number of workers, so the warm-up visits every one.
func (b *bench) homeWithCookies(ctx context.Context, client *http.Client, base string, cookies []string) loadResult {
	o := b.opts
	hdrs := cookieHeaders(cookies)
	return runLoad(ctx, o.conc, o.warmup, o.measure, func(w int) func() error {
		return getOp(ctx, client, base+"/home", nil, hdrs, w, o.conc)
	})
}

// measureStart is the median time from exec to the first page over startRuns starts, each on a fresh
// database.
func (b *bench) measureStart(ctx context.Context, m mode) (fresh, joining time.Duration, err error) {
	var fs, js []time.Duration
	for i := range b.opts.startRuns {
		port, err := freePort()
		if err != nil {
			return 0, 0, err
		}
		env, err := b.res.env(ctx, m, port)
		if err != nil {
			return 0, 0, err
		}
		d, err := startToFirstPage(ctx, b.bin, env, b.dir, filepath.Join(b.dir, fmt.Sprintf("%s-start-%d.log", m.name, i)))
		if err != nil {
			return 0, 0, err
		}
		fs = append(fs, d)
		if !m.postgres {
			continue
		}
		// Again on the database the first start migrated.
		if port, err = freePort(); err != nil {
			return 0, 0, err
		}
		env["LATCHKEY_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
		env["LATCHKEY_PUBLIC_URL"] = fmt.Sprintf("http://localhost:%d", port)
		d, err = startToFirstPage(ctx, b.bin, env, b.dir, filepath.Join(b.dir, fmt.Sprintf("%s-start-%d-again.log", m.name, i)))
		if err != nil {
			return 0, 0, err
		}
		js = append(js, d)
	}
	median := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	return median(fs), median(js), nil
}
