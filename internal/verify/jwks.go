package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Defaults for RemoteOptions.
const (
	DefaultJWKSTimeout       = 5 * time.Second
	DefaultJWKSRefreshEvery  = 15 * time.Minute
	DefaultJWKSMinRefetchGap = 30 * time.Second
	// MaxJWKSBytes caps the size of a JWKS response.
	MaxJWKSBytes = 1 << 20
	// fetchTimeout bounds one fetch even when the caller's http.Client has no timeout.
	fetchTimeout = 30 * time.Second
)

// RemoteOptions configures RemoteKeys.
type RemoteOptions struct {
	URL           string           // the JWKS, e.g. https://pro-1.frontendapi.cloud.corbado.io/.well-known/jwks
	Client        *http.Client     // default: a client with a 5s timeout that follows no redirects
	RefreshEvery  time.Duration    // scheduled refresh by Run; default 15m
	MinRefetchGap time.Duration    // at most one unknown-kid refetch per gap, across all callers; default 30s
	Now           func() time.Time // default time.Now
	Log           *slog.Logger     // default slog.Default()
}

// RemoteKeys is a KeySource backed by a remote JWKS. Keys are cached in memory; a cached kid never
// causes a request. An unknown kid causes at most one refetch per MinRefetchGap (concurrent lookups
// share one fetch). A failed fetch never empties the cache, so cached keys keep working while the
// endpoint is down. Only RSA (at least 2048 bits) and EC P-256 signature keys with a kid are kept.
// RemoteKeys is safe for concurrent use.
type RemoteKeys struct {
	url          string
	client       *http.Client
	refreshEvery time.Duration
	minGap       time.Duration
	now          func() time.Time
	log          *slog.Logger

	mu          sync.Mutex
	keys        map[string]jwk.Key // public keys by kid; replaced only by a successful fetch
	lastErr     error              // outcome of the latest finished fetch (nil: success)
	lastRefetch time.Time          // start of the latest unknown-kid refetch
	inflight    *fetchCall         // the fetch running now, shared by every caller
}

// fetchCall is one fetch in flight; done is closed when err is set.
type fetchCall struct {
	done chan struct{}
	err  error
}

// NewRemoteKeys returns a RemoteKeys with an empty cache. Call Refresh at start-up (a failure there
// should be logged, not fatal) and Run in a goroutine.
func NewRemoteKeys(opts RemoteOptions) *RemoteKeys {
	r := &RemoteKeys{
		url:          opts.URL,
		client:       opts.Client,
		refreshEvery: opts.RefreshEvery,
		minGap:       opts.MinRefetchGap,
		now:          opts.Now,
		log:          opts.Log,
		keys:         map[string]jwk.Key{},
	}
	if r.client == nil {
		r.client = &http.Client{
			Timeout: DefaultJWKSTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if r.refreshEvery <= 0 {
		r.refreshEvery = DefaultJWKSRefreshEvery
	}
	if r.minGap <= 0 {
		r.minGap = DefaultJWKSMinRefetchGap
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

// LookupKey returns the cached public key for kid, refetching the JWKS (rate-limited) when kid is
// unknown. Errors wrap ErrUnknownKey when a current key set lacks kid, or ErrUnavailable when the
// key set could not be fetched; both fail closed. Errors do not contain kid.
func (r *RemoteKeys) LookupKey(ctx context.Context, kid string) (jwk.Key, error) {
	r.mu.Lock()
	if k, ok := r.keys[kid]; ok {
		r.mu.Unlock()
		return k, nil
	}
	call := r.inflight
	if call == nil {
		if !r.lastRefetch.IsZero() && r.now().Sub(r.lastRefetch) < r.minGap {
			err := r.lastErr
			r.mu.Unlock()
			return nil, missing(err)
		}
		r.lastRefetch = r.now()
		call = r.startLocked()
	}
	r.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for the key set: %w", ErrUnavailable, ctx.Err())
	}

	r.mu.Lock()
	k, ok := r.keys[kid]
	r.mu.Unlock()
	if ok {
		return k, nil
	}
	return nil, missing(call.err)
}

// missing builds the error for a kid not in the cache, given the outcome of the latest fetch.
func missing(fetchErr error) error {
	if fetchErr != nil {
		return fmt.Errorf("%w: key set could not be fetched: %w", ErrUnavailable, fetchErr)
	}
	return fmt.Errorf("%w: not in the current key set", ErrUnknownKey)
}

// Refresh fetches the key set now (joining a fetch already in flight) and returns its error. A failed
// refresh keeps the cached keys.
func (r *RemoteKeys) Refresh(ctx context.Context) error {
	r.mu.Lock()
	call := r.inflight
	if call == nil {
		call = r.startLocked()
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run refreshes the key set every RefreshEvery until ctx ends. While no key set has ever been
// loaded, or after a failed refresh, it retries every MinRefetchGap instead. Failures are logged.
func (r *RemoteKeys) Run(ctx context.Context) {
	timer := time.NewTimer(r.nextDelay())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("jwks: scheduled refresh failed; keeping cached keys", "url", r.url, "err", err)
		}
		timer.Reset(r.nextDelay())
	}
}

// nextDelay is the wait before the next scheduled refresh.
func (r *RemoteKeys) nextDelay() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if (len(r.keys) == 0 || r.lastErr != nil) && r.minGap < r.refreshEvery {
		return r.minGap
	}
	return r.refreshEvery
}

// startLocked starts a fetch in the background and records it as in flight. r.mu must be held.
// The fetch does not depend on any one caller's context, so a caller giving up does not fail the
// others waiting on it.
func (r *RemoteKeys) startLocked() *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	r.inflight = call
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		keys, err := r.fetch(ctx)

		r.mu.Lock()
		if err == nil {
			r.keys = keys
		}
		r.lastErr = err
		r.inflight = nil
		call.err = err
		r.mu.Unlock()
		close(call.done)

		if err != nil {
			r.log.Warn("jwks: fetch failed", "url", r.url, "err", err)
		} else {
			r.log.Debug("jwks: key set loaded", "url", r.url, "keys", len(keys))
		}
	}()
	return call
}

