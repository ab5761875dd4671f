package startup

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testlog"
)

// fast is a schedule for tests: short pauses, and a log line at most once an hour (so at most one).
var fast = timing{attempt: time.Second, minAttempt: 50 * time.Millisecond, firstPause: time.Millisecond, maxPause: 5 * time.Millisecond, logEvery: time.Hour}

func logger() (*slog.Logger, *testlog.Buffer) {
	buf := &testlog.Buffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

func TestWaitSucceedsOnceTheDependencyAnswers(t *testing.T) {
	t.Parallel()
	log, logs := logger()
	tries := 0
	err := wait(t.Context(), "the thing at db:1", time.Minute, func(context.Context) error {
		tries++
		if tries < 4 {
			return errors.New("connection refused")
		}
		return nil
	}, log, fast)
	if err != nil || tries != 4 {
		t.Fatalf("err %v after %d tries, want nil after 4", err, tries)
	}
	out := logs.String()
	if n := strings.Count(out, "waiting for the thing at db:1"); n != 1 {
		t.Errorf("%d waiting lines, want 1 (one per log interval):\n%s", n, out)
	}
	if !strings.Contains(out, "connection refused") || !strings.Contains(out, "the thing at db:1 is answering") {
		t.Errorf("log does not give the cause and the recovery:\n%s", out)
	}
}

func TestWaitLogsOncePerInterval(t *testing.T) {
	t.Parallel()
	log, logs := logger()
	tm := fast
	tm.logEvery = 0 // every failed try may log
	tries := 0
	_ = wait(t.Context(), "the thing", time.Minute, func(context.Context) error {
		tries++
		if tries < 4 {
			return errors.New("refused")
		}
		return nil
	}, log, tm)
	if n := strings.Count(logs.String(), "waiting for the thing"); n != 3 {
		t.Errorf("%d waiting lines for 3 failed tries with no interval, want 3:\n%s", n, logs.String())
	}
}

func TestWaitGivesUpAfterTheBound(t *testing.T) {
	t.Parallel()
	log, _ := logger()
	tries := 0
	err := wait(t.Context(), "the database at postgres://db:5432/x", 200*time.Millisecond, func(context.Context) error {
		tries++
		return errors.New("dial tcp: connection refused")
	}, log, fast)
	want := "cannot reach the database at postgres://db:5432/x: still failing after waiting 200ms: dial tcp: connection refused"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if tries < 2 {
		t.Errorf("%d tries, want several", tries)
	}
}

func TestWaitZeroBoundTriesOnce(t *testing.T) {
	t.Parallel()
	tries := 0
	err := wait(t.Context(), "the thing", 0, func(context.Context) error {
		tries++
		return errors.New("refused")
	}, nil, fast)
	if err == nil || err.Error() != "cannot reach the thing: refused" || tries != 1 {
		t.Fatalf("err = %v after %d tries, want one try and %q", err, tries, "cannot reach the thing: refused")
	}
}

func TestWaitStopsAtAPermanentError(t *testing.T) {
	t.Parallel()
	cause := errors.New("password authentication failed")
	tries := 0
	err := wait(t.Context(), "the thing", time.Hour, func(context.Context) error {
		tries++
		return Permanent(cause)
	}, nil, fast)
	if err == nil || err.Error() != "cannot use the thing: password authentication failed" || !errors.Is(err, cause) || !IsPermanent(err) {
		t.Fatalf("err = %v (permanent %v)", err, IsPermanent(err))
	}
	if tries != 1 {
		t.Errorf("%d tries, want 1", tries)
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	tries := 0
	err := wait(ctx, "the thing", time.Hour, func(context.Context) error {
		tries++
		if tries == 3 {
			cancel()
		}
		return errors.New("refused")
	}, nil, fast)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped waiting for the thing (last failure: refused)") {
		t.Fatalf("err = %v, want the cancellation", err)
	}
}

// Each try runs under a deadline: at most the attempt timeout, and no more than the bound has left (but
// at least the minimum), so a try that hangs (a firewall dropping packets) cannot outlast the bound.
func TestWaitBoundsEachTry(t *testing.T) {
	t.Parallel()
	tm := fast
	tm.attempt = 120 * time.Millisecond
	var budgets []time.Duration
	err := wait(t.Context(), "the thing", 300*time.Millisecond, func(ctx context.Context) error {
		d, ok := ctx.Deadline()
		if !ok {
			t.Fatal("a try without a deadline")
		}
		budgets = append(budgets, time.Until(d))
		<-ctx.Done() // hangs like a black-holed connection
		return ctx.Err()
	}, nil, tm)
	if err == nil || !strings.Contains(err.Error(), "still failing after waiting 300ms") {
		t.Fatalf("err = %v", err)
	}
	for i, b := range budgets {
		if b > 120*time.Millisecond {
			t.Errorf("try %d had %v, more than the attempt timeout", i+1, b)
		}
	}
	if len(budgets) < 2 {
		t.Fatalf("%d tries", len(budgets))
	}
	if last := budgets[len(budgets)-1]; last < 40*time.Millisecond {
		t.Errorf("the last try had only %v, less than the minimum", last)
	}
}

// CertificateRejected tells a handshake refused for the server's certificate (what waiting cannot
// change) from every other failure to connect.
func TestCertificateRejected(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate for 127.0.0.1 from httptest's own CA
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	dial := func(cfg *tls.Config) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	trusted := x509.NewCertPool()
	trusted.AddCert(srv.Certificate())
	if err := dial(&tls.Config{RootCAs: trusted}); err != nil {
		t.Fatalf("a trusted certificate: %v", err)
	}
	for name, cfg := range map[string]*tls.Config{
		"unknown authority": {RootCAs: x509.NewCertPool()},
		"wrong name":        {RootCAs: trusted, ServerName: "redis.internal.invalid"},
	} {
		err := dial(cfg)
		if err == nil || !CertificateRejected(fmt.Errorf("redis: cannot connect: %w", err)) {
			t.Errorf("%s: CertificateRejected(%v) = false, want true", name, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = tls.Dial("tcp", closed, &tls.Config{})
	for _, err := range []error{err, context.DeadlineExceeded, errors.New("x509 in words only")} {
		if err == nil || CertificateRejected(err) {
			t.Errorf("CertificateRejected(%v) = true, want false", err)
		}
	}
}
