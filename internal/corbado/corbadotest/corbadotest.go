// Package corbadotest is a local fake of a Corbado project for tests: a Frontend API that publishes a
// JWKS and a Backend API that answers user and identifier look-ups, both on httptest servers, plus
// session tokens signed and shaped like Corbado's.
package corbadotest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/latchkey/latchkey/internal/corbado"
)

// DefaultTTL is the lifetime of a token when TokenClaims.Expires is zero.
const DefaultTTL = 15 * time.Minute

// Fake is a Corbado project on two local servers. It is safe for concurrent use.
type Fake struct {
	ProjectID string

	apiSecret string
	frontend  *httptest.Server
	backend   *httptest.Server

	mu           sync.Mutex
	signing      map[string]jwk.Key // every private key ever made, by kid
	published    []string           // kids in the JWKS, in order
	current      string             // kid that signs by default
	nextKey      int
	jwksDown     bool
	jwksRequests int
	backendDown  bool
	users        map[string]corbado.UserDetails
	identifiers  []Identifier
	backendReqs  []BackendRequest
	browserAPI   *httptest.Server // StartBrowserAPI's HTTPS server; nil until started
	browserReqs  []BrowserRequest
}

// Identifier is one login identifier the fake Backend API returns.
type Identifier struct {
	ID     string // identifierID; made up when empty
	UserID string // "usr-…"
	Type   string // "email", "phone" or "username"
	Value  string
	Status string // "primary", "verified" or "pending"
}

// BackendRequest records one request to the fake Backend API.
type BackendRequest struct {
	Method   string
	Path     string
	RawPath  string     // the path as sent, before decoding
	Query    url.Values // decoded query
	RawQuery string
	AuthOK   bool   // HTTP Basic with the right project ID and API secret
	Accept   string // the Accept header
}

// TokenClaims describes a session token. Zero fields get defaults: Issuer IssuerCloud, Subject
// "usr-1", IssuedAt now, NotBefore IssuedAt, Expires IssuedAt+15m, Orig Email; KID "" signs with the
// current key. A KID the fake does not know is put in the header while the current key signs.
type TokenClaims struct {
	Issuer, Subject, Name, Email, Phone, Orig string
	IssuedAt, NotBefore, Expires              time.Time
	KID                                       string
}

// New starts the fake Frontend and Backend API servers (closed in t.Cleanup) with one 2048-bit RSA
// signing key. projectID must be valid (corbado.ValidProjectID: "pro-" and digits).
func New(t testing.TB, projectID, apiSecret string) *Fake {
	t.Helper()
	if !corbado.ValidProjectID(projectID) {
		// Latchkey's config and Corbado's bundle both refuse it: a test using it would test nothing real.
		t.Fatalf("corbadotest: project ID %q is not \"pro-\" followed by digits", projectID)
	}
	f := &Fake{
		ProjectID: projectID,
		apiSecret: apiSecret,
		signing:   map[string]jwk.Key{},
		users:     map[string]corbado.UserDetails{},
	}
	if _, err := f.addKey(false); err != nil {
		t.Fatalf("corbadotest: %v", err)
	}

	fe := http.NewServeMux()
	fe.HandleFunc("GET /.well-known/jwks", f.serveJWKS)
	f.frontend = httptest.NewServer(fe)
	t.Cleanup(f.frontend.Close)

	be := http.NewServeMux()
	be.HandleFunc("GET /v2/users/{userID}", f.serveUser)
	be.HandleFunc("GET /v2/identifiers", f.serveIdentifiers)
	f.backend = httptest.NewServer(f.recordBackend(be))
	t.Cleanup(f.backend.Close)
	return f
}

// FrontendURL is the fake Frontend API (CORBADO_FRONTEND_API); its JWKS is at /.well-known/jwks.
func (f *Fake) FrontendURL() string { return f.frontend.URL }

