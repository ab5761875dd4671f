// Command loadgen drives a running Latchkey with passkey sign-ups and log-ins from a software
// authenticator, and reports throughput and latency. It only talks to the URL it is given (use a local
// server), runs a bounded number of ceremonies and stops by itself.
//
//	go run ./cmd/loadgen -url http://localhost:8080 -n 500 -c 8
//
// With -cookie it prints one logged-in session cookie, for HTTP load tools such as wrk.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/softauthn"
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
		v, err := newClient(*base).signUpAndLogIn(ctx, fmt.Sprintf("load-cookie-%d@example.com", time.Now().UnixNano()))
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
				_, err := newClient(*base).signUpAndLogIn(ctx, fmt.Sprintf("load-%d-%d@example.com", run, i))
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

type client struct {
	base string
	http *http.Client
	auth *softauthn.Authenticator
}

func newClient(base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, auth: softauthn.New(base)}
}

func (c *client) post(ctx context.Context, path string, body []byte) ([]byte, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 400 {
		return nil, nil, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return b, resp, nil
}

// signUpAndLogIn creates an account with a passkey, logs in with it, exchanges the session JWT and
// returns the server-side session cookie as name=value.
func (c *client) signUpAndLogIn(ctx context.Context, email string) (string, error) {
	opts, _, err := c.post(ctx, "/passkeys/signup/begin", fmt.Appendf(nil, `{"email":%q,"name":"Load Test"}`, email))
	if err != nil {
		return "", err
	}
	cred, err := c.auth.CreateJSON(opts, softauthn.Tweaks{})
	if err != nil {
		return "", err
	}
	if _, _, err := c.post(ctx, "/passkeys/signup/finish", cred); err != nil {
		return "", err
	}
	if opts, _, err = c.post(ctx, "/passkeys/login/begin", []byte(`{}`)); err != nil {
		return "", err
	}
	assertion, err := c.auth.GetJSON(opts, softauthn.Tweaks{})
	if err != nil {
		return "", err
	}
	if _, _, err := c.post(ctx, "/passkeys/login/finish", assertion); err != nil {
		return "", err
	}
	_, resp, err := c.post(ctx, "/auth/session", nil)
	if err != nil {
		return "", err
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "latchkey_session" || ck.Name == "__Host-latchkey_session" {
			return ck.Name + "=" + ck.Value, nil
		}
	}
	return "", errors.New("no session cookie after the exchange")
}
