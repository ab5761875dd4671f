package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// DefaultRedisTimeout bounds each Redis round trip of a RedisLimiter: a Redis answering slower than this
// counts as unreachable, and the request is limited per process instead.
const DefaultRedisTimeout = 200 * time.Millisecond

// redisRetryDelay is how long a RedisLimiter limits per process after Redis failed before asking Redis
// again, so an unreachable or slow Redis costs one timeout per delay, not one per request.
const redisRetryDelay = time.Second

// logEvery is how often at most a RedisLimiter logs that Redis failed.
const logEvery = time.Minute

// gcraScript is one token bucket in the generic cell rate algorithm's form, as Limiter keeps it: the key
// holds the bucket's theoretical arrival time in microseconds since the Unix epoch on Redis's own clock
// (so the instances' clocks do not matter); no key is a full bucket. Each allowed request pushes the time
// one interval on and makes the key expire when the bucket would be full again, so Redis holds only the
// clients active within the last period. A refused request changes nothing.
//
// KEYS[1] the bucket; ARGV[1] the interval, ARGV[2] the tolerance ((burst-1) × interval), both in µs.
// Returns {1, 0} when allowed, {0, µs until the next token} when refused.
const gcraScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local wait = tat - tolerance - now
if wait > 0 then
  return {0, wait}
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return {1, 0}
`

// RedisLimiter is a Limiter whose buckets live in Redis, so every instance sharing that Redis (and key
// prefix) draws on one budget per class and client. Burst, refill, client keys (an IPv4 address or an
// IPv6 /64) and classes are the Limiter's. Allow is safe for concurrent use.
//
// When Redis fails or takes longer than DefaultRedisTimeout, requests are limited by a per-process Limiter
// with the same limits (each instance its own budget: looser, never open, never locking anyone out) and
// the failure is logged at most once a minute. Redis is asked again a second later, and when it answers
// the shared budget applies again. The per-process Limiter is charged for every request Redis allows too,
// so a client that spent its budget here does not start afresh when Redis goes away.
type RedisLimiter struct {
	client    rueidis.Client
	prefix    string
	script    *rueidis.Lua
	args      []string // interval and tolerance in µs, as the script takes them
	local     *Limiter
	log       *slog.Logger
	timeout   time.Duration
	retry     time.Duration
	now       func() time.Time
	downUntil atomic.Int64 // Unix ns until which Redis is not asked; 0: Redis answered last time

	mu      sync.Mutex // guards the log state below
	lastLog time.Time  // when a failure was last logged
	logged  bool       // a failure was logged since Redis last answered
}

// NewRedis allows perPeriod requests at once per class and client, refilled evenly over period, counted
// in Redis under prefix+"rl:"+class+":"+client. Limiters sharing a client and prefix share the buckets of
// the classes they both use, so give each budget its own classes. log receives Redis failures (nil:
// discarded).
func NewRedis(client rueidis.Client, prefix string, perPeriod int, period time.Duration, log *slog.Logger) *RedisLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	perPeriod = max(perPeriod, 1)
	interval := max(period/time.Duration(perPeriod), time.Microsecond).Truncate(time.Microsecond)
	tolerance := interval * time.Duration(perPeriod-1)
	return &RedisLimiter{
		client:  client,
		prefix:  prefix,
		script:  rueidis.NewLuaScript(gcraScript),
		args:    []string{strconv.FormatInt(interval.Microseconds(), 10), strconv.FormatInt(tolerance.Microseconds(), 10)},
		local:   New(perPeriod, period, nil),
		log:     log,
		timeout: DefaultRedisTimeout,
		retry:   redisRetryDelay,
		now:     time.Now,
	}
}

// Allow takes a token from client's bucket for class; client is an IP address as ClientIP returns it, or
// any other string naming who is charged. When none is left it reports how long until the next one.
func (l *RedisLimiter) Allow(class, client string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	if until := l.downUntil.Load(); until != 0 && now.UnixNano() < until {
		return l.local.Allow(class, client)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	res, err := l.script.Exec(ctx, l.client, []string{l.redisKey(class, client)}, l.args).AsIntSlice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("rate limit script answered %v, want [allowed, wait]", res)
	}
	if err != nil {
		l.failed(now, err)
		return l.local.Allow(class, client)
	}
	if l.downUntil.Load() != 0 {
		l.recovered()
	}
	if res[0] == 1 {
		l.local.Allow(class, client) // keep the fallback's view of this instance's clients current
		return true, 0
	}
	return false, time.Duration(res[1]) * time.Microsecond
}

// failed notes that Redis did not answer: it is left alone for the retry delay, and the failure is
// logged unless one was within the last minute.
func (l *RedisLimiter) failed(now time.Time, err error) {
	l.downUntil.Store(now.Add(l.retry).UnixNano())
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lastLog.IsZero() && now.Sub(l.lastLog) < logEvery {
		return
	}
	l.lastLog, l.logged = now, true
	l.log.Warn("rate limits: Redis did not answer, limiting per process (each instance its own budget) until it does",
		"err", err, "timeout", l.timeout)
}

// recovered notes that Redis answers again, and says so if its failure was logged.
func (l *RedisLimiter) recovered() {
	l.downUntil.Store(0)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logged {
		l.logged = false
		l.log.Info("rate limits: Redis answers again; limits are shared by all instances again")
	}
}

// redisKey is the bucket's key: prefix+"rl:"+class+":"+client, where a ':' or '%' in class is
// percent-encoded (so the first ':' after the class ends it) and client is what Key shows for an IP
// address ("192.0.2.1", "2001:db8:1:2::/64"), or for anything else "#" and 22 characters of its SHA-256
// (so a key never shows an email address, and never collides with an address's).
func (l *RedisLimiter) redisKey(class, client string) string {
	var b strings.Builder
	b.Grow(len(l.prefix) + len("rl:") + len(class) + 1 + len("2001:db8:1:2::/64") + 8)
	b.WriteString(l.prefix)
	b.WriteString("rl:")
	for i := 0; i < len(class); i++ {
		switch c := class[i]; c {
		case ':', '%':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(':')
	switch a, raw := clientKey(client); {
	case !a.IsValid():
		sum := sha256.Sum256([]byte(raw))
		b.WriteByte('#')
		b.WriteString(base64.RawURLEncoding.EncodeToString(sum[:16]))
	case a.Is4():
		b.WriteString(a.String())
	default:
		b.WriteString(netip.PrefixFrom(a, 64).String())
	}
	return b.String()
}