// BackendURL is the fake Backend API (CORBADO_BACKEND_API).
func (f *Fake) BackendURL() string { return f.backend.URL }

// IssuerCloud is the issuer of tokens from the default Frontend API host.
func (f *Fake) IssuerCloud() string {
	return "https://" + f.ProjectID + ".frontendapi.cloud.corbado.io"
}

// IssuerLegacy is the issuer of tokens from the older Frontend API host.
func (f *Fake) IssuerLegacy() string { return "https://" + f.ProjectID + ".frontendapi.corbado.io" }

// CurrentKID is the kid of the key that signs tokens by default.
func (f *Fake) CurrentKID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}

// RotateKey makes a new RSA key current and withdraws every older key from the JWKS. Tokens can
// still be signed with a withdrawn key by naming its KID.
func (f *Fake) RotateKey() (newKID string) { return f.mustAddKey(false) }

// AddKey makes a new RSA key current and keeps the older keys in the JWKS.
func (f *Fake) AddKey() (newKID string) { return f.mustAddKey(true) }

func (f *Fake) mustAddKey(keepOld bool) string {
	kid, err := f.addKey(keepOld)
	if err != nil {
		panic(fmt.Sprintf("corbadotest: %v", err))
	}
	return kid
}

func (f *Fake) addKey(keepOld bool) (string, error) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextKey++
	kid := fmt.Sprintf("pkey-%s-%d", strings.TrimPrefix(f.ProjectID, "pro-"), f.nextKey)
	for _, kv := range []struct {
		k string
		v any
	}{{jwk.KeyIDKey, kid}, {jwk.AlgorithmKey, jwa.RS256}, {jwk.KeyUsageKey, "sig"}} {
		if err := key.Set(kv.k, kv.v); err != nil {
			return "", err
		}
	}
	f.signing[kid] = key
	if !keepOld {
		f.published = nil
	}
	f.published = append(f.published, kid)
	f.current = kid
	return kid, nil
}

// Token returns an RS256 session token shaped like Corbado's (header kid; claims iss, sub, name,
// email, phone_number, orig, iat, nbf, exp, jti).
func (f *Fake) Token(t testing.TB, c TokenClaims) string {
	t.Helper()
	f.mu.Lock()
	kid := c.KID
	if kid == "" {
		kid = f.current
	}
	key, ok := f.signing[kid]
	if !ok {
		key = f.signing[f.current]
	}
	f.mu.Unlock()
	if !ok {
		// jws takes the header kid from the key, so sign with a copy that carries the unknown kid.
		clone, err := key.Clone()
		if err == nil {
			err = clone.Set(jwk.KeyIDKey, kid)
		}
		if err != nil {
			t.Fatalf("corbadotest: %v", err)
		}
		key = clone
	}

	if c.Issuer == "" {
		c.Issuer = f.IssuerCloud()
	}
	if c.Subject == "" {
		c.Subject = "usr-1"
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = c.IssuedAt
	}
	if c.Expires.IsZero() {
		c.Expires = c.IssuedAt.Add(DefaultTTL)
	}
	if c.Orig == "" {
		c.Orig = c.Email
	}
	b := jwt.NewBuilder().
		Issuer(c.Issuer).
		Subject(c.Subject).
		IssuedAt(c.IssuedAt).
		NotBefore(c.NotBefore).
		Expiration(c.Expires).
		JwtID(rand.Text())
	for name, v := range map[string]string{"name": c.Name, "email": c.Email, "phone_number": c.Phone, "orig": c.Orig} {
		if v != "" {
			b = b.Claim(name, v)
		}
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatalf("corbadotest: building token: %v", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatalf("corbadotest: signing token: %v", err)
	}
	return string(signed)
}

// SetJWKSDown makes the JWKS endpoint answer 503 (down) or serve the keys again.
func (f *Fake) SetJWKSDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jwksDown = down
}

