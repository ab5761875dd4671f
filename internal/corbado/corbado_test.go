package corbado_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/corbado"
	"github.com/latchkey/latchkey/internal/corbado/corbadotest"
	"github.com/latchkey/latchkey/internal/verify"
)

const (
	projectID = "pro-1234567890"
	apiSecret = "corbado1_s3cr3tValueThatMustNeverLeak"
)

func TestIssuers(t *testing.T) {
	legacy := "https://pro-1234567890.frontendapi.corbado.io"
	cloud := "https://pro-1234567890.frontendapi.cloud.corbado.io"
	tests := []struct {
		name        string
		frontendAPI string
		want        []string
	}{
		{"no frontend API", "", []string{legacy, cloud}},
		{"default cloud frontend API", cloud, []string{legacy, cloud}},
		{"cloud with trailing slash", cloud + "/", []string{legacy, cloud}},
		{"legacy frontend API", legacy, []string{legacy, cloud}},
		{"custom domain", "https://auth.example.com/", []string{legacy, cloud, "https://auth.example.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := corbado.Issuers(projectID, tc.frontendAPI); !slices.Equal(got, tc.want) {
				t.Fatalf("Issuers = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	if got, want := corbado.DefaultFrontendAPI(projectID), "https://pro-1234567890.frontendapi.cloud.corbado.io"; got != want {
		t.Errorf("DefaultFrontendAPI = %q, want %q", got, want)
	}
	for in, want := range map[string]string{
		"https://pro-1.frontendapi.cloud.corbado.io":  "https://pro-1.frontendapi.cloud.corbado.io/.well-known/jwks",
		"https://pro-1.frontendapi.cloud.corbado.io/": "https://pro-1.frontendapi.cloud.corbado.io/.well-known/jwks",
	} {
		if got := corbado.JWKSURL(in); got != want {
			t.Errorf("JWKSURL(%q) = %q, want %q", in, got, want)
		}
	}
	if corbado.DefaultBackendAPI != "https://backendapi.cloud.corbado.io" {
		t.Errorf("DefaultBackendAPI = %q", corbado.DefaultBackendAPI)
	}
}

func TestUserSendsBasicAuthAndTheIdentifierQuery(t *testing.T) {
	fake := corbadotest.New(t, projectID, apiSecret)
	fake.AddUser(corbado.UserDetails{ID: "usr-42", FullName: "Ada Lovelace", Email: "ada@example.com"})
	c := corbado.NewClient(fake.BackendURL()+"/", projectID, apiSecret, nil)

	got, err := c.User(context.Background(), "usr-42")
	if err != nil {
		t.Fatal(err)
	}
	if want := (corbado.UserDetails{ID: "usr-42", FullName: "Ada Lovelace", Email: "ada@example.com"}); got != want {
		t.Fatalf("User = %+v, want %+v", got, want)
	}

	reqs := fake.BackendRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d backend requests, want 2: %+v", len(reqs), reqs)
	}
	for _, r := range reqs {
		if !r.AuthOK || r.Method != http.MethodGet || r.Accept != "application/json" {
			t.Errorf("request %+v: want GET with correct Basic auth and Accept: application/json", r)
		}
	}
	if reqs[0].Path != "/v2/users/usr-42" {
		t.Errorf("first request path = %q", reqs[0].Path)
	}
	if reqs[1].Path != "/v2/identifiers" {
		t.Errorf("second request path = %q", reqs[1].Path)
	}
	if want := []string{"userID:eq:42", "identifierType:eq:email"}; !slices.Equal(reqs[1].Query["filter[]"], want) {
		t.Errorf("filter[] = %q, want %q", reqs[1].Query["filter[]"], want)
	}
	// The query is encoded: brackets and colons escaped, nothing raw.
	if !strings.Contains(reqs[1].RawQuery, "filter%5B%5D=userID%3Aeq%3A42") {
		t.Errorf("raw query %q is not properly encoded", reqs[1].RawQuery)
	}
}

func TestUserBasicAuthHeader(t *testing.T) {
	var header atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"userID":"usr-1","fullName":"A","identifiers":[]}`))
	}))
	defer srv.Close()
	c := corbado.NewClient(srv.URL, projectID, apiSecret, nil)
	if _, err := c.User(context.Background(), "usr-1"); err != nil {
		t.Fatal(err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(projectID+":"+apiSecret))
	if got := header.Load(); got != want {
		t.Fatalf("Authorization = %q, want %q", got, want)
	}
}

func TestUserWrongSecretIs401(t *testing.T) {
	fake := corbadotest.New(t, projectID, apiSecret)
	fake.AddUser(corbado.UserDetails{ID: "usr-42", FullName: "Ada", Email: "ada@example.com"})
	wrong := "corbado1_wrongSecretAlsoMustNotLeak"
	_, err := corbado.NewClient(fake.BackendURL(), projectID, wrong, nil).User(context.Background(), "usr-42")
	var se *corbado.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401 StatusError", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("error contains the secret: %v", err)
	}
	if reqs := fake.BackendRequests(); len(reqs) != 1 || reqs[0].AuthOK {
		t.Fatalf("backend requests = %+v, want one with bad auth", reqs)
	}
}

func TestUserPrimaryEmailChoice(t *testing.T) {
	type ident = corbadotest.Identifier
	tests := []struct {
		name string
		ids  []ident
		want string
	}{
		{"primary wins over earlier ones", []ident{
			{Type: "email", Value: "pending@example.com", Status: "pending"},
			{Type: "email", Value: "verified@example.com", Status: "verified"},
			{Type: "email", Value: "primary@example.com", Status: "primary"},
		}, "primary@example.com"},
		{"first verified without a primary", []ident{
			{Type: "email", Value: "pending@example.com", Status: "pending"},
			{Type: "email", Value: "v1@example.com", Status: "verified"},
			{Type: "email", Value: "v2@example.com", Status: "verified"},
		}, "v1@example.com"},
		{"first one otherwise", []ident{
			{Type: "email", Value: "p1@example.com", Status: "pending"},
			{Type: "email", Value: "p2@example.com", Status: "pending"},
		}, "p1@example.com"},
		{"phones are not emails", []ident{
			{Type: "phone", Value: "+4915100000000", Status: "primary"},
			{Type: "email", Value: "mail@example.com", Status: "verified"},
		}, "mail@example.com"},
		{"no email", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := corbadotest.New(t, projectID, apiSecret)
			fake.AddUser(corbado.UserDetails{ID: "usr-7", FullName: "Grace Hopper"})
			// Another user's primary email must not be picked.
			fake.AddUser(corbado.UserDetails{ID: "usr-8", FullName: "Other", Email: "other@example.com"})
			for _, id := range tc.ids {
				id.UserID = "usr-7"
				fake.AddIdentifier(id)
			}
			got, err := corbado.NewClient(fake.BackendURL(), projectID, apiSecret, nil).User(context.Background(), "usr-7")
			if err != nil {
				t.Fatal(err)
			}
			if got.Email != tc.want || got.FullName != "Grace Hopper" {
				t.Fatalf("User = %+v, want email %q", got, tc.want)
			}
		})
	}
}

// TestValidProjectID mirrors the check in Corbado's web-js bundle, /^pro-\d+$/ (JavaScript's \d is ASCII
// only), with at most 59 digits so the ID fits into one DNS label of the Frontend API host.
func TestValidProjectID(t *testing.T) {
	digits59 := strings.Repeat("9", corbado.MaxProjectIDDigits)
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"pro-0", true},
		{"pro-1", true},
		{projectID, true},
		{"pro-4242424242", true},
		{"pro-" + digits59, true},
		{"pro-" + digits59 + "9", false},
		{"", false},
		{"pro-", false},
		{"pro", false},
		{"1234567890", false},
		{"pro-abc", false},
		{"pro-123abc", false},
		{"pro-abc123", false},
		{"pro-12AB34", false},
		{"Pro-123", false},
		{"PRO-123", false},
		{"pro_123", false},
		{"pro--123", false},
		{"pro-+123", false},
		{"pro-1.2", false},
		{"pro-1/../x", false},
		{"pro-12 ", false},
		{" pro-12", false},
		{"pro-12\n", false},
		{"pro-\u0661\u0662", false}, // Arabic-Indic digits
		{"pro-\uff11\uff12", false}, // fullwidth digits
		{"xpro-12", false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			if got := corbado.ValidProjectID(tc.id); got != tc.want {
				t.Fatalf("ValidProjectID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestUserInvalidIDsMakeNoRequest(t *testing.T) {
	fake := corbadotest.New(t, projectID, apiSecret)
	c := corbado.NewClient(fake.BackendURL(), projectID, apiSecret, nil)
	for _, id := range []string{
		"", "usr-", "usr", "42", "USR-42", "usr-42/../../v2/projects", "usr-42?x=1", "usr-42#f",
		"usr-4%2F2", "usr-42 ", " usr-42", "usr-42\n", "usr-ä", "usr-42/identifiers",
	} {
		t.Run(id, func(t *testing.T) {
			if _, err := c.User(context.Background(), id); !errors.Is(err, corbado.ErrInvalidUserID) {
				t.Fatalf("User(%q): err = %v, want ErrInvalidUserID", id, err)
			}
		})
	}
	if reqs := fake.BackendRequests(); len(reqs) != 0 {
		t.Fatalf("invalid IDs caused %d requests", len(reqs))
	}
}

func TestUserBackendFailures(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"server error", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"internal_error"}`, http.StatusInternalServerError)
		}, "GET /v2/users/usr-42: status 500"},
		{"unauthorized", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"login_error"}`, http.StatusUnauthorized)
		}, "status 401"},
		{"not found", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"not_found"}`, http.StatusNotFound)
		}, "status 404"},
		{"bad JSON", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"fullName": `))
		}, "invalid JSON"},
		{"identifiers fail", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/identifiers" {
				http.Error(w, "boom", http.StatusBadGateway)
				return
			}
			_, _ = w.Write([]byte(`{"userID":"usr-42","fullName":"Ada"}`))
		}, "GET /v2/identifiers: status 502"},
		{"huge body", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"fullName":"` + strings.Repeat("a", corbado.MaxResponseSize) + `"}`))
		}, "larger than"},
		{"timeout", slow, "GET /v2/users/usr-42"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var auth atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth.Store(r.Header.Get("Authorization"))
				tc.handler(w, r)
			}))
			defer srv.Close()
			c := corbado.NewClient(srv.URL, projectID, apiSecret, &http.Client{Timeout: 100 * time.Millisecond})
			_, err := c.User(context.Background(), "usr-42")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			msg := err.Error()
			hdr, _ := auth.Load().(string)
			if strings.Contains(msg, apiSecret) || hdr == "" || strings.Contains(msg, strings.TrimPrefix(hdr, "Basic ")) {
				t.Fatalf("error leaks the secret or Authorization header: %v", err)
			}
		})
	}

	t.Run("fake backend down", func(t *testing.T) {
		fake := corbadotest.New(t, projectID, apiSecret)
		fake.AddUser(corbado.UserDetails{ID: "usr-42", FullName: "Ada"})
		fake.SetBackendDown(true)
		c := corbado.NewClient(fake.BackendURL(), projectID, apiSecret, nil)
		if _, err := c.User(context.Background(), "usr-42"); err == nil || !strings.Contains(err.Error(), "status 503") {
			t.Fatalf("err = %v, want status 503", err)
		}
		fake.SetBackendDown(false)
		if _, err := c.User(context.Background(), "usr-42"); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		_, err := corbado.NewClient(url, projectID, apiSecret, nil).User(context.Background(), "usr-42")
		if err == nil || strings.Contains(err.Error(), apiSecret) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("secret in a URL is not echoed", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(slow))
		defer srv.Close()
		withInfo := strings.Replace(srv.URL, "http://", "http://user:"+apiSecret+"@", 1)
		c := corbado.NewClient(withInfo, projectID, apiSecret, &http.Client{Timeout: 50 * time.Millisecond})
		if _, err := c.User(context.Background(), "usr-42"); err == nil || strings.Contains(err.Error(), apiSecret) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestFakeTokensVerify drives verify.Verifier over verify.RemoteKeys against the fake Frontend API:
// both issuer forms and a custom domain, a wrong issuer, rotation, and the JWKS going down.
func TestFakeTokensVerify(t *testing.T) {
	fake := corbadotest.New(t, projectID, apiSecret)
	keys := verify.NewRemoteKeys(verify.RemoteOptions{
		URL:           corbado.JWKSURL(fake.FrontendURL()),
		MinRefetchGap: 10 * time.Millisecond,
		Log:           slog.New(slog.DiscardHandler),
	})
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := verify.New(keys, verify.Options{Issuers: corbado.Issuers(projectID, fake.FrontendURL())})
	ctx := context.Background()
	claims := corbadotest.TokenClaims{
		Subject: "usr-42", Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+4915100000000",
	}

	for _, iss := range []string{fake.IssuerCloud(), fake.IssuerLegacy(), fake.FrontendURL()} {
		c := claims
		c.Issuer = iss
		id, err := v.Verify(ctx, fake.Token(t, c))
		if err != nil {
			t.Fatalf("issuer %q: %v", iss, err)
		}
		if id.UserID != "usr-42" || id.Name != "Ada Lovelace" || id.Email != "ada@example.com" || id.Issuer != iss || id.TokenID == "" {
			t.Fatalf("identity = %+v", id)
		}
	}
	wrong := claims
	wrong.Issuer = "https://pro-999.frontendapi.cloud.corbado.io"
	if _, err := v.Verify(ctx, fake.Token(t, wrong)); !errors.Is(err, verify.ErrIssuer) {
		t.Fatalf("wrong issuer: err = %v, want ErrIssuer", err)
	}
	expired := claims
	expired.IssuedAt = time.Now().Add(-time.Hour)
	if _, err := v.Verify(ctx, fake.Token(t, expired)); !errors.Is(err, verify.ErrExpired) {
		t.Fatalf("expired: err = %v, want ErrExpired", err)
	}
	if n := fake.JWKSRequests(); n != 1 {
		t.Fatalf("JWKS requests = %d, want 1", n)
	}

	oldKID := fake.CurrentKID()
	newKID := fake.RotateKey()
	if newKID == oldKID {
		t.Fatal("RotateKey kept the kid")
	}
	if _, err := v.Verify(ctx, fake.Token(t, claims)); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if n := fake.JWKSRequests(); n != 2 {
		t.Fatalf("JWKS requests after rotation = %d, want 2", n)
	}

	fake.SetJWKSDown(true)
	if _, err := v.Verify(ctx, fake.Token(t, claims)); err != nil {
		t.Fatalf("cached key with JWKS down: %v", err)
	}
	time.Sleep(20 * time.Millisecond) // past the refetch gap
	unseen := claims
	unseen.KID = "pkey-never-published"
	if _, err := v.Verify(ctx, fake.Token(t, unseen)); !errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("unknown kid with JWKS down: err = %v, want ErrUnavailable", err)
	}
}

func TestFakeJWKSDownAndKeepOld(t *testing.T) {
	fake := corbadotest.New(t, projectID, apiSecret)
	first := fake.CurrentKID()
	second := fake.AddKey()

	get := func() (int, string) {
		resp, err := http.Get(corbado.JWKSURL(fake.FrontendURL()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	status, body := get()
	if status != http.StatusOK || !strings.Contains(body, first) || !strings.Contains(body, second) || strings.Contains(body, `"d"`) {
		t.Fatalf("JWKS = %d %s, want both public keys", status, body)
	}
	fake.SetJWKSDown(true)
	if status, _ := get(); status != http.StatusServiceUnavailable {
		t.Fatalf("down: status %d", status)
	}
	fake.SetJWKSDown(false)
	third := fake.RotateKey()
	if _, body := get(); strings.Contains(body, first) || strings.Contains(body, second) || !strings.Contains(body, third) {
		t.Fatalf("after RotateKey JWKS = %s, want only %s", body, third)
	}
	if n := fake.JWKSRequests(); n != 3 {
		t.Fatalf("JWKSRequests = %d, want 3", n)
	}
}

func TestFakeTokenShape(t *testing.T) {
	fake := corbadotest.New(t, projectID, apiSecret)
	iat := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tok := fake.Token(t, corbadotest.TokenClaims{
		Subject: "usr-42", Name: "Ada", Email: "ada@example.com", Phone: "+4915100000000", IssuedAt: iat,
	})
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	decode := func(s string) map[string]any {
		t.Helper()
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	hdr := decode(parts[0])
	if hdr["alg"] != "RS256" || hdr["kid"] != fake.CurrentKID() || hdr["typ"] != "JWT" {
		t.Errorf("header = %v", hdr)
	}
	claims := decode(parts[1])
	want := map[string]any{
		"iss": fake.IssuerCloud(), "sub": "usr-42", "name": "Ada", "email": "ada@example.com",
		"phone_number": "+4915100000000", "orig": "ada@example.com",
		"iat": float64(iat.Unix()), "nbf": float64(iat.Unix()), "exp": float64(iat.Add(corbadotest.DefaultTTL).Unix()),
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Error("jti missing")
	}
	if len(claims) != len(want)+1 {
		t.Errorf("claims = %v, want exactly %d", claims, len(want)+1)
	}
}

// The fake's browser-facing Frontend API answers what web-js asks after a login, with CORS for the
// calling origin (credentials allowed), and records every request, preflights included.
func TestFakeBrowserAPI(t *testing.T) {
	fake := corbadotest.New(t, projectID, apiSecret)
	host, addr := fake.StartBrowserAPI(t, "app.example.test")
	if host != "pro-1234567890.frontendapi.corbado.io" {
		t.Errorf("host = %q, want the bundle's default Frontend API host", host)
	}
	if host2, addr2 := fake.StartBrowserAPI(t, "ignored"); host2 != host || addr2 != addr {
		t.Errorf("second start: %s %s, want the running %s %s", host2, addr2, host, addr)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	const origin = "http://localhost:8080"
	call := func(method, path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, "https://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q, want %q", method, path, got, origin)
		}
		if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
			t.Errorf("%s %s: Access-Control-Allow-Credentials %q, want true", method, path, got)
		}
		return resp, strings.TrimSpace(string(b))
	}

	resp, _ := call("OPTIONS", "/v2/session-config", map[string]string{
		"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-corbado-sdk,content-type",
	})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Headers") != "x-corbado-sdk,content-type" {
		t.Errorf("preflight: %d, allow headers %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Headers"))
	}
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v2/session-config", `{"frontendApiUrl":"","sessionTokenCookieConfig":{"domain":"app.example.test","lifetimeSeconds":900,"path":"/","sameSite":"lax","secure":false},"useSessionManagement":true}`},
		{"GET", "/v2/me/passkeys", `{"paging":{"page":1,"totalItems":0,"totalPages":1},"passkeys":[]}`},
		{"POST", "/v2/me/logout", `{}`},
	} {
		if resp, body := call(tc.method, tc.path, nil); resp.StatusCode != 200 || body != tc.body {
			t.Errorf("%s %s: %d %s, want 200 %s", tc.method, tc.path, resp.StatusCode, body, tc.body)
		}
	}
	if resp, _ := call("POST", "/v2/auth/process/init", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d, want 404", resp.StatusCode)
	}

	want := []corbadotest.BrowserRequest{
		{Method: "OPTIONS", Path: "/v2/session-config", Origin: origin},
		{Method: "GET", Path: "/v2/session-config", Origin: origin},
		{Method: "GET", Path: "/v2/me/passkeys", Origin: origin},
		{Method: "POST", Path: "/v2/me/logout", Origin: origin},
		{Method: "POST", Path: "/v2/auth/process/init", Origin: origin},
	}
	if got := fake.BrowserRequests(); !slices.Equal(got, want) {
		t.Errorf("BrowserRequests =\n %+v\nwant\n %+v", got, want)
	}
}
