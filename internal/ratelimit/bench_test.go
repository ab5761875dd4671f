package ratelimit

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testredis"
)

// BenchmarkAllowFullTable measures Allow on a table already at its cap of DefaultMaxKeys buckets, at the
// default budget (30/min): three requests in four come from 10,000 clients the table holds, the fourth
// from a client never seen (or long evicted), so it takes a lookup miss, an eviction and an insert.
func BenchmarkAllowFullTable(b *testing.B) {
	ipv4 := func(i int) string {
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
	}
	ipv6 := func(i int) string { return fmt.Sprintf("2001:db8:%x:%x:1:2:3:4", i>>16, i&0xffff) }
	const (
		hot  = 10_000             // clients the table holds and that keep coming back
		cold = 4 * DefaultMaxKeys // clients seen once per cycle: always a miss, always an eviction
	)
	classes := []string{"begin", "finish", "exchange"}
	setup := func(b *testing.B, addr func(int) string) (l *Limiter, hotKeys, coldKeys []string) {
		b.Helper()
		l = New(30, time.Minute, nil)
		for i := 0; i < hot; i++ {
			hotKeys = append(hotKeys, addr(i))
		}
		for i := 0; i < cold; i++ {
			coldKeys = append(coldKeys, addr(hot+i))
		}
		for i := 0; l.Len() < DefaultMaxKeys; i++ { // fill the table: cold clients, then the hot ones on top
			l.Allow(classes[i%3], coldKeys[len(coldKeys)-1-i])
		}
		for i, k := range hotKeys {
			l.Allow(classes[i%3], k)
		}
		if l.Len() != DefaultMaxKeys {
			b.Fatalf("table holds %d, want %d", l.Len(), DefaultMaxKeys)
		}
		return l, hotKeys, coldKeys
	}
	request := func(l *Limiter, hotKeys, coldKeys []string, i int) {
		if i%4 == 3 {
			l.Allow(classes[i%3], coldKeys[(i/4)%len(coldKeys)])
		} else {
			l.Allow(classes[i%3], hotKeys[(i*7919)%len(hotKeys)])
		}
	}
	for _, addr := range []struct {
		name string
		f    func(int) string
	}{{"ipv4", ipv4}, {"ipv6", ipv6}} {
		b.Run("serial/"+addr.name, func(b *testing.B) {
			l, hotKeys, coldKeys := setup(b, addr.f)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				request(l, hotKeys, coldKeys, i)
			}
		})
		b.Run("parallel/"+addr.name, func(b *testing.B) {
			l, hotKeys, coldKeys := setup(b, addr.f)
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1)) * 1_000_003 // each goroutine its own stretch of clients
				for pb.Next() {
					request(l, hotKeys, coldKeys, i)
					i++
				}
			})
		})
	}
}

// BenchmarkRedisAllow measures RedisLimiter.Allow against the test Redis at the default budget (30/min):
// one script run per request, over 10,000 IPv4 clients and three classes, so most requests are allowed
// and write their bucket. Serial is one round trip at a time; parallel lets rueidis pipeline the
// requests of 8×GOMAXPROCS goroutines (concurrent HTTP requests) on its connection.
func BenchmarkRedisAllow(b *testing.B) {
	url, prefix := testredis.URL(b)
	const clients = 10_000
	keys := make([]string, clients)
	for i := range keys {
		keys[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String()
	}
	classes := []string{"begin", "finish", "exchange"}
	newLimiter := func(b *testing.B, name string) *RedisLimiter {
		var logs logRecorder
		l := newTestRedis(newRedisClient(b, url, ""), prefix+name+":", 30, time.Minute, logs.logger())
		b.Cleanup(func() {
			if w := logs.lines("WARN"); len(w) > 0 {
				b.Errorf("Redis failed during the benchmark: %v", w)
			}
		})
		return l
	}
	b.Run("serial", func(b *testing.B) {
		l := newLimiter(b, "serial")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			l.Allow(classes[i%3], keys[(i*7919)%clients])
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := newLimiter(b, "parallel")
		var seq atomic.Int64
		b.SetParallelism(8)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 1_000_003
			for pb.Next() {
				l.Allow(classes[i%3], keys[(i*7919)%clients])
				i++
			}
		})
	})
}
