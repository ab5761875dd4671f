package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/testlog"
)

// /readyz asks every dependency at once, names each one that fails or does not answer within 2 s (in
// the order given), and logs the causes.
func TestReadyNamesEachDependencyThatIsNotReady(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	logs := &testlog.Buffer{}
	h := &Handler{log: slog.New(slog.NewTextHandler(logs, nil)), deps: Deps{Ready: []ReadyCheck{
		{Name: "database", Check: func(context.Context) error { return nil }},
		{Name: "redis", Check: func(context.Context) error { return errors.New("dial tcp 127.0.0.1:6379: connection refused") }},
		{Name: "slow", Check: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{Name: "stuck", Check: func(context.Context) error { <-release; return nil }}, // ignores its context
	}}}
	rec := httptest.NewRecorder()
	h.ready(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || rec.Body.String() != "not ready: redis, slow, stuck\n" {
		t.Errorf("status %d body %q", rec.Code, rec.Body.String())
	}
	out := logs.String()
	for _, want := range []string{"check=redis", "connection refused", "check=slow", "check=stuck", "no answer within 2s"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "check=database") {
		t.Errorf("the ready database is logged as not ready:\n%s", out)
	}

	ok := &Handler{log: slog.New(slog.DiscardHandler), deps: Deps{Ready: []ReadyCheck{{Name: "database", Check: func(context.Context) error { return nil }}}}}
	rec = httptest.NewRecorder()
	ok.ready(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("all ready: status %d body %q", rec.Code, rec.Body.String())
	}
}

// Every provider outcome is counted under a reason of its own kind's set, never as "other".
func TestCeremonyReasons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err     error
		want    string
		reasons []string
	}{
		{&provider.Error{Kind: provider.KindInvalid, Code: provider.CodeInvalidFields}, metrics.ReasonInvalidFields, metrics.SignupReasons()},
		{&provider.Error{Kind: provider.KindConflict, Code: provider.CodeEmailTaken}, metrics.ReasonEmailTaken, metrics.SignupReasons()},
		{&provider.Error{Kind: provider.KindConflict}, metrics.ReasonPasskeyTaken, metrics.SignupReasons()},
		{&provider.Error{Kind: provider.KindUnauthorized, Code: provider.CodeUnknownPasskey}, metrics.ReasonUnknownPasskey, metrics.LoginReasons()},
		{&provider.Error{Kind: provider.KindUnauthorized, Code: provider.CodeNotVerified}, metrics.ReasonNotVerified, metrics.LoginReasons()},
		{&provider.Error{Kind: provider.KindExpired, Code: provider.CodeExpired}, metrics.ReasonExpired, metrics.LoginReasons()},
		{&provider.Error{Kind: provider.KindExpired}, metrics.ReasonExpired, metrics.SignupReasons()},
		{&provider.Error{Kind: provider.KindUnauthorized}, metrics.ReasonRejected, metrics.LoginReasons()},
		{&provider.Error{Kind: provider.KindInvalid}, metrics.ReasonInvalid, metrics.LoginReasons()},
		{&provider.Error{Kind: provider.KindInternal}, metrics.ReasonInternal, metrics.LoginReasons()},
		{errors.New("database is closed"), metrics.ReasonInternal, metrics.SignupReasons()},
	} {
		got := ceremonyReason(tc.err)
		if got != tc.want || !slices.Contains(tc.reasons, got) {
			t.Errorf("ceremonyReason(%v) = %q, want %q from %q", tc.err, got, tc.want, tc.reasons)
		}
	}
}
