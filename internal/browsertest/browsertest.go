// Package browsertest drives a real headless Chromium over the DevTools
// protocol (chromedp) for end-to-end tests, with a virtual WebAuthn
// authenticator so passkey ceremonies complete without a person.
//
// It is test support code: every function takes a testing.TB or a context
// made by [NewBrowser]. Use http://localhost:PORT for the pages under test,
// never 127.0.0.1: an IP address is not a valid WebAuthn RP ID.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumCandidates are the executables tried, in order, by [Chromium].
func chromiumCandidates() []string {
	return []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}
}

// Chromium returns the path of a Chromium (or Chrome) binary. When none is
// installed it skips the test, or fails it when the CI environment variable
// is set, so a CI run never silently skips the browser tests.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range chromiumCandidates() {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "Chromium not found: install it with apt-get install -y --no-install-recommends chromium " +
		"(or put chromium, chromium-browser or google-chrome on PATH)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

type collectorKey struct{}

// collector records the console errors, uncaught exceptions and Content
// Security Policy violations a browser reports.
type collector struct {
	t      testing.TB
	mu     sync.Mutex
	closed bool // set before the test ends: t.Log must not be called after
	errs   []string
	csp    []string
}

func (c *collector) logf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.t.Logf(format, args...)
	}
}

func (c *collector) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
}

// record stores one message; an error counts towards ConsoleErrors, a
// message mentioning Content Security Policy towards CSPViolations.
func (c *collector) record(msg string, isError bool) {
	isCSP := strings.Contains(msg, "Content Security Policy")
	if !isError && !isCSP {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if isError {
		c.errs = append(c.errs, msg)
	}
	if isCSP {
		c.csp = append(c.csp, msg)
	}
	if !c.closed {
		c.t.Logf("browser: %s", msg)
	}
}

func (c *collector) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		c.record("uncaught exception: "+exceptionText(ev.ExceptionDetails), true)
	case *runtime.EventConsoleAPICalled:
		isError := ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert
		c.record("console."+string(ev.Type)+": "+argsText(ev.Args), isError)
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil {
			return
		}
		msg := "[" + string(e.Source) + "] " + e.Text
		if e.URL != "" {
			msg += " (" + e.URL + ")"
		}
		isError := e.Level == log.LevelError
		// The browser asks for /favicon.ico on its own; a 404 there is not
		// an error of the page under test.
		if isError && e.Source == log.SourceNetwork && strings.HasSuffix(e.URL, "/favicon.ico") {
			c.logf("browser (ignored): %s", msg)
			return
		}
		c.record(msg, isError)
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "(no details)"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	if d.URL != "" {
		s += " (" + d.URL + ")"
	}
	return s
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a == nil:
		case a.Type == runtime.TypeString && len(a.Value) >= 2:
			parts = append(parts, strings.Trim(string(a.Value), `"`))
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// NewBrowser starts a fresh headless Chromium (its own temporary profile) and
// returns a chromedp context for one tab in it. The browser is closed when
// the test ends. Console errors, uncaught exceptions and CSP violations are
// logged with t.Log and can be read back with [ConsoleErrors] and
// [CSPViolations].
func NewBrowser(t testing.TB) context.Context {
	t.Helper()
	return newBrowser(t)
}

// NewBrowserResolving is [NewBrowser] for pages that call local fakes of remote HTTPS services: each
// host name in hosts resolves to its "ip:port" (Chromium's --host-resolver-rules, MAP host ip:port), and
// any TLS certificate is accepted (--ignore-certificate-errors), so httptest.NewTLSServer can stand in
// for https://host. Use it only for such tests.
func NewBrowserResolving(t testing.TB, hosts map[string]string) context.Context {
	t.Helper()
	names := make([]string, 0, len(hosts))
	for host := range hosts {
		names = append(names, host)
	}
	slices.Sort(names)
	rules := make([]string, 0, len(names))
	for _, host := range names {
		rules = append(rules, "MAP "+host+" "+hosts[host])
	}
	return newBrowser(t,
		chromedp.Flag("host-resolver-rules", strings.Join(rules, ", ")),
		chromedp.Flag("ignore-certificate-errors", true),
	)
}

// newBrowser starts the browser of NewBrowser, with extra allocator options after the usual ones.
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := Chromium(t)
	// Not t.TempDir: Chromium's helper processes may still write into the
	// profile for a moment after the browser exits, so removal retries.
	userDataDir, err := os.MkdirTemp("", "browsertest-profile-")
	if err != nil {
		t.Fatalf("create Chromium profile dir: %v", err)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)

	c := &collector{t: t}
	ctx, cancelCtx := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(c.logf),
		chromedp.WithErrorf(func(format string, args ...any) { c.logf("chromedp error: "+format, args...) }),
	)
	t.Cleanup(func() {
		c.close()
		// Close the browser gracefully so its helper processes exit too.
		if err := chromedp.Cancel(ctx); err != nil {
			t.Logf("close Chromium: %v", err)
		}
		cancelCtx()
		cancelAlloc()
		if err := removeAll(userDataDir, 5*time.Second); err != nil {
			t.Logf("remove Chromium profile: %v", err)
		}
	})
	chromedp.ListenTarget(ctx, c.listen)
	// Start the browser now, with a context that is never given a deadline:
	// the first Run allocates the browser and ties its life to that context.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return context.WithValue(ctx, collectorKey{}, c)
}

// removeAll removes dir, retrying while files still appear in it.
func removeAll(dir string, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		err := os.RemoveAll(dir)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func collectorFrom(ctx context.Context) *collector {
	c, _ := ctx.Value(collectorKey{}).(*collector)
	return c
}

// ConsoleErrors returns the console errors (console.error, browser error log
// entries such as failed loads and CSP violations) and uncaught exceptions
// recorded so far in a browser made by [NewBrowser].
func ConsoleErrors(ctx context.Context) []string {
	c := collectorFrom(ctx)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// CSPViolations returns the console messages recorded so far that mention a
// Content Security Policy, in a browser made by [NewBrowser].
func CSPViolations(ctx context.Context) []string {
	c := collectorFrom(ctx)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.csp...)
}
