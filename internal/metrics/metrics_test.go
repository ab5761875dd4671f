package metrics

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/metricstest"
	"github.com/latchkey/latchkey/internal/testlog"
)

// value is the value of the series name{labels} on m's registry; ok is false when there is none.
func value(t *testing.T, m *Metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return metricstest.Sample(f, labels)
		}
	}
	return 0, false
}

// Every series exists from the start at 0, so a rate over it is defined before the first failure; the
// runtime and process collectors are there; nothing is registered on the global default registry.
func TestEverySeriesIsThereFromTheStart(t *testing.T) {
	t.Parallel()
	m := New(Options{ActiveSessions: func(context.Context) (int64, error) { return 3, nil }})
	for name, reasons := range map[string][]string{
		"latchkey_signup_failures_total":           SignupReasons(),
		"latchkey_login_failures_total":            LoginReasons(),
		"latchkey_session_exchange_failures_total": ExchangeReasons(),
	} {
		for _, r := range reasons {
			if v, ok := value(t, m, name, map[string]string{"reason": r}); !ok || v != 0 {
				t.Errorf("%s{reason=%q} = %v (present %v), want 0", name, r, v, ok)
			}
		}
	}
	for _, name := range []string{"latchkey_signups_total", "latchkey_logins_total", "latchkey_sessions_started_total"} {
		if v, ok := value(t, m, name, nil); !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", name, v, ok)
		}
	}
	for _, class := range RateLimitClasses() {
		if _, ok := value(t, m, "latchkey_rate_limited_total", map[string]string{"class": class}); !ok {
			t.Errorf("no latchkey_rate_limited_total{class=%q}", class)
		}
	}
	for _, cs := range [][2]string{{"registration", "begin"}, {"registration", "finish"}, {"login", "begin"}, {"login", "finish"}, {"session", "exchange"}} {
		if _, ok := value(t, m, "latchkey_ceremony_duration_seconds", map[string]string{"ceremony": cs[0], "step": cs[1]}); !ok {
			t.Errorf("no latchkey_ceremony_duration_seconds{ceremony=%q,step=%q}", cs[0], cs[1])
		}
	}
	if v, ok := value(t, m, "latchkey_active_sessions", nil); !ok || v != 3 {
		t.Errorf("latchkey_active_sessions = %v (present %v), want 3", v, ok)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := value(t, m, name, nil); !ok {
			t.Errorf("no %s", name)
		}
	}
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "latchkey_") {
			t.Errorf("%s is on the global default registry", f.GetName())
		}
	}
}

func TestOutcomesAndSteps(t *testing.T) {
	t.Parallel()
	m := New(Options{})
	m.Login.Succeeded()
	m.Login.Succeeded()
	m.Login.Failed(ReasonUnknownPasskey)
	m.Login.Failed(ReasonEmailTaken) // not a log-in reason: counted as other
	m.Login.Failed("<script>")       // never a new label value
	m.Signup.Failed(ReasonEmailTaken)
	m.Step(CeremonyLogin, StepFinish).Observe(0.002)
	m.Step("bogus", "step").Observe(1) // goes nowhere
	m.RateLimited("begin").Inc()
	m.RateLimited("bogus").Inc() // goes nowhere
	var none *Outcomes
	none.Succeeded()
	none.Failed(ReasonInternal)

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"latchkey_logins_total", nil, 2},
		{"latchkey_login_failures_total", map[string]string{"reason": "unknown_passkey"}, 1},
		{"latchkey_login_failures_total", map[string]string{"reason": "other"}, 2},
		{"latchkey_signup_failures_total", map[string]string{"reason": "email_taken"}, 1},
		{"latchkey_signups_total", nil, 0},
		{"latchkey_ceremony_duration_seconds", map[string]string{"ceremony": "login", "step": "finish"}, 1},
		{"latchkey_ceremony_duration_seconds", map[string]string{"ceremony": "login", "step": "begin"}, 0},
		{"latchkey_rate_limited_total", map[string]string{"class": "begin"}, 1},
	} {
		if got, _ := value(t, m, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	families, _ := m.Registry().Gather()
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if strings.Contains(l.GetValue(), "<") || l.GetValue() == "bogus" {
					t.Errorf("%s has the label value %q", f.GetName(), l.GetValue())
				}
			}
		}
	}
}

