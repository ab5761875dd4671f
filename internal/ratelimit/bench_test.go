package ratelimit

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
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
