// Package corbado holds what Latchkey needs to know about a Corbado project: which issuers its
// session tokens carry, where its JWKS lives, and a small client for the Backend API that fetches a
// user's full name and primary email.
package corbado

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBackendAPI is Corbado's Backend API when CORBADO_BACKEND_API is not set.
const DefaultBackendAPI = "https://backendapi.cloud.corbado.io"

// Limits of the Backend API client.
const (
	DefaultTimeout  = 5 * time.Second
	MaxResponseSize = 1 << 20
	// identifierPageSize asks for enough email identifiers to see every one a user has.
	identifierPageSize = 100
)

// ErrInvalidUserID is returned, before any request, for a user ID that is not "usr-" followed by
// letters and digits.
var ErrInvalidUserID = errors.New("corbado: invalid user ID")

// validUserID reports whether id has the shape of a Corbado user ID, "usr-" followed by letters and
// digits; nothing else reaches a request path.
func validUserID(id string) bool { return prefixedAlnum(id, "usr-") }

// MaxProjectIDDigits bounds the digits of a project ID, so "pro-" and the digits fit into one DNS label
// (63 characters) of the Frontend API host, https://{projectID}.frontendapi.cloud.corbado.io.
const MaxProjectIDDigits = 59

// ValidProjectID reports whether id has the shape Corbado's web-js bundle accepts, /^pro-\d+$/: "pro-"
// followed by 1–MaxProjectIDDigits ASCII digits. Anything else would load, then fail in the browser with
// "Invalid project ID".
func ValidProjectID(id string) bool {
	digits, ok := strings.CutPrefix(id, "pro-")
	if !ok || digits == "" || len(digits) > MaxProjectIDDigits {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// prefixedAlnum reports whether s is prefix followed by 1–64 ASCII letters and digits.
func prefixedAlnum(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for _, r := range rest {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// DefaultFrontendAPI is the Frontend API of a project when CORBADO_FRONTEND_API is not set.
func DefaultFrontendAPI(projectID string) string {
	return "https://" + projectID + ".frontendapi.cloud.corbado.io"
}

// JWKSURL is where a Frontend API publishes its signing keys.
func JWKSURL(frontendAPI string) string {
	return strings.TrimSuffix(frontendAPI, "/") + "/.well-known/jwks"
}

// Issuers lists the "iss" values a project's session tokens may carry: the legacy and the cloud
// Frontend API hosts, and the configured Frontend API (a custom domain), without duplicates.
func Issuers(projectID, frontendAPI string) []string {
	out := []string{
		"https://" + projectID + ".frontendapi.corbado.io",
		DefaultFrontendAPI(projectID),
	}
	if fe := strings.TrimSuffix(frontendAPI, "/"); fe != "" && fe != out[0] && fe != out[1] {
		out = append(out, fe)
	}
	return out
}

// UserDetails is what the Backend API knows about a user.
type UserDetails struct {
	ID       string // "usr-…"
	FullName string
	Email    string // the primary email; "" when the user has none
}

// Client calls Corbado's Backend API with HTTP Basic authentication (project ID : API secret).
// It is safe for concurrent use. Its errors name the endpoint and status, never the secret.
type Client struct {
	base      string
	projectID string
	secret    string
	http      *http.Client
}

// NewClient returns a Backend API client. backendAPI "" means DefaultBackendAPI; httpClient nil means
// a client with a 5s timeout that does not follow redirects.
func NewClient(backendAPI, projectID, apiSecret string, httpClient *http.Client) *Client {
	if backendAPI == "" {
		backendAPI = DefaultBackendAPI
	}
	if httpClient == nil {
		httpClient = &http.Client{
			Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return &Client{
		base:      strings.TrimSuffix(backendAPI, "/"),
		projectID: projectID,
		secret:    apiSecret,
		http:      httpClient,
	}
}

// userRsp is the part of GET /v2/users/{userID} that Latchkey reads.
type userRsp struct {
	UserID   string `json:"userID"`
	FullName string `json:"fullName"`
}

// identifier is one entry of GET /v2/identifiers. Corbado's v2 API names the type field "type";
// "identifierType" is accepted too.
type identifier struct {
	ID             string `json:"identifierID"`
	Type           string `json:"type"`
	IdentifierType string `json:"identifierType"`
	Value          string `json:"value"`
	Status         string `json:"status"`
	UserID         string `json:"userID"`
}

type identifierList struct {
	Identifiers []identifier `json:"identifiers"`
}

// User fetches the user's full name and primary email. userID must look like "usr-…" (letters and
// digits only); anything else returns ErrInvalidUserID without a request.
func (c *Client) User(ctx context.Context, userID string) (UserDetails, error) {
	if !validUserID(userID) {
		return UserDetails{}, ErrInvalidUserID
	}
	var u userRsp
	if err := c.get(ctx, "/v2/users/"+userID, nil, &u); err != nil {
		return UserDetails{}, err
	}

	q := url.Values{}
	q.Add("filter[]", "userID:eq:"+strings.TrimPrefix(userID, "usr-"))
	q.Add("filter[]", "identifierType:eq:email")
	q.Set("pageSize", fmt.Sprint(identifierPageSize))
	var list identifierList
	if err := c.get(ctx, "/v2/identifiers", q, &list); err != nil {
		return UserDetails{}, err
	}
	return UserDetails{ID: userID, FullName: u.FullName, Email: primaryEmail(list.Identifiers)}, nil
}

// primaryEmail picks the email identifier with status "primary", else the first "verified" one,
// else the first one.
func primaryEmail(ids []identifier) string {
	var emails []identifier
	for _, id := range ids {
		typ := id.Type
		if typ == "" {
			typ = id.IdentifierType
		}
		if typ == "email" && id.Value != "" {
			emails = append(emails, id)
		}
	}
	for _, want := range []string{"primary", "verified"} {
		for _, id := range emails {
			if id.Status == want {
				return id.Value
			}
		}
	}
	if len(emails) > 0 {
		return emails[0].Value
	}
	return ""
}

// get sends an authenticated GET to path (with query q) and decodes a 200 JSON answer into out.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	endpoint := "GET " + path
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("corbado: %s: building request: %w", endpoint, err)
	}
	req.SetBasicAuth(c.projectID, c.secret)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("corbado: %s: %w", endpoint, redact(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return fmt.Errorf("corbado: %s: reading response: %w", endpoint, redact(err))
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Endpoint: endpoint, Status: resp.StatusCode}
	}
	if len(body) > MaxResponseSize {
		return fmt.Errorf("corbado: %s: response larger than %d bytes", endpoint, MaxResponseSize)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("corbado: %s: invalid JSON: %w", endpoint, err)
	}
	return nil
}

// redact drops the URL from a transport error: it names the host already given by the endpoint,
// and a configured URL with user info must not reach a log line.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// StatusError is a Backend API answer other than 200 OK.
type StatusError struct {
	Endpoint string // e.g. "GET /v2/users/usr-123"
	Status   int
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("corbado: %s: status %d", e.Endpoint, e.Status)
	if e.Status == http.StatusUnauthorized {
		msg += " (check CORBADO_PROJECT_ID and CORBADO_API_SECRET)"
	}
	return msg
}
