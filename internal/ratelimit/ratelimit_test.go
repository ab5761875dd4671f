package ratelimit

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestLimiterBurstThenRefill(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := New(3, time.Minute, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("begin", "1.2.3.4"); !ok {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	ok, wait := l.Allow("begin", "1.2.3.4")
	if ok || wait != 20*time.Second {
		t.Fatalf("4th request: ok=%v wait=%v, want refused with a wait of 20s", ok, wait)
	}
	if ok, _ := l.Allow("begin", "5.6.7.8"); !ok {
		t.Error("another client was refused: buckets are not per client")
	}
	now = now.Add(wait)
	if ok, _ := l.Allow("begin", "1.2.3.4"); !ok {
		t.Error("refused after waiting Retry-After")
	}
	if ok, _ := l.Allow("begin", "1.2.3.4"); ok {
		t.Error("a refused request must not have consumed a token it did not get, nor should one refill give two")
	}
	now = now.Add(time.Hour)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("begin", "1.2.3.4"); !ok {
			t.Fatalf("after an idle hour, request %d refused: the bucket did not refill to its burst", i+1)
		}
	}
	if ok, _ := l.Allow("begin", "1.2.3.4"); ok {
		t.Error("an idle hour refilled more than the burst")
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"@", "@"}, // a Unix socket peer: not an address, kept as it is
	} {
		t.Run(tc.ip, func(t *testing.T) {
			if got := Key(tc.ip); got != tc.want {
				t.Errorf("Key(%q) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
}

// keyingCase exhausts a budget of three with one request from each of exhaust, then asks for probe.
type keyingCase struct {
	name    string
	exhaust []string // one request each, three in all: the whole budget
	probe   string
	wantOK  bool
}

// keyingCases are which addresses draw on one bucket, for Limiter and RedisLimiter alike.
func keyingCases() []keyingCase {
	return []keyingCase{
		{"another address of the same /64", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"}, "2001:db8:1:2:1234:5678:9abc:def0", false},
		{"the same /64 with a zone", []string{"fe80::1", "fe80::2", "fe80::3"}, "fe80::4%eth0", false},
		{"the next /64", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}, "2001:db8:1:3::1", true},
		{"the neighbouring /64 below", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}, "2001:db8:1:1:ffff:ffff:ffff:ffff", true},
		{"IPv4-mapped IPv6 is the IPv4 client", []string{"::ffff:192.0.2.1", "192.0.2.1", "::ffff:192.0.2.1"}, "192.0.2.1", false},
		{"IPv4 clients are single addresses", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"}, "192.0.2.2", true},
		{"other clients are the string itself", []string{"email:a@example.com", "email:a@example.com", "email:a@example.com"}, "email:a@example.com", false},
		{"another string is another client", []string{"email:a@example.com", "email:a@example.com", "email:a@example.com"}, "email:b@example.com", true},
		{"a string that reads like a /64 is not that /64", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}, "2001:db8:1:2::/64", true},
	}
}

// A client is an IPv4 address or an IPv6 /64: every address of one /64 draws on one bucket.
func TestLimiterKeysIPv6BySlash64(t *testing.T) {
	for _, tc := range keyingCases() {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			l := New(3, time.Minute, func() time.Time { return now })
			for _, ip := range tc.exhaust {
				if ok, _ := l.Allow("begin", ip); !ok {
					t.Fatalf("%s refused within the budget", ip)
				}
			}
			ok, wait := l.Allow("begin", tc.probe)
			if ok != tc.wantOK {
				t.Fatalf("Allow(%s) = %v (wait %v), want %v", tc.probe, ok, wait, tc.wantOK)
			}
			if !ok && wait != 20*time.Second {
				t.Errorf("refused with a wait of %v, want 20s", wait)
			}
		})
	}
}

// A full table never refuses a new client: the least recently used bucket makes room.
func TestLimiterFloodDoesNotLockOutNewClients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flood  func(i int) (class, client string)
		client string
	}{
		{"200k IPv4 addresses", func(i int) (string, string) {
			return "begin", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		}, "192.0.2.1"},
		{"200k IPv6 /64s", func(i int) (string, string) {
			return "begin", fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff)
		}, "2001:db8:ffff:ffff::1"},
		{"200k keys over three classes", func(i int) (string, string) {
			return []string{"begin", "finish", "exchange"}[i%3], netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		}, "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			l := New(1, time.Hour, func() time.Time { return now }) // one request per client: easy to see who is tracked
			const flood = 200_000
			for i := 0; i < flood; i++ {
				class, client := tc.flood(i)
				if ok, _ := l.Allow(class, client); !ok {
					t.Fatalf("flood key %d (%s %s) refused: a new client was turned away", i, class, client)
				}
			}
			if n := l.Len(); n != DefaultMaxKeys {
				t.Errorf("%d buckets after the flood, want the cap %d", n, DefaultMaxKeys)
			}
			if c, s := cap(l.entries), len(l.slots); c != DefaultMaxKeys || s != 1<<18 {
				t.Errorf("memory for %d entries and %d slots, want %d and %d", c, s, DefaultMaxKeys, 1<<18)
			}
			checkList(t, l)
			for _, class := range []string{"begin", "finish", "exchange"} {
				if ok, wait := l.Allow(class, tc.client); !ok {
					t.Errorf("a brand-new client after the flood was refused on %s (wait %v)", class, wait)
				}
			}
			// The flood's most recent keys are still tracked (charged), its first ones were evicted.
			class, client := tc.flood(flood - 1)
			if ok, _ := l.Allow(class, client); ok {
				t.Errorf("the most recent flood key %s was forgotten", client)
			}
			class, client = tc.flood(0)
			if ok, _ := l.Allow(class, client); !ok {
				t.Errorf("the oldest flood key %s is still tracked in a full table", client)
			}
			if n := l.Len(); n != DefaultMaxKeys {
				t.Errorf("%d buckets at the end, want the cap %d", n, DefaultMaxKeys)
			}
		})
	}
}

