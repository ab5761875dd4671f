package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/ratelimit"
)

// ReadyCheck is one dependency /readyz asks: Name in plain words ("database", "redis") for the answer,
// Check returning nil when it answers. Check must honour its context (2 s) and its error, which goes to
// the log only, must not hold a password.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// readyTimeout bounds each readiness check; the checks run at the same time.
const readyTimeout = 2 * time.Second

// health answers GET /healthz for the process alone: if this runs, the process is alive. It touches no
// database, so a database outage never makes an orchestrator restart healthy processes (that is /readyz).
func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// ready answers GET /readyz: 200 "ok" when every dependency answers within 2 s, else 503 naming the ones
// that do not ("not ready: database"); the causes go to the log.
func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	failed := h.failedChecks(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) == 0 {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("not ready: " + strings.Join(failed, ", ") + "\n"))
}

// failedChecks runs the readiness checks at once, each for at most readyTimeout, logs why any failed and
// returns their names in order. A check that does not return in time counts as failed.
func (h *Handler) failedChecks(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	results := make([]chan error, len(h.deps.Ready))
	for i, c := range h.deps.Ready {
		results[i] = make(chan error, 1)
		go func() { results[i] <- c.Check(ctx) }()
	}
	var failed []string
	for i, c := range h.deps.Ready {
		var err error
		select {
		case err = <-results[i]:
		case <-ctx.Done():
			select {
			case err = <-results[i]: // it did answer, just now
			default:
				err = fmt.Errorf("no answer within %s", readyTimeout)
			}
		}
		if err != nil {
			h.log.WarnContext(ctx, "not ready", "check", c.Name, "err", err)
			failed = append(failed, c.Name)
		}
	}
	return failed
}

// metricsPage serves GET /metrics to internal clients only; everyone else gets the ordinary 404 page, so
// the address does not even show that it exists.
func (h *Handler) metricsPage(w http.ResponseWriter, r *http.Request) {
	if ok, why := h.internalClient(r); !ok {
		h.logFailure(r, http.StatusNotFound, fmt.Errorf("/metrics refused: %s", why))
		h.render(w, r, http.StatusNotFound, components.NotFoundPage(h.page(r, "Page not found")), components.NotFoundFragment())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.metrics.Handler().ServeHTTP(w, r)
}

// internalClient reports whether r comes from a loopback or private address (RFC 1918 IPv4, IPv6 ULA
// fc00::/7, and IPv4-mapped forms of those), as ratelimit.ClientIP finds the client behind the trusted
// proxies. A request that names its client in a forwarding header the app cannot vouch for is refused,
// for it came through a proxy and the client behind it may be anyone: any forwarding header
// (X-Forwarded-For, Forwarded, X-Real-IP) from a peer that is not a trusted proxy, or a trusted proxy's
// request without X-Forwarded-For (the one header Latchkey reads). why says which rule refused.
func (h *Handler) internalClient(r *http.Request) (ok bool, why string) {
	xff := len(r.Header.Values("X-Forwarded-For")) > 0
	if xff || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-IP") != "" {
		if !h.trustedPeer(r) {
			return false, "a forwarding header from a peer that is not in LATCHKEY_TRUSTED_PROXIES, so the client is unknown"
		}
		if !xff {
			return false, "a trusted proxy named the client in Forwarded or X-Real-IP only; Latchkey reads X-Forwarded-For"
		}
	}
	ip := ratelimit.ClientIP(r, h.deps.TrustedProxies)
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false, fmt.Sprintf("client %q is not an IP address", ip)
	}
	if a = a.Unmap(); a.Zone() == "" && (a.IsLoopback() || a.IsPrivate()) {
		return true, ""
	}
	return false, fmt.Sprintf("client %s is not a loopback or private address", a)
}

// trustedPeer reports whether the TCP peer of r is one of the trusted proxies.
func (h *Handler) trustedPeer(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	peer := ap.Addr().Unmap()
	for _, p := range h.deps.TrustedProxies {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// timed records how long next takes into o (a ceremony step's latency series, resolved once).
func timed(o prometheus.Observer, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next(w, r)
		o.Observe(time.Since(start).Seconds())
	}
}

// ceremonyReason is the failure reason a provider error is counted under: the provider's outcome code
// when it has one, else its kind; any other error is ours.
func ceremonyReason(err error) string {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return metrics.ReasonInternal
	}
	switch pe.Code {
	case provider.CodeInvalidFields:
		return metrics.ReasonInvalidFields
	case provider.CodeEmailTaken:
		return metrics.ReasonEmailTaken
	case provider.CodeUnknownPasskey:
		return metrics.ReasonUnknownPasskey
	case provider.CodeNotVerified:
		return metrics.ReasonNotVerified
	case provider.CodeExpired:
		return metrics.ReasonExpired
	}
	switch pe.Kind {
	case provider.KindInvalid:
		return metrics.ReasonInvalid
	case provider.KindUnauthorized:
		return metrics.ReasonRejected
	case provider.KindConflict:
		return metrics.ReasonPasskeyTaken
	case provider.KindExpired:
		return metrics.ReasonExpired
	}
	return metrics.ReasonInternal
}
