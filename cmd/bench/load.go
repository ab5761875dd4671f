package main

import (
	"context"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// histogram counts latencies in log-linear buckets (64 per power of two, so a bucket is at most 1.6%
// wide): recording allocates nothing, and percentiles come out within that resolution.
type histogram struct {
	counts [64 * 64]uint64
	n      uint64
}

// subBits is log2 of the buckets per power of two.
const subBits = 6

func bucketOf(ns int64) int {
	v := uint64(max(ns, 0))
	if v < 2<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift<<subBits + int(v>>shift)
}

// bucketValue is the middle of bucket i, in nanoseconds.
func bucketValue(i int) time.Duration {
	if i < 2<<subBits {
		return time.Duration(i)
	}
	shift := i>>subBits - 1
	low := uint64(i-shift<<subBits) << shift
	return time.Duration(low + (uint64(1)<<shift)/2)
}

func (h *histogram) record(d time.Duration) {
	i := min(bucketOf(int64(d)), len(h.counts)-1)
	h.counts[i]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile is the latency below which a fraction q of the recorded ones lie.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(len(h.counts) - 1)
}

// phases of a load run.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// loadResult is what a load run measured: operations started in the measured window, their latencies and
// the failures among them.
type loadResult struct {
	ops      uint64
	failed   uint64
	firstErr error
	elapsed  time.Duration
	hist     *histogram
}

func (r loadResult) perSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

func (r loadResult) p50() time.Duration { return r.hist.quantile(0.50) }
func (r loadResult) p99() time.Duration { return r.hist.quantile(0.99) }

// failure describes failed operations, or is "" when none failed.
func (r loadResult) failure() string {
	if r.failed == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d failed, first: %v", r.failed, r.ops, r.firstErr)
}

// worker is one worker's state, padded apart from its neighbours' so the counters do not share cache
// lines.
type worker struct {
	hist     histogram
	ops      uint64
	failed   uint64
	firstErr error
	_        [64]byte
}

// runLoad runs conc workers, each calling its own op (made by newOp(w)) back to back: for warmup
// unmeasured, then for measure with every call timed. The result covers the calls started during measure.
func runLoad(ctx context.Context, conc int, warmup, measure time.Duration, newOp func(w int) func() error) loadResult {
	var phase atomic.Int32
	workers := make([]worker, conc)
	var wg sync.WaitGroup
	for w := range workers {
		op := newOp(w)
		st := &workers[w]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p := phase.Load()
				if p == phaseStop {
					return
				}
				t0 := time.Now()
				err := op()
				d := time.Since(t0)
				if p != phaseMeasure {
					continue
				}
				st.hist.record(d)
				st.ops++
				if err != nil {
					st.failed++
					if st.firstErr == nil {
						st.firstErr = err
					}
				}
			}
		}()
	}
	sleep(ctx, warmup)
	phase.Store(phaseMeasure)
	start := time.Now()
	sleep(ctx, measure)
	phase.Store(phaseStop)
	res := loadResult{elapsed: time.Since(start), hist: &histogram{}}
	wg.Wait()
	for i := range workers {
		st := &workers[i]
		res.hist.merge(&st.hist)
		res.ops += st.ops
		res.failed += st.failed
		if res.firstErr == nil {
			res.firstErr = st.firstErr
		}
	}
	if res.ops == 0 && ctx.Err() != nil {
		res.firstErr = ctx.Err()
	}
	return res
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// errStatus is a response that was not 200 OK.
type errStatus int

func (e errStatus) Error() string { return fmt.Sprintf("status %d", int(e)) }

// getOp returns an op that sends GET url with header, taking the Cookie header from cookies in turn
// (starting at first, stepping by step), reads the whole response and fails unless it is 200 OK. The
// request is built once; each call allocates only what net/http does.
func getOp(ctx context.Context, client *http.Client, url string, header http.Header, cookies [][]string, first, step int) func() error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return func() error { return err }
	}
	for k, v := range header {
		req.Header[k] = v
	}
	i := first
	return func() error {
		if len(cookies) > 0 {
			req.Header["Cookie"] = cookies[i%len(cookies)]
			i += step
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errStatus(resp.StatusCode)
		}
		return err
	}
}

// cookieHeaders turns cookies (name=value) into Cookie header values, made once for getOp.
func cookieHeaders(cookies []string) [][]string {
	out := make([][]string, len(cookies))
	for i, c := range cookies {
		out[i] = []string{c}
	}
	return out
}

// newTransport dials addr (host:port) whatever the URL's host says — URLs name localhost, as passkeys
// need, while the servers listen on 127.0.0.1 — and keeps up to conns connections alive. Responses are
// not decompressed.
func newTransport(addr string, conns int) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
}

// newClient is an HTTP client over tr that does not follow redirects (a redirect to / means the session
// was not accepted, and counts as a failure).
func newClient(tr http.RoundTripper) *http.Client {
	return &http.Client{Transport: tr, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