// fetch downloads and parses the key set. It returns an error unless at least one usable key is found.
func (r *RemoteKeys) fetch(ctx context.Context) (map[string]jwk.Key, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: GET %s: %w", r.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxJWKSBytes))
		return nil, fmt.Errorf("jwks: GET %s: status %d", r.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: GET %s: reading body: %w", r.url, err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("jwks: GET %s: response larger than %d bytes", r.url, MaxJWKSBytes)
	}
	set, err := jwk.Parse(body, jwk.WithIgnoreParseError(true))
	if err != nil {
		return nil, fmt.Errorf("jwks: GET %s: invalid key set: %w", r.url, err)
	}
	keys := make(map[string]jwk.Key, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid := k.KeyID()
		if kid == "" {
			continue
		}
		if _, dup := keys[kid]; dup {
			r.log.Warn("jwks: duplicate kid; keeping the first", "url", r.url, "kid", kid)
			continue
		}
		pub, err := usableKey(k)
		if err != nil {
			r.log.Debug("jwks: skipping key", "url", r.url, "kid", kid, "reason", err)
			continue
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks: GET %s: no usable keys (RSA >= %d bits or EC P-256, with kid)", r.url, minRSABits)
	}
	return keys, nil
}

// errUnusable marks a key that is not kept.
var errUnusable = errors.New("unusable key")

// usableKey returns the public form of k if it is an RSA (>= 2048 bits) or EC P-256 signature key.
func usableKey(k jwk.Key) (jwk.Key, error) {
	if use := k.KeyUsage(); use != "" && use != jwk.ForSignature.String() {
		return nil, fmt.Errorf("%w: use %q", errUnusable, use)
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnusable, err)
	}
	alg := ""
	if a := k.Algorithm(); a != nil {
		alg = a.String()
	}
	switch pk := pub.(type) {
	case jwk.RSAPublicKey:
		if alg != "" && alg != jwa.RS256.String() {
			return nil, fmt.Errorf("%w: RSA key for %s", errUnusable, alg)
		}
		if bits := len(pk.N()) * 8; bits < minRSABits {
			return nil, fmt.Errorf("%w: RSA key of %d bits", errUnusable, bits)
		}
	case jwk.ECDSAPublicKey:
		if pk.Crv() != jwa.P256 {
			return nil, fmt.Errorf("%w: EC curve %s", errUnusable, pk.Crv())
		}
		if alg != "" && alg != jwa.ES256.String() {
			return nil, fmt.Errorf("%w: EC key for %s", errUnusable, alg)
		}
	default:
		return nil, fmt.Errorf("%w: key type %s", errUnusable, k.KeyType())
	}
	return pub, nil
}