// Begin, finish and exchange are separate budgets: a client that used up one can still do the others.
func TestLimiterClassesHaveSeparateBudgets(t *testing.T) {
	classes := []string{"begin", "finish", "exchange"}
	for _, exhausted := range classes {
		t.Run(exhausted, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			l := New(3, time.Minute, func() time.Time { return now })
			for i := 0; i < 3; i++ {
				l.Allow(exhausted, "192.0.2.1")
			}
			if ok, wait := l.Allow(exhausted, "192.0.2.1"); ok || wait != 20*time.Second {
				t.Fatalf("%s over budget: ok=%v wait=%v, want refused for 20s", exhausted, ok, wait)
			}
			for _, other := range classes {
				if other == exhausted {
					continue
				}
				for i := 0; i < 3; i++ {
					if ok, wait := l.Allow(other, "192.0.2.1"); !ok {
						t.Errorf("%s request %d refused (wait %v) after %s was used up", other, i+1, wait, exhausted)
					}
				}
			}
		})
	}
}

// Eviction keeps the most recently active clients: a request, even a refused one, makes a client recent.
func TestLimiterEvictsLeastRecentlyUsed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		probe  string
		wantOK bool // a tracked client has spent its one token; an evicted one comes back fresh
	}{
		{"A kept: its refused request made it recent", "10.0.0.1", false},
		{"B evicted: least recently used", "10.0.0.2", true},
		{"C kept", "10.0.0.3", false},
		{"D kept: the newest", "10.0.0.4", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			l := newLimiter(1, time.Hour, func() time.Time { return now }, 3)
			for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
				if ok, _ := l.Allow("begin", ip); !ok {
					t.Fatalf("%s refused", ip)
				}
			}
			if ok, _ := l.Allow("begin", "10.0.0.1"); ok {
				t.Fatal("A's second request allowed with a budget of one")
			}
			if ok, _ := l.Allow("begin", "10.0.0.4"); !ok {
				t.Fatal("D refused in a full table")
			}
			if n := l.Len(); n != 3 {
				t.Fatalf("%d buckets, want 3", n)
			}
			checkList(t, l)
			if ok, _ := l.Allow("begin", tc.probe); ok != tc.wantOK {
				t.Errorf("Allow(%s) = %v, want %v", tc.probe, ok, tc.wantOK)
			}
			checkList(t, l)
		})
	}
}

func TestLimiterConcurrentUse(t *testing.T) {
	l := newLimiter(5, time.Second, nil, 64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				l.Allow([]string{"begin", "finish", "exchange"}[i%3], fmt.Sprintf("10.0.%d.%d", g, i%100))
			}
		}()
	}
	wg.Wait()
	if n := l.Len(); n != 64 {
		t.Errorf("%d buckets, want the cap 64", n)
	}
	checkList(t, l)
}

