// Package passkeyclient is a scripted browser for load tools: a software passkey authenticator
// (internal/softauthn) and an HTTP client that sign up and log in to a running Latchkey through the real
// ceremonies (begin, finish, then the session exchange), as passkeys.js does in a browser.
package passkeyclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"time"

	"github.com/latchkey/latchkey/internal/softauthn"
)

// Options configures a Client. The zero value uses http.DefaultTransport and a 30 s timeout.
type Options struct {
	Transport http.RoundTripper // e.g. one that dials 127.0.0.1 while the URL says localhost
	Timeout   time.Duration
}

// Client is one person's browser: a cookie jar, and an authenticator holding their passkeys. It is not
// safe for concurrent use; give each concurrent worker its own.
type Client struct {
	base string
	http *http.Client
	auth *softauthn.Authenticator
}

// New returns a client for the Latchkey at base, its public URL (e.g. "http://localhost:8080"), which is
// also the origin the authenticator reports.
func New(base string, opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	c := &Client{base: base, auth: softauthn.New(base), http: &http.Client{
		Transport: opts.Transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
	c.ClearCookies()
	return c
}

// ClearCookies forgets every cookie, as a new browser profile would (the passkeys stay).
func (c *Client) ClearCookies() {
	jar, _ := cookiejar.New(nil) // never fails without options
	c.http.Jar = jar
}

// post sends body (JSON, or nothing) to path and returns the response body; a status of 400 or more is an
// error naming the path, the status and the server's words.
func (c *Client) post(ctx context.Context, path string, body []byte) ([]byte, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
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
		return nil, nil, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, resp, nil
}

// SignUp creates an account for email and name with a new passkey in the client's authenticator. The
// provider's session JWT cookie is left in the jar, not exchanged.
func (c *Client) SignUp(ctx context.Context, email, name string) error {
	opts, _, err := c.post(ctx, "/passkeys/signup/begin", fmt.Appendf(nil, `{"email":%q,"name":%q}`, email, name))
	if err != nil {
		return err
	}
	cred, err := c.auth.CreateJSON(opts, softauthn.Tweaks{})
	if err != nil {
		return err
	}
	_, _, err = c.post(ctx, "/passkeys/signup/finish", cred)
	return err
}

// LogIn logs in with the client's newest passkey (begin, finish), exchanges the session JWT for a
// server-side session and returns that session's cookie as name=value.
func (c *Client) LogIn(ctx context.Context) (string, error) {
	opts, _, err := c.post(ctx, "/passkeys/login/begin", []byte(`{}`))
	if err != nil {
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

// SignUpAndLogIn creates an account with a passkey, logs in with it, exchanges the session JWT and
// returns the server-side session cookie as name=value.
func (c *Client) SignUpAndLogIn(ctx context.Context, email string) (string, error) {
	if err := c.SignUp(ctx, email, "Load Test"); err != nil {
		return "", err
	}
	return c.LogIn(ctx)
}
