package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestStrictJSONBodies sends bodies encoding/json would quietly accept (a repeated key, bytes that are
// not UTF-8, an unpaired surrogate escape) to every endpoint that reads JSON, and look-alike emails to
// the sign-up: each is a 400 with exactly the plain words, nothing written, no ceremony started.
func TestStrictJSONBodies(t *testing.T) {
	t.Parallel()
	const (
		signupBegin = "/passkeys/signup/begin"
		loginBegin  = "/passkeys/login/begin"
		repeated    = "This request has a repeated field."
		notUTF8     = "This request is not valid text (UTF-8)."
		lookalike   = "Your email address contains invisible or look-alike characters. Type it again using plain letters."
	)
	s, _ := newStackEnv(t, nil)
	refused := []struct {
		name, path, body, want string
	}{
		{"duplicate key, top level", signupBegin, `{"email":"ada@example.com","email":"eve@example.com","name":"Ada"}`, repeated},
		{"duplicate key differing in case", signupBegin, `{"email":"ada@example.com","EMAIL":"eve@example.com","name":"Ada"}`, repeated},
		{"duplicate key spelt with an escape", signupBegin, `{"email":"ada@example.com","\u0065mail":"eve@example.com","name":"Ada"}`, repeated},
		{"duplicate key, empty object at log-in", loginBegin, `{"a":1,"a":1}`, repeated},
		{"duplicate key, nested", signupFinish, `{"id":"AA","type":"public-key","response":{"clientDataJSON":"AA","clientDataJSON":"AB"}}`, repeated},
		{"duplicate key, nested in an array", loginFinish, `{"id":"AA","x":[1,{"k":1,"k":2}]}`, repeated},
		{"duplicate key, deep", loginFinish, `{"a":{"b":{"c":{"d":[[{"e":null,"e":null}]]}}}}`, repeated},
		{"duplicate key after a nested object", signupFinish, `{"response":{"id":1},"id":"AA","response":{}}`, repeated},
		{"invalid UTF-8 byte in a value", signupBegin, "{\"email\":\"ada\xff@example.com\",\"name\":\"Ada\"}", notUTF8},
		{"invalid UTF-8 byte in a key", signupFinish, "{\"i\xffd\":\"AA\"}", notUTF8},
		{"overlong UTF-8", signupBegin, "{\"email\":\"ada@example.com\",\"name\":\"Ada \xc0\xaf\"}", notUTF8},
		{"UTF-8-encoded surrogate", loginFinish, "{\"id\":\"\xed\xa0\x80\"}", notUTF8},
		{"truncated UTF-8 at the end", loginFinish, "{\"id\":\"AA\"}\xe2\x82", notUTF8},
		{"unpaired high surrogate escape", signupBegin, `{"email":"ada@example.com","name":"Ada \ud800"}`, notUTF8},
		{"unpaired low surrogate escape", signupBegin, `{"email":"ada@example.com","name":"Ada \udc00"}`, notUTF8},
		{"high surrogate escape before a letter", loginFinish, `{"id":"\ud800\u0041"}`, notUTF8},
		{"surrogate escapes in the wrong order", loginFinish, `{"id":"\udc00\ud800"}`, notUTF8},
		{"unpaired surrogate escape in a key", loginFinish, `{"\udfff":1}`, notUTF8},
		{"look-alike email: Cyrillic а", signupBegin, `{"email":"аdmin@example.com","name":"Eve"}`, lookalike},
		{"look-alike email: Cyrillic е in the domain", signupBegin, `{"email":"admin@еxample.com","name":"Eve"}`, lookalike},
		{"look-alike email: zero-width space", signupBegin, `{"email":"ad\u200bmin@example.com","name":"Eve"}`, lookalike},
		{"look-alike email: right-to-left override", signupBegin, `{"email":"admin@\u202emoc.elpmaxe","name":"Eve"}`, lookalike},
		{"look-alike email: fullwidth", signupBegin, `{"email":"ａｄｍｉｎ@example.com","name":"Eve"}`, lookalike},
	}
	before := snapshot(t, s)
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			resp, body := send(t, s, tc.path, "application/json", []byte(tc.body))
			checkPlainError(t, resp, body, http.StatusBadRequest, tc.want)
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != tc.want {
				t.Errorf("error %q, want exactly %q", e.Error, tc.want)
			}
			if cookieNamed(resp, ceremonyCookieName) != nil {
				t.Error("a refused request touched the ceremony cookie")
			}
		})
	}
	if after := snapshot(t, s); after != before {
		t.Errorf("the database changed:\nbefore %+v\nafter  %+v", before, after)
	}

	// What a strict reader must still let through.
	accepted := []struct{ name, body, wantName, wantEmail string }{
		{"a surrogate pair escape", `{"email":"ada@example.com","name":"Ada \ud83d\ude00"}`, "Ada 😀", "ada@example.com"},
		{"an escaped backslash before u", `{"email":"ada@example.com","name":"Ada \\ud800"}`, `Ada \ud800`, "ada@example.com"},
		{"an emoji with a zero-width joiner", `{"email":"mariam@example.com","name":"Mariam 👩‍💻"}`, "Mariam 👩\u200d💻", "mariam@example.com"},
		{"a Persian name with a zero-width non-joiner", `{"email":"ali@example.com","name":"علی‌زاده"}`, "علی\u200cزاده", "ali@example.com"},
		{"an IDNA domain as xn--", `{"email":"user@XN--BCHER-KVA.example","name":"User"}`, "User", "user@bücher.example"},
	}
	for _, tc := range accepted {
		t.Run("accepted/"+tc.name, func(t *testing.T) {
			resp, body := send(t, s, signupBegin, "application/json", []byte(tc.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var o struct {
				PublicKey struct {
					User struct{ Name, DisplayName string }
				}
			}
			if err := json.Unmarshal([]byte(body), &o); err != nil || o.PublicKey.User.DisplayName != tc.wantName || o.PublicKey.User.Name != tc.wantEmail {
				t.Errorf("user entity %+v (%v), want name %q, email %q", o.PublicKey.User, err, tc.wantName, tc.wantEmail)
			}
		})
	}
	// Keys may repeat across objects: this reaches the ceremony check (no cookie), not the JSON one.
	for _, b := range []string{`{"k":{"k":1},"j":{"k":2},"a":[{"k":1},{"k":1}]}`, `{"id":"AA","response":{"id":"AA"}}`} {
		resp, body := send(t, s, loginFinish, "application/json", []byte(b))
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "repeated") || strings.Contains(body, "UTF-8") {
			t.Errorf("%s: status %d: %s; want the no-ceremony refusal", b, resp.StatusCode, body)
		}
	}
}
