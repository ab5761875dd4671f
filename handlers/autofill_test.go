package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestAutofillBegin: the passkey autofill started on every view of the login page answers log-in options
// with the ceremony cookie, writes nothing to the database, and has a budget of its own: a spent button
// budget leaves autofill working, and page views never use up the "Log in with a passkey" button's.
func TestAutofillBegin(t *testing.T) {
	s, _ := newStackEnv(t, map[string]string{"LATCHKEY_RATE_LIMIT": "3/min"})
	before := snapshot(t, s)
	begin := func(path string) (*http.Response, string) { return send(t, s, path, "application/json", []byte(`{}`)) }

	for i := range 3 {
		if resp, body := begin("/passkeys/login/begin"); resp.StatusCode != http.StatusOK {
			t.Fatalf("button begin %d: status %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := begin("/passkeys/login/begin")
	checkPlainError(t, resp, body, http.StatusTooManyRequests, "Too many attempts.")

	for i := range 3 {
		resp, body := begin("/passkeys/login/autofill")
		var opts struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
				RPID      string `json:"rpId"`
			} `json:"publicKey"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &opts) != nil || opts.PublicKey.Challenge == "" || opts.PublicKey.RPID != "localhost" {
			t.Fatalf("autofill begin %d with the button's budget spent: status %d, body %s", i, resp.StatusCode, body)
		}
		if cookieNamed(resp, ceremonyCookieName) == nil {
			t.Fatalf("autofill begin %d set no ceremony cookie", i)
		}
	}
	resp, body = begin("/passkeys/login/autofill")
	checkPlainError(t, resp, body, http.StatusTooManyRequests, "Too many attempts.")

	if after := snapshot(t, s); after != before {
		t.Errorf("begins wrote to the database: %+v -> %+v", before, after)
	}
}
