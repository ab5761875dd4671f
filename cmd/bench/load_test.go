package main

import (
	"math"
	"testing"
	"time"
)

// TestHistogramBuckets checks that every latency lands in a bucket whose middle is within 1.6% of it,
// and that buckets come in order.
func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for v := int64(0); v < int64(200*time.Second); v = v*101/100 + 1 {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("bucketOf(%d) = %d, after %d for a smaller value", v, i, prev)
		}
		prev = i
		got := float64(bucketValue(i))
		if v > 0 && math.Abs(got-float64(v))/float64(v) > 0.016 {
			t.Fatalf("bucketValue(bucketOf(%d)) = %v: more than 1.6%% off", v, got)
		}
	}
	if i := bucketOf(int64(200 * time.Second)); i >= len(histogram{}.counts) {
		t.Fatalf("200 s falls outside the histogram (bucket %d)", i)
	}
}

// TestHistogramQuantiles records 1..1000 µs once each and checks p50, p99 and the extremes.
func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for us := 1000; us >= 1; us-- {
		h.record(time.Duration(us) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, time.Microsecond}, {0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.quantile(c.q)
		if math.Abs(float64(got-c.want))/float64(c.want) > 0.016 {
			t.Errorf("quantile(%v) = %v, want %v within 1.6%%", c.q, got, c.want)
		}
	}
	var empty histogram
	if got := empty.quantile(0.99); got != 0 {
		t.Errorf("an empty histogram's p99 = %v, want 0", got)
	}
}
