// Package ratelimit limits requests per client with token buckets, and finds the client IP behind
// trusted reverse proxies.
//
// A client is an IPv4 address or an IPv6 /64 (one household or host usually holds a whole /64, so
// keying single IPv6 addresses would hand it 2^64 budgets); IPv4-mapped IPv6 addresses count as IPv4.
// Each client has one bucket per class of request (say "begin", "finish", "exchange"), so the steps of
// one log-in never compete for the same budget.
//
// The table of buckets is bounded: when it is full, the least recently used bucket makes room for the
// new client, so a flood of addresses can neither exhaust memory nor lock anyone out. Every request
// costs O(1) under the lock: a lookup in an open-addressing hash table that never holds more than
// half its slots (no tombstones, so no rehash once the table is full) and a move to the front of an
// intrusive recency list. Nothing is allocated per request once the table has grown to its cap.
package ratelimit

import (
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// DefaultMaxKeys is how many (class, client) buckets a Limiter tracks at most: about 10 MB when full.
const DefaultMaxKeys = 100_000

// Limiter hands out one token bucket per class and client. Allow is safe for concurrent use.
type Limiter struct {
	interval  time.Duration // one token per interval
	tolerance time.Duration // (burst-1) × interval: how far ahead of now a bucket's debt may run
	maxKeys   int
	maxSlots  int // the hash table's final size: a power of two at least twice maxKeys
	now       func() time.Time
	epoch     time.Time // times are kept as durations since epoch (monotonic, 8 bytes)
	seed      maphash.Seed

	mu      sync.Mutex
	slots   []slot  // open addressing, linear probing; a power of two, at most half full
	entries []entry // the buckets; grows to maxKeys, then the least recently used one is reused
	head    int32   // most recently used entry, or -1
	tail    int32   // least recently used entry, or -1
}

// key is one bucket's identity. A client that is an IP address is held as addr (an IPv6 address
// already masked to its /64) and raw is empty; anything else (a Unix socket peer) is held as raw.
type key struct {
	class string
	addr  netip.Addr
	raw   string
}

// entry is a bucket in the generic cell rate algorithm's form: a single "theoretical arrival time".
// The bucket is full when tat <= now; each request pushes tat one interval on, and a request is
// refused while tat would run more than tolerance ahead of now. That is exactly a token bucket of
// burst tokens refilled one per interval, in 8 bytes, and a bucket found full is the same as none.
type entry struct {
	key        key
	tat        time.Duration // since Limiter.epoch
	hash       uint32
	prev, next int32 // neighbours in the recency list (towards head, towards tail), -1 at the ends
}

// slot is one cell of the hash table: the entry's index + 1 (0: empty) and its hash.
type slot struct {
	entry int32
	hash  uint32
}

const minSlots = 1 << 10

// New allows perPeriod requests at once per class and client, refilled evenly over period.
func New(perPeriod int, period time.Duration, now func() time.Time) *Limiter {
	return newLimiter(perPeriod, period, now, DefaultMaxKeys)
}

func newLimiter(perPeriod int, period time.Duration, now func() time.Time, maxKeys int) *Limiter {
	if now == nil {
		now = time.Now
	}
	if perPeriod < 1 {
		perPeriod = 1
	}
	maxKeys = min(max(maxKeys, 1), 1<<30)
	maxSlots := minSlots
	for maxSlots < 2*maxKeys {
		maxSlots *= 2
	}
	interval := max(period/time.Duration(perPeriod), 1)
	return &Limiter{
		interval:  interval,
		tolerance: interval * time.Duration(perPeriod-1),
		maxKeys:   maxKeys,
		maxSlots:  maxSlots,
		now:       now,
		epoch:     now(),
		seed:      maphash.MakeSeed(),
		slots:     make([]slot, minSlots),
		head:      -1,
		tail:      -1,
	}
}

// Allow takes a token from client's bucket for class; client is an IP address as ClientIP returns it.
// When none is left it reports how long until the next one. A refused request takes nothing, but it
// does make the client recent.
func (l *Limiter) Allow(class, client string) (ok bool, retryAfter time.Duration) {
	k := key{class: class}
	k.addr, k.raw = clientKey(client)
	h := l.hash(&k)
	now := l.now().Sub(l.epoch)

	l.mu.Lock()
	defer l.mu.Unlock()
	pos, found := l.find(&k, h)
	var i int32
	if found {
		i = l.slots[pos].entry - 1
		l.moveToFront(i)
	} else {
		i = l.insert(k, h, pos, now)
	}
	e := &l.entries[i]
	tat := max(e.tat, now)
	if wait := tat - l.tolerance - now; wait > 0 {
		return false, wait
	}
	e.tat = tat + l.interval
	return true, 0
}

// Len is the number of buckets tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *Limiter) hash(k *key) uint32 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(k.class)
	a := k.addr.As16()
	_, _ = h.Write(a[:])
	h.WriteString(k.raw)
	return uint32(h.Sum64())
}

