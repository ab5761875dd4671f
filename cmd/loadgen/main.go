// Command loadgen drives a running Latchkey with passkey sign-ups and log-ins from a software
// authenticator, and reports throughput and latency. It only talks to the URL it is given (use a local
// server), runs a bounded number of ceremonies and stops by itself.
//
//	go run ./cmd/loadgen -url http://localhost:8080 -n 500 -c 8
//
// With -cookie it prints one logged-in session cookie, for HTTP load tools such as wrk.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/passkeyclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	base := fs.String("url", "http://localhost:8080", "Latchkey's public URL (a local server)")
	n := fs.Int("n", 200, "number of accounts to sign up (each then logs in once)")
	c := fs.Int("c", 4, "concurrent clients")
	cookie := fs.Bool("cookie", false, "print one logged-in session cookie (name=value) and exit")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *cookie {
		v, err := passkeyclient.New(*base, passkeyclient.Options{}).SignUpAndLogIn(ctx, fmt.Sprintf("load-cookie-%d@example.com", time.Now().UnixNano()))
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
		return nil
	}
	if *n < 1 || *n > 100_000 || *c < 1 || *c > 256 {
		return errors.New("-n must be 1..100000 and -c 1..256")
	}

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		failures  []string
		wg        sync.WaitGroup
	)
	start := time.Now()
	run := time.Now().UnixNano()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				t0 := time.Now()
				_, err := passkeyclient.New(*base, passkeyclient.Options{}).SignUpAndLogIn(ctx, fmt.Sprintf("load-%d-%d@example.com", run, i))
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					latencies = append(latencies, time.Since(t0))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Fprintf(stdout, "%d accounts: sign-up + log-in + session exchange each (6 requests), %d failed, %d concurrent\n", len(latencies), len(failures), *c)
	fmt.Fprintf(stdout, "throughput %.1f accounts/s (%.0f requests/s); latency p50 %v p90 %v p99 %v max %v\n",
		float64(len(latencies))/elapsed.Seconds(), 6*float64(len(latencies))/elapsed.Seconds(),
		pct(0.5).Round(time.Microsecond), pct(0.9).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	if len(failures) > 0 {
		return fmt.Errorf("%d failures, first: %s", len(failures), failures[0])
	}
	return nil
}