// checkList verifies the recency list, the entries and the hash table agree: every entry reachable once
// from both ends of the list, and found by its key in the table.
func checkList(t *testing.T, l *Limiter) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	n, prev := 0, int32(-1)
	for i := l.head; i >= 0; i = l.entries[i].next {
		e := l.entries[i]
		if e.prev != prev {
			t.Fatalf("entry %d: prev %d, want %d", i, e.prev, prev)
		}
		if pos, ok := l.find(&e.key, e.hash); !ok || l.slots[pos].entry != i+1 {
			t.Fatalf("entry %d (%+v) not found in the hash table (found=%v)", i, e.key, ok)
		}
		prev = i
		if n++; n > len(l.entries) {
			t.Fatal("the recency list has a cycle")
		}
	}
	used := 0
	for _, s := range l.slots {
		if s.entry != 0 {
			used++
		}
	}
	if l.tail != prev || n != len(l.entries) || used != n {
		t.Fatalf("list of %d ending at %d, tail %d, %d entries, %d slots used", n, prev, l.tail, len(l.entries), used)
	}
	if 2*used > len(l.slots) {
		t.Fatalf("hash table %d of %d slots full, want at most half", used, len(l.slots))
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"no proxies: header ignored", "203.0.113.9:5555", "1.1.1.1", nil, "203.0.113.9"},
		{"untrusted peer: header ignored", "203.0.113.9:5555", "1.1.1.1", trusted, "203.0.113.9"},
		{"trusted proxy: client from header", "10.1.2.3:5555", "198.51.100.7", trusted, "198.51.100.7"},
		{"spoofed left-most entry ignored", "10.1.2.3:5555", "6.6.6.6, 198.51.100.7", trusted, "198.51.100.7"},
		{"chain of trusted proxies", "127.0.0.1:1", "198.51.100.7, 10.9.9.9", trusted, "198.51.100.7"},
		{"malformed hop stops the walk", "10.1.2.3:5555", "198.51.100.7, junk", trusted, "10.1.2.3"},
		{"IPv6 peer", "[2001:db8::1]:443", "", nil, "2001:db8::1"},
		{"IPv4-mapped IPv6 peer", "[::ffff:192.0.2.1]:80", "", nil, "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := ClientIP(r, tc.trusted); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParsePrefixesRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "1.2.3.4/x"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
}

// The hash table and recency list behave like the obvious map + container/list LRU, over a long random
// run with many evictions (keys are kept few and the table small so probe runs collide and shift).
func TestLimiterMatchesReferenceLRU(t *testing.T) {
	for _, tc := range []struct {
		name          string
		maxKeys, keys int
	}{
		{"table of 1", 1, 4},
		{"table of 7, 20 clients", 7, 20},
		{"table of 300, 1000 clients", 300, 1000},
		{"table bigger than the clients", 2000, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.maxKeys)))
			now := time.Unix(1_800_000_000, 0)
			l := newLimiter(2, time.Second, func() time.Time { return now }, tc.maxKeys)
			type ref struct {
				key string
				tat time.Duration
			}
			lru, index := list.New(), map[string]*list.Element{}
			interval, tolerance := 500*time.Millisecond, 500*time.Millisecond
			for step := 0; step < 50_000; step++ {
				if rng.IntN(4) == 0 {
					now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
				}
				class := []string{"begin", "finish", "exchange"}[rng.IntN(3)]
				client := fmt.Sprintf("10.0.%d.%d", rng.IntN(tc.keys)/256, rng.IntN(tc.keys)%256)
				k, t0 := class+" "+client, now.Sub(l.epoch)
				el := index[k]
				if el == nil {
					if lru.Len() == tc.maxKeys {
						delete(index, lru.Remove(lru.Back()).(*ref).key)
					}
					el = lru.PushFront(&ref{key: k, tat: t0})
					index[k] = el
				}
				lru.MoveToFront(el)
				r := el.Value.(*ref)
				tat := max(r.tat, t0)
				wantOK := tat-tolerance-t0 <= 0
				if wantOK {
					r.tat = tat + interval
				}
				if ok, _ := l.Allow(class, client); ok != wantOK {
					t.Fatalf("step %d, %s: Allow = %v, the reference says %v", step, k, ok, wantOK)
				}
				if step%500 == 0 {
					checkList(t, l)
				}
			}
			if n := l.Len(); n != lru.Len() {
				t.Errorf("%d buckets, the reference has %d", n, lru.Len())
			}
			checkList(t, l)
		})
	}
}
