package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/config"
)

// TestRelatedOrigins: LATCHKEY_RELATED_ORIGINS takes https origins with host names, normalised and listed
// once; anything else is refused at start-up with words naming the value.
func TestRelatedOrigins(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      []string
		problem   string
	}{
		{"unset", "", nil, ""},
		{"two origins", "https://shop.example.com, https://Example.co.uk:8443", []string{"https://shop.example.com", "https://example.co.uk:8443"}, ""},
		{"trailing slash and duplicates", "https://a.example/,https://A.example", []string{"https://a.example"}, ""},
		{"empty items", " , https://a.example ,, ", []string{"https://a.example"}, ""},
		{"plain http", "http://a.example", nil, `"http://a.example" is not an https origin`},
		{"no scheme", "a.example", nil, `"a.example" is not an https origin`},
		{"path", "https://a.example/login", nil, `"https://a.example/login" must be an origin only`},
		{"query", "https://a.example?x=1", nil, "must be an origin only"},
		{"user", "https://u:p@a.example", nil, "must be an origin only"},
		{"IPv4", "https://192.0.2.1", nil, "must use a host name, not an IP address"},
		{"IPv6", "https://[2001:db8::1]", nil, "must use a host name, not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(func(k string) string {
				if k == "LATCHKEY_RELATED_ORIGINS" {
					return tc.raw
				}
				return ""
			})
			if tc.problem == "" {
				if err != nil || !slices.Equal(c.RelatedOrigins, tc.want) {
					t.Fatalf("RelatedOrigins = %q, %v; want %q", c.RelatedOrigins, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("Load error %v, want one saying %q", err, tc.problem)
			}
		})
	}
}
