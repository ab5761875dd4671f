package ratelimit

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestLimiterBurstThenRefill(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := New(3, time.Minute, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("1.2.3.4"); !ok {
			t.Fatalf("request %d refused within the burst", i+1)
		}
	}
	ok, wait := l.Allow("1.2.3.4")
	if ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("4th request: ok=%v wait=%v, want refused with a wait of up to 20s", ok, wait)
	}
	if ok, _ := l.Allow("5.6.7.8"); !ok {
		t.Error("another client was refused: buckets are not per key")
	}
	now = now.Add(wait)
	if ok, _ := l.Allow("1.2.3.4"); !ok {
		t.Error("refused after waiting Retry-After")
	}
	if ok, _ := l.Allow("1.2.3.4"); ok {
		t.Error("a refused request must not have consumed a token it did not get, nor should one refill give two")
	}
}

func TestLimiterForgetsIdleKeysAndCapsMemory(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := New(2, time.Second, func() time.Time { return now })
	l.maxKeys = 10
	for i := 0; i < 10; i++ {
		l.Allow(fmt.Sprintf("10.0.0.%d", i))
	}
	if ok, _ := l.Allow("10.0.1.1"); ok {
		t.Error("an 11th key was admitted beyond the cap while the others are active")
	}
	now = now.Add(2 * time.Minute)
	if ok, _ := l.Allow("10.0.1.1"); !ok {
		t.Error("idle keys were not forgotten")
	}
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets tracked after the sweep, want 1", n)
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