// find returns the slot holding k, or the empty slot where k belongs.
func (l *Limiter) find(k *key, h uint32) (pos uint32, found bool) {
	mask := uint32(len(l.slots) - 1)
	for pos = h & mask; ; pos = (pos + 1) & mask {
		s := l.slots[pos]
		if s.entry == 0 {
			return pos, false
		}
		if s.hash == h && l.entries[s.entry-1].key == *k {
			return pos, true
		}
	}
}

// insert adds a full bucket for k (whose empty slot find returned as pos) at the front of the recency
// list, taking the least recently used entry when the table is full.
func (l *Limiter) insert(k key, h, pos uint32, now time.Duration) int32 {
	var i int32
	if len(l.entries) < l.maxKeys {
		i = int32(len(l.entries))
		if len(l.entries) == cap(l.entries) { // grow by doubling, but never past maxKeys
			grown := make([]entry, len(l.entries), min(max(2*cap(l.entries), minSlots), l.maxKeys))
			copy(grown, l.entries)
			l.entries = grown
		}
		l.entries = l.entries[:i+1]
		if 2*len(l.entries) > len(l.slots) && len(l.slots) < l.maxSlots {
			l.grow() // only while the table fills up: at most log2(maxSlots/minSlots) times
			pos, _ = l.find(&k, h)
		}
	} else {
		i = l.tail
		l.unlink(i)
		l.removeSlot(i)
		pos, _ = l.find(&k, h) // the removal emptied or shifted a slot, maybe in k's probe run
	}
	l.entries[i] = entry{key: k, tat: now, hash: h, prev: -1, next: -1}
	l.slots[pos] = slot{entry: i + 1, hash: h}
	l.pushFront(i)
	return i
}

// removeSlot takes entry i out of the hash table, shifting later entries of its probe run back so no
// tombstone is left (Knuth's algorithm R).
func (l *Limiter) removeSlot(i int32) {
	mask := uint32(len(l.slots) - 1)
	pos := l.entries[i].hash & mask
	for l.slots[pos].entry != i+1 {
		pos = (pos + 1) & mask
	}
	for next := pos; ; {
		next = (next + 1) & mask
		s := l.slots[next]
		if s.entry == 0 {
			l.slots[pos] = slot{}
			return
		}
		home := s.hash & mask
		// s stays put if its home lies cyclically in (pos, next]: moving it to pos would hide it.
		if pos <= next && pos < home && home <= next || pos > next && (pos < home || home <= next) {
			continue
		}
		l.slots[pos] = s
		pos = next
	}
}

// grow doubles the hash table and re-inserts every entry.
func (l *Limiter) grow() {
	l.slots = make([]slot, 2*len(l.slots))
	mask := uint32(len(l.slots) - 1)
	for i := range l.entries[:len(l.entries)-1] { // the last entry is the one being inserted
		h := l.entries[i].hash
		pos := h & mask
		for l.slots[pos].entry != 0 {
			pos = (pos + 1) & mask
		}
		l.slots[pos] = slot{entry: int32(i) + 1, hash: h}
	}
}

func (l *Limiter) moveToFront(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	l.pushFront(i)
}

func (l *Limiter) unlink(i int32) {
	e := &l.entries[i]
	if e.prev >= 0 {
		l.entries[e.prev].next = e.next
	} else {
		l.head = e.next
	}
	if e.next >= 0 {
		l.entries[e.next].prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (l *Limiter) pushFront(i int32) {
	e := &l.entries[i]
	e.prev, e.next = -1, l.head
	if l.head >= 0 {
		l.entries[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

// clientKey normalises a client: an IPv4 address (IPv4-mapped IPv6 included) as itself, an IPv6
// address as its /64 without zone, anything that is not an IP address as the string itself.
func clientKey(client string) (netip.Addr, string) {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return netip.Addr{}, client
	}
	a = a.Unmap()
	if a.Is4() {
		return a, ""
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return netip.Addr{}, client
	}
	return p.Addr(), ""
}

// Key is the client a limiter charges for ip, in words for logs: "192.0.2.1", "2001:db8:1:2::/64".
func Key(ip string) string {
	a, raw := clientKey(ip)
	switch {
	case !a.IsValid():
		return raw
	case a.Is4():
		return a.String()
	default:
		return netip.PrefixFrom(a, 64).String()
	}
}

// ClientIP is the address of the client: the TCP peer, unless the peer is a trusted proxy, in which case
// the right-most X-Forwarded-For entry that is not itself a trusted proxy. With no trusted proxies
// (the default) X-Forwarded-For is ignored, so clients cannot choose their own key.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !contains(trusted, peer) {
		return peer.String()
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: stop at the last proxy we can vouch for
		}
		a = a.Unmap()
		if !contains(trusted, a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParsePrefixes reads a comma-separated list of CIDRs or single addresses ("10.0.0.0/8, 127.0.0.1").
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
