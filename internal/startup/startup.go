// Package startup waits, within a bound, for a dependency (the database, Redis) to answer at start-up,
// so Latchkey can start in the same breath as the services it needs (docker compose, Kubernetes) and
// still fail with one clear line when one never comes.
package startup

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Timing of the attempts. A try gets at most attemptTimeout, and no more than the bound has left but at
// least minAttempt (so the last try can still fail for its real reason rather than for want of time);
// the pause between tries doubles from firstPause up to maxPause; while waiting, at most one log line
// is written per logEvery.
const (
	attemptTimeout = 5 * time.Second
	minAttempt     = 500 * time.Millisecond
	firstPause     = 100 * time.Millisecond
	maxPause       = time.Second
	logEvery       = 5 * time.Second
)

// permanentError marks a failure that waiting cannot cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that waiting cannot cure (a wrong password, a database that does not
// exist): Wait returns it at once instead of trying again. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// CertificateRejected reports whether err is a TLS handshake that failed because the server's
// certificate was not accepted (an unknown authority, a name it is not for, expired): the server
// answered, and waiting will not change what it presents.
func CertificateRejected(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// timing is Wait's schedule; tests shorten it.
type timing struct {
	attempt, minAttempt, firstPause, maxPause, logEvery time.Duration
}

// Wait calls try until it succeeds, for at most bound. what names the dependency in words for the log
// and the error, e.g. "the database at postgres://db:5432/latchkey"; it must not hold a password, and
// neither may try's errors.
//
// With bound 0 try runs once and its failure is returned at once. Otherwise a failed try is repeated
// after a pause (100 ms, doubling up to 1 s) until bound has passed; each try is given at most 5 s, and
// no more than what is left of bound (but at least 0.5 s, so the wait may overrun bound by that much). While waiting, log gets one INFO line at most every 5 s. An
// error marked Permanent ends the wait at once. When the bound passes, the error names what, the bound
// and the last failure. A cancelled ctx ends the wait with ctx's error.
func Wait(ctx context.Context, what string, bound time.Duration, try func(context.Context) error, log *slog.Logger) error {
	return wait(ctx, what, bound, try, log, timing{attempt: attemptTimeout, minAttempt: minAttempt, firstPause: firstPause, maxPause: maxPause, logEvery: logEvery})
}

func wait(ctx context.Context, what string, bound time.Duration, try func(context.Context) error, log *slog.Logger, tm timing) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	deadline := start.Add(bound)
	pause := tm.firstPause
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		limit := tm.attempt
		if bound > 0 {
			limit = min(limit, max(time.Until(deadline), tm.minAttempt))
		}
		actx, cancel := context.WithTimeout(ctx, limit)
		err := try(actx)
		cancel()
		switch {
		case err == nil:
			if attempt > 1 {
				log.InfoContext(ctx, what+" is answering", "waited", time.Since(start).Round(time.Millisecond))
			}
			return nil
		case ctx.Err() != nil:
			return stopped(ctx, what, err)
		case IsPermanent(err):
			return fmt.Errorf("cannot use %s: %w", what, err)
		case bound <= 0:
			return fmt.Errorf("cannot reach %s: %w", what, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("cannot reach %s: still failing after waiting %s: %w", what, bound, err)
		}
		if now := time.Now(); lastLog.IsZero() || now.Sub(lastLog) >= tm.logEvery {
			lastLog = now
			log.InfoContext(ctx, "waiting for "+what, "attempt", attempt, "waited", now.Sub(start).Round(time.Millisecond),
				"gives_up_in", left.Round(time.Millisecond), "err", err.Error())
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return stopped(ctx, what, err)
		case <-t.C:
		}
		pause = min(2*pause, tm.maxPause)
	}
}

// stopped is the error of a wait ended by its context: the context's error, with the last failure.
func stopped(ctx context.Context, what string, last error) error {
	return fmt.Errorf("stopped waiting for %s (last failure: %v): %w", what, last, ctx.Err())
}
