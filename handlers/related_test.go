package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/softauthn"
)

// TestRelatedOrigins: /.well-known/webauthn serves {"origins": [...]} from LATCHKEY_RELATED_ORIGINS (404
// without it), and a ceremony from a related origin is accepted while one from an unlisted origin is not.
func TestRelatedOrigins(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		s := newStack(t)
		resp, _ := s.do(s.client(), req{method: "GET", path: "/.well-known/webauthn"})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})

	e := newHostileEnv(t, map[string]string{"LATCHKEY_RELATED_ORIGINS": "https://shop.example.com,https://Example.co.uk"})
	resp, body := e.s.do(e.s.client(), req{method: "GET", path: "/.well-known/webauthn"})
	var doc map[string][]string
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || dec.Decode(&doc) != nil ||
		len(doc) != 1 || strings.Join(doc["origins"], " ") != "https://shop.example.com https://example.co.uk" {
		t.Fatalf("related origins document: status %d, type %q, body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	// A sign-up on the related origin's page (its origin in clientDataJSON, this site's RP ID) works.
	e.auth = softauthn.New("https://shop.example.com")
	b := e.beginSignup(t, "related@example.com", "Ada")
	e.finish(t, "/passkeys/signup/finish", b, e.create(t, b, softauthn.Tweaks{}))

	// One from an origin not listed is refused.
	e.auth = softauthn.New("https://evil.example.net")
	b = e.beginSignup(t, "unlisted@example.com", "Eve")
	resp, body = send(t, e.s, "/passkeys/signup/finish", "application/json", e.create(t, b, softauthn.Tweaks{}), b.cookie)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-up from an unlisted origin: status %d %s, want 401", resp.StatusCode, body)
	}
}