// JWKSRequests counts requests to the JWKS endpoint, including those answered 503.
func (f *Fake) JWKSRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jwksRequests
}

// AddUser makes the Backend API know u: GET /v2/users/{u.ID} returns u.FullName, and u.Email (when
// set) is the user's primary email identifier.
func (f *Fake) AddUser(u corbado.UserDetails) {
	f.mu.Lock()
	f.users[u.ID] = u
	f.mu.Unlock()
	if u.Email != "" {
		f.AddIdentifier(Identifier{UserID: u.ID, Type: "email", Value: u.Email, Status: "primary"})
	}
}

// AddIdentifier adds a login identifier to the Backend API's list.
func (f *Fake) AddIdentifier(id Identifier) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id.ID == "" {
		id.ID = fmt.Sprintf("ide-%d", len(f.identifiers)+1)
	}
	f.identifiers = append(f.identifiers, id)
}

// SetBackendDown makes every Backend API endpoint answer 503 (down) or work again.
func (f *Fake) SetBackendDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backendDown = down
}

// BackendRequests returns the requests the Backend API has received, oldest first.
func (f *Fake) BackendRequests() []BackendRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]BackendRequest(nil), f.backendReqs...)
}

func (f *Fake) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	f.jwksRequests++
	down := f.jwksDown
	set := jwk.NewSet()
	var err error
	for _, kid := range f.published {
		var pub jwk.Key
		if pub, err = f.signing[kid].PublicKey(); err != nil {
			break
		}
		if err = set.AddKey(pub); err != nil {
			break
		}
	}
	f.mu.Unlock()
	if down {
		writeError(w, http.StatusServiceUnavailable, "service unavailable")
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, set)
}

// recordBackend logs each Backend API request, then answers 503 when down and 401 without the right
// HTTP Basic credentials, as Corbado does.
func (f *Fake) recordBackend(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		authOK := ok && user == f.ProjectID && pass == f.apiSecret
		f.mu.Lock()
		f.backendReqs = append(f.backendReqs, BackendRequest{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
			Query: r.URL.Query(), RawQuery: r.URL.RawQuery, AuthOK: authOK, Accept: r.Header.Get("Accept"),
		})
		down := f.backendDown
		f.mu.Unlock()
		switch {
		case down:
			writeError(w, http.StatusServiceUnavailable, "service unavailable")
		case !authOK:
			writeError(w, http.StatusUnauthorized, "login_error")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (f *Fake) serveUser(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	u, ok := f.users[r.PathValue("userID")]
	f.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"userID": u.ID, "fullName": u.FullName, "status": "active", "explicitWebauthnID": "",
	})
}

// serveIdentifiers supports the filters Latchkey sends: userID:eq:{ID without "usr-"} and
// identifierType:eq:{type}. Other filters are refused with 400.
func (f *Fake) serveIdentifiers(w http.ResponseWriter, r *http.Request) {
	var userID, typ string
	for _, filter := range r.URL.Query()["filter[]"] {
		field, value, ok := strings.Cut(filter, ":eq:")
		switch {
		case ok && field == "userID":
			userID = "usr-" + value
		case ok && field == "identifierType":
			typ = value
		default:
			writeError(w, http.StatusBadRequest, "validation_error: unsupported filter")
			return
		}
	}
	f.mu.Lock()
	list := []map[string]string{}
	for _, id := range f.identifiers {
		if (userID == "" || id.UserID == userID) && (typ == "" || id.Type == typ) {
			list = append(list, map[string]string{
				"identifierID": id.ID, "type": id.Type, "value": id.Value, "status": id.Status, "userID": id.UserID,
			})
		}
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"identifiers": list,
		"paging":      map[string]int{"page": 1, "totalPages": 1, "totalItems": len(list)},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the shape of Corbado's error responses.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{
		"httpStatusCode": status,
		"message":        msg,
		"error":          map[string]any{"type": msg},
	})
}