// Counting on a request path allocates nothing.
func TestCountingDoesNotAllocate(t *testing.T) {
	m := New(Options{})
	step := m.Step(CeremonySession, StepExchange)
	limited := m.RateLimited("exchange")
	if n := testing.AllocsPerRun(1000, func() {
		m.Login.Succeeded()
		m.Login.Failed(ReasonRejected)
		m.Exchange.Failed(ReasonTokenExpired)
		step.Observe(0.0003)
		limited.Inc()
	}); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

// The active sessions count runs at most once per TTL, however many scrapes come (at once or not); a
// failure is logged, reported as NaN and not retried before the TTL either.
func TestActiveSessionsAreCountedAtMostOncePerTTL(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	calls, sessions := 0, int64(5)
	var fail error
	count := func(ctx context.Context) (int64, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("counted without a deadline")
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		return sessions, fail
	}
	logs := &testlog.Buffer{}
	m := New(Options{ActiveSessions: count, Log: slog.New(slog.NewTextHandler(logs, nil)), now: clock})
	gauge := func() float64 {
		v, _ := value(t, m, "latchkey_active_sessions", nil)
		return v
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _ = gauge() })
	}
	wg.Wait()
	if calls != 1 || gauge() != 5 {
		t.Fatalf("%d counts for 9 scrapes at once, gauge %v; want 1 and 5", calls, gauge())
	}
	mu.Lock()
	sessions = 7
	mu.Unlock()
	advance(ActiveSessionsTTL - time.Millisecond)
	if g := gauge(); g != 5 || calls != 1 {
		t.Errorf("within the TTL: gauge %v after %d counts, want the cached 5 after 1", g, calls)
	}
	advance(time.Millisecond)
	if g := gauge(); g != 7 || calls != 2 {
		t.Errorf("after the TTL: gauge %v after %d counts, want 7 after 2", g, calls)
	}
	mu.Lock()
	fail = errors.New("database is closed")
	mu.Unlock()
	advance(ActiveSessionsTTL)
	if g := gauge(); !math.IsNaN(g) || calls != 3 {
		t.Errorf("failed count: gauge %v after %d counts, want NaN after 3", g, calls)
	}
	if g := gauge(); !math.IsNaN(g) || calls != 3 {
		t.Errorf("failed count is retried before the TTL: gauge %v after %d counts", g, calls)
	}
	if !strings.Contains(logs.String(), "counting active sessions for /metrics failed") || !strings.Contains(logs.String(), "database is closed") {
		t.Errorf("failure not logged:\n%s", logs.String())
	}
}

func TestHandlerServesTheTextFormat(t *testing.T) {
	t.Parallel()
	m := New(Options{})
	m.Signup.Succeeded()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "\nlatchkey_signups_total 1\n") || !strings.Contains(body, "# HELP latchkey_signups_total ") {
		t.Errorf("status %d body:\n%s", rec.Code, body)
	}
}

// BenchmarkCounting is the per-request cost of the metrics: a latency observation and an outcome.
func BenchmarkCounting(b *testing.B) {
	m := New(Options{})
	step := m.Step(CeremonyLogin, StepFinish)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		m.Login.Failed(ReasonRejected)
		step.Observe(time.Since(start).Seconds())
	}
}

// BenchmarkScrape is the cost of one GET /metrics (the text format, every series, runtime and process
// collectors included, the active sessions count cached).
func BenchmarkScrape(b *testing.B) {
	m := New(Options{ActiveSessions: func(context.Context) (int64, error) { return 42, nil }})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
