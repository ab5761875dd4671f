package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/internal/testredis"
	"github.com/redis/rueidis"
)

// newRedisClient is one instance's connection to the test Redis (at addr, when given, instead of the
// URL's), closed when the test ends.
func newRedisClient(t testing.TB, url, addr string) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		opt.InitAddress = []string{addr}
	}
	opt.Dialer.Timeout = time.Second
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("connect to Redis: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// newTestRedis is a RedisLimiter for tests that are not about Redis being slow: a timeout loose enough
// that a busy machine never makes it fall back, which the test would see as a failure.
func newTestRedis(c rueidis.Client, prefix string, perPeriod int, period time.Duration, log *slog.Logger) *RedisLimiter {
	l := NewRedis(c, prefix, perPeriod, period, log)
	l.timeout = 10 * time.Second
	return l
}

// logRecorder is a slog handler's output, safe for concurrent writes.
type logRecorder struct{ testlog.Buffer }

func (r *logRecorder) logger() *slog.Logger { return slog.New(slog.NewTextHandler(r, nil)) }

// lines are the records logged at level ("WARN", "INFO").
func (r *logRecorder) lines(level string) []string {
	var out []string
	for _, l := range strings.Split(r.String(), "\n") {
		if strings.Contains(l, "level="+level+" ") {
			out = append(out, l)
		}
	}
	return out
}

func TestRedisKey(t *testing.T) {
	l := NewRedis(nil, "latchkey:", 1, time.Second, nil)
	for _, tc := range []struct{ class, client, want string }{
		{"begin", "192.0.2.1", "latchkey:rl:begin:192.0.2.1"},
		{"begin", "::ffff:192.0.2.1", "latchkey:rl:begin:192.0.2.1"},
		{"finish", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "latchkey:rl:finish:2001:db8:1:2::/64"},
		{"finish", "fe80::1%eth0", "latchkey:rl:finish:fe80::/64"},
		{"a:b", "192.0.2.1", "latchkey:rl:a%3Ab:192.0.2.1"},
		{"100%", "192.0.2.1", "latchkey:rl:100%25:192.0.2.1"},
		{"recovery-account", "email:alice@example.com", "latchkey:rl:recovery-account:#"},
		{"begin", "2001:db8:1:2::/64", "latchkey:rl:begin:#"}, // a string, not the /64 it reads like
	} {
		t.Run(tc.class+" "+tc.client, func(t *testing.T) {
			got := l.redisKey(tc.class, tc.client)
			if strings.HasSuffix(tc.want, "#") {
				if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+22 || strings.Contains(got, "alice") {
					t.Errorf("redisKey = %q, want %q and 22 characters of a hash", got, tc.want)
				}
				return
			}
			if got != tc.want {
				t.Errorf("redisKey = %q, want %q", got, tc.want)
			}
		})
	}
	if a, b := l.redisKey("x", "email:a@example.com"), l.redisKey("x", "email:b@example.com"); a == b {
		t.Errorf("two strings share the key %q", a)
	}
	if a, b := l.redisKey("a:b", "192.0.2.1"), l.redisKey("a", "b:192.0.2.1"); a == b {
		t.Errorf("class a:b and class a share the key %q", a)
	}
}

// Two instances (two clients of one Redis) draw on one budget: perPeriod requests in all, then a refusal
// with the wait a single Limiter would give.
func TestRedisLimiterSharesOneBudget(t *testing.T) {
	url, prefix := testredis.URL(t)
	var logs logRecorder
	const perPeriod, period = 5, 10 * time.Minute
	a := newTestRedis(newRedisClient(t, url, ""), prefix, perPeriod, period, logs.logger())
	b := newTestRedis(newRedisClient(t, url, ""), prefix, perPeriod, period, logs.logger())
	instances := []*RedisLimiter{a, b}
	for i := 0; i < perPeriod; i++ {
		if ok, wait := instances[i%2].Allow("begin", "192.0.2.1"); !ok {
			t.Fatalf("request %d (instance %d) refused within the budget (wait %v)", i+1, i%2, wait)
		}
	}
	interval := period / perPeriod
	for i, l := range instances {
		ok, wait := l.Allow("begin", "192.0.2.1")
		if ok {
			t.Fatalf("instance %d allowed request %d of a budget of %d shared by two instances", i, perPeriod+1+i, perPeriod)
		}
		if wait <= interval-time.Minute || wait > interval {
			t.Errorf("instance %d refused with a wait of %v, want just under %v", i, wait, interval)
		}
	}
	if ok, _ := b.Allow("begin", "192.0.2.2"); !ok {
		t.Error("another client was refused: buckets are not per client")
	}
	if w := logs.lines("WARN"); len(w) > 0 {
		t.Errorf("Redis failed during the test: %v", w)
	}
}

// A bucket refills one token per interval up to its burst, and its key is gone once it is full again.
func TestRedisLimiterRefills(t *testing.T) {
	t.Parallel()
	url, prefix := testredis.URL(t)
	c := newRedisClient(t, url, "")
	const perPeriod, period = 2, 3 * time.Second // a token every 1.5 s
	interval := period / perPeriod
	l := newTestRedis(c, prefix, perPeriod, period, nil)
	for i := 0; i < perPeriod; i++ {
		if ok, _ := l.Allow("begin", "192.0.2.1"); !ok {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	ok, wait := l.Allow("begin", "192.0.2.1")
	if ok || wait <= 0 || wait > interval {
		t.Fatalf("request %d: ok=%v wait=%v, want refused with a wait of at most %v", perPeriod+1, ok, wait, interval)
	}
	time.Sleep(wait + 100*time.Millisecond)
	if ok, wait := l.Allow("begin", "192.0.2.1"); !ok {
		t.Fatalf("refused (wait %v) after waiting Retry-After", wait)
	}
	if ok, _ := l.Allow("begin", "192.0.2.1"); ok {
		t.Error("one interval refilled two tokens")
	}
	time.Sleep(period + 200*time.Millisecond)
	key := prefix + "rl:begin:192.0.2.1"
	if n, err := c.Do(context.Background(), c.B().Exists().Key(key).Build()).AsInt64(); err != nil || n != 0 {
		t.Errorf("EXISTS %s = %d, %v after the bucket refilled; want it expired", key, n, err)
	}
	for i := 0; i < perPeriod; i++ {
		if ok, _ := l.Allow("begin", "192.0.2.1"); !ok {
			t.Fatalf("after a full period, request %d refused: the bucket did not refill to its burst", i+1)
		}
	}
	if ok, _ := l.Allow("begin", "192.0.2.1"); ok {
		t.Error("a full period refilled more than the burst")
	}
}

// Which addresses share a bucket is the same as for Limiter: the whole IPv6 /64, IPv4-mapped addresses as
// IPv4, strings as themselves.
func TestRedisLimiterKeysLikeLimiter(t *testing.T) {
	url, prefix := testredis.URL(t)
	c := newRedisClient(t, url, "")
	for i, tc := range keyingCases() {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestRedis(c, fmt.Sprintf("%s%d:", prefix, i), 3, time.Minute, nil)
			for _, ip := range tc.exhaust {
				if ok, _ := l.Allow("begin", ip); !ok {
					t.Fatalf("%s refused within the budget", ip)
				}
			}
			ok, wait := l.Allow("begin", tc.probe)
			if ok != tc.wantOK {
				t.Fatalf("Allow(%s) = %v (wait %v), want %v", tc.probe, ok, wait, tc.wantOK)
			}
			if !ok && (wait <= 10*time.Second || wait > 20*time.Second) {
				t.Errorf("refused with a wait of %v, want just under 20s", wait)
			}
		})
	}
}

// Each class is its own budget in Redis too.
func TestRedisLimiterClassesHaveSeparateBudgets(t *testing.T) {
	url, prefix := testredis.URL(t)
	c := newRedisClient(t, url, "")
	classes := []string{"begin", "finish", "exchange", "autofill"}
	for i, exhausted := range classes {
		t.Run(exhausted, func(t *testing.T) {
			l := newTestRedis(c, fmt.Sprintf("%s%d:", prefix, i), 3, time.Minute, nil)
			for i := 0; i < 3; i++ {
				l.Allow(exhausted, "2001:db8::1")
			}
			if ok, wait := l.Allow(exhausted, "2001:db8::2"); ok {
				t.Fatalf("%s over budget allowed (wait %v)", exhausted, wait)
			}
			for _, other := range classes {
				if other == exhausted {
					continue
				}
				for i := 0; i < 3; i++ {
					if ok, wait := l.Allow(other, "2001:db8::3"); !ok {
						t.Errorf("%s request %d refused (wait %v) after %s was used up", other, i+1, wait, exhausted)
					}
				}
			}
		})
	}
}

// A bucket's key expires when the bucket would be full again: Redis holds only recently active clients.
func TestRedisLimiterKeysExpire(t *testing.T) {
	url, prefix := testredis.URL(t)
	c := newRedisClient(t, url, "")
	l := newTestRedis(c, prefix, 3, time.Minute, nil) // a token every 20 s
	key := prefix + "rl:finish:2001:db8:1:2::/64"
	pttl := func() time.Duration {
		t.Helper()
		ms, err := c.Do(context.Background(), c.B().Pttl().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatalf("PTTL %s: %v", key, err)
		}
		return time.Duration(ms) * time.Millisecond
	}
	if d := pttl(); d != -2*time.Millisecond {
		t.Fatalf("PTTL before any request = %v, want no key", d)
	}
	l.Allow("finish", "2001:db8:1:2::1")
	if d := pttl(); d <= 10*time.Second || d > 20*time.Second {
		t.Errorf("PTTL after one request = %v, want just under 20s (one interval)", d)
	}
	l.Allow("finish", "2001:db8:1:2::2")
	l.Allow("finish", "2001:db8:1:2::3")
	full := pttl()
	if full <= 50*time.Second || full > time.Minute {
		t.Errorf("PTTL after three requests = %v, want just under 1m (the whole period)", full)
	}
	if ok, _ := l.Allow("finish", "2001:db8:1:2::4"); ok {
		t.Fatal("fourth request of a budget of three allowed")
	}
	if d := pttl(); d > full {
		t.Errorf("a refused request extended the key's life from %v to %v", full, d)
	}
}

// Sixteen goroutines on two instances hammering one bucket get exactly its budget, no more.
func TestRedisLimiterConcurrentInstances(t *testing.T) {
	url, prefix := testredis.URL(t)
	var logs logRecorder
	const perPeriod = 25
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		l := newTestRedis(newRedisClient(t, url, ""), prefix, perPeriod, time.Hour, logs.logger())
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 40 {
					if ok, _ := l.Allow("exchange", "198.51.100.7"); ok {
						allowed.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	if n := allowed.Load(); n != perPeriod {
		t.Errorf("%d of 640 requests allowed, want exactly the budget %d", n, perPeriod)
	}
	if w := logs.lines("WARN"); len(w) > 0 {
		t.Errorf("Redis failed during the test: %v", w)
	}
}

// proxy stands between a Redis client and Redis, so a test can make Redis go away and come back: it
// passes connections through, refuses them (accepts and hangs up), or swallows them (never answers).
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  string // "pass", "refuse" or "blackhole"
	conns map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, mode: "pass", conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		_ = ln.Close()
		p.set("refuse")
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

// set switches the mode, cutting every connection open so far.
func (p *proxy) set(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "refuse" {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) serve(c net.Conn) {
	p.mu.Lock()
	mode := p.mode
	p.mu.Unlock()
	switch mode {
	case "blackhole":
		if p.track(c) {
			_, _ = io.Copy(io.Discard, c)
		}
	case "pass":
		up, err := net.Dial("tcp", p.target)
		if err != nil || !p.track(c, up) {
			_ = c.Close()
			return
		}
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		_, _ = io.Copy(c, up)
	}
	_ = c.Close()
}

// Without Redis, requests are limited per process with the same limits, the failure is logged once a
// minute at most, and when Redis answers again the shared budget applies again.
func TestRedisLimiterFallsBackWhenRedisFails(t *testing.T) {
	url, prefix := testredis.URL(t)
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, opt.InitAddress[0])
	direct := newRedisClient(t, url, "")
	via := newRedisClient(t, url, px.ln.Addr().String())
	var logs logRecorder
	var offset atomic.Int64 // the limiter's clock runs ahead by this much, so the test can skip time
	l := NewRedis(via, prefix, 3, time.Hour, logs.logger())
	l.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	skip := func(d time.Duration) { offset.Add(int64(d)) }
	inRedis := func(client string) bool {
		t.Helper()
		key := l.redisKey("begin", client)
		n, err := direct.Do(context.Background(), direct.B().Exists().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatalf("EXISTS %s: %v", key, err)
		}
		return n == 1
	}
	warnings := func(want int) {
		t.Helper()
		if w := logs.lines("WARN"); len(w) != want {
			t.Fatalf("%d warnings logged, want %d:\n%s", len(w), want, logs.String())
		}
	}
	// exhaust expects want allowed requests from client, then a refusal with a wait of about one interval
	// (20 min): the budget of 3 per hour.
	exhaust := func(client string, want int) {
		t.Helper()
		for i := 0; i < want; i++ {
			if ok, wait := l.Allow("begin", client); !ok {
				t.Fatalf("%s: request %d of %d refused (wait %v)", client, i+1, want, wait)
			}
		}
		if ok, wait := l.Allow("begin", client); ok || wait <= 19*time.Minute || wait > 20*time.Minute {
			t.Fatalf("%s: request %d: ok=%v wait=%v, want refused for just under 20m", client, want+1, ok, wait)
		}
	}

	if ok, _ := l.Allow("begin", "192.0.2.1"); !ok || !inRedis("192.0.2.1") {
		t.Fatalf("with Redis up: allowed %v, in Redis %v; want both", ok, inRedis("192.0.2.1"))
	}
	warnings(0)

	px.set("refuse")        // Redis hangs up
	exhaust("192.0.2.1", 2) // the process saw its first request: two left, as in Redis
	exhaust("192.0.2.2", 3)
	if inRedis("192.0.2.2") {
		t.Error("a request with Redis down reached Redis")
	}
	warnings(1)
	if w := logs.lines("WARN")[0]; !strings.Contains(w, "Redis did not answer") || strings.Contains(w, prefix) {
		t.Errorf("warning %q: want it to say Redis did not answer, without keys", w)
	}

	skip(2 * time.Second) // past the retry delay: Redis is asked again, still fails, no new warning
	exhaust("192.0.2.3", 3)
	warnings(1)
	skip(time.Minute) // a minute on: one more warning
	exhaust("192.0.2.4", 3)
	warnings(2)

	px.set("blackhole") // Redis accepts connections but never answers: the timeout decides
	skip(2 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		exhaust("192.0.2.5", 3)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Allow hung on a Redis that never answers")
	}
	warnings(2)

	px.set("pass") // Redis is back: after the retry delay, buckets are in Redis again
	deadline := time.Now().Add(20 * time.Second)
	for !inRedis("203.0.113.9") {
		if time.Now().After(deadline) {
			t.Fatalf("Redis never used again after it came back:\n%s", logs.String())
		}
		skip(2 * time.Second)
		l.Allow("begin", "203.0.113.9")
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(logs.lines("INFO")); n != 1 {
		t.Errorf("%d notes that Redis answers again, want 1:\n%s", n, logs.String())
	}
	// Another instance, straight to Redis, spends a client's budget; this one must then refuse that
	// client. The connection the proxy gave back can still break once more (rueidis redials while the
	// proxy's old connections close), and such a request is limited per process for the retry delay, so
	// each try uses a fresh client (the per-process fallback would allow it) a retry delay later.
	other := newTestRedis(direct, prefix, 3, time.Hour, nil)
	shared := false
	for try := 0; try < 5 && !shared; try++ {
		client := fmt.Sprintf("198.51.100.%d", 10+try)
		for i := 0; i < 3; i++ {
			if ok, _ := other.Allow("begin", client); !ok {
				t.Fatalf("the other instance's request %d for %s refused", i+1, client)
			}
		}
		skip(2 * time.Second)
		ok, _ := l.Allow("begin", client)
		shared = !ok
	}
	if !shared {
		t.Errorf("after Redis came back, the budget the other instance spent was not shared (5 tries):\n%s", logs.String())
	}

	// Redis goes away again: after recovery, the next failure is logged again (once the minute is up).
	// (Not via.Close(): a closed rueidis client whose last dial timed out redials on the next call, so
	// what a closed client does depends on rueidis's history; TestRedisLimiterClosedClient covers a
	// client closed from the start.)
	px.set("refuse")
	skip(2 * time.Second)
	exhaust("198.51.100.2", 3)
	skip(time.Minute)
	exhaust("198.51.100.3", 3)
	warnings(3)
	if w := logs.lines("WARN")[2]; !strings.Contains(w, "Redis did not answer") || !strings.Contains(w, " err=") {
		t.Errorf("warning %q: want it to say Redis did not answer, and why", w)
	}
}

// A RedisLimiter that cannot reach Redis at all from the start limits per process.
func TestRedisLimiterClosedClient(t *testing.T) {
	url, prefix := testredis.URL(t)
	c := newRedisClient(t, url, "")
	c.Close()
	var logs logRecorder
	l := NewRedis(c, prefix, 2, time.Minute, logs.logger())
	for i := 0; i < 2; i++ {
		if ok, _ := l.Allow("begin", "192.0.2.1"); !ok {
			t.Fatalf("request %d refused within the budget", i+1)
		}
	}
	if ok, wait := l.Allow("begin", "192.0.2.1"); ok || wait <= 29*time.Second || wait > 30*time.Second {
		t.Errorf("third request: ok=%v wait=%v, want refused for just under 30s, as by a Limiter", ok, wait)
	}
	if w := logs.lines("WARN"); len(w) != 1 {
		t.Errorf("%d warnings, want 1:\n%s", len(w), logs.String())
	}
	if !errors.Is(c.Do(context.Background(), c.B().Ping().Build()).Error(), rueidis.ErrClosing) {
		t.Fatal("the client is not closed")
	}
}
