package assets

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// cssBlock returns the declarations between the "{" that follows the first match of selector and its
// matching "}".
func cssBlock(t *testing.T, css string, selector *regexp.Regexp) string {
	t.Helper()
	loc := selector.FindStringIndex(css)
	if loc == nil {
		t.Fatalf("app.css has no %s", selector)
	}
	open := strings.IndexByte(css[loc[1]-1:], '{') + loc[1] - 1
	depth := 0
	for i := open; i < len(css); i++ {
		switch css[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return css[open+1 : i]
			}
		}
	}
	t.Fatalf("app.css: %s is not closed", selector)
	return ""
}

// customProperties maps each --name declared in a block to its value, comments stripped.
func customProperties(block string) map[string]string {
	block = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(block, "")
	props := map[string]string{}
	for _, m := range regexp.MustCompile(`(--[\w-]+)\s*:\s*([^;]+);`).FindAllStringSubmatch(block, -1) {
		props[m[1]] = strings.Join(strings.Fields(m[2]), " ")
	}
	return props
}

// .theme-dark and .theme-light (the gallery's forced colour schemes) must give exactly the colour tokens
// of the dark and the light scheme, so the gallery's columns show what a person with that system setting
// sees.
func TestThemeHooksMatchColourSchemes(t *testing.T) {
	raw, err := os.ReadFile("app.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(raw)
	media := cssBlock(t, css, regexp.MustCompile(`@media\s*\(prefers-color-scheme:\s*dark\)\s*\{`))
	dark := customProperties(cssBlock(t, media, regexp.MustCompile(`:root\s*\{`)))
	if len(dark) == 0 {
		t.Fatal("the dark scheme block defines no custom properties")
	}
	root := customProperties(cssBlock(t, css, regexp.MustCompile(`(?m)^:root\s*\{`)))
	light := map[string]string{}
	for name := range dark {
		light[name] = root[name]
	}
	for _, tc := range []struct {
		hook, scheme string
		want         map[string]string
	}{
		{"dark", "the @media (prefers-color-scheme: dark) block", dark},
		{"light", "the :root block", light},
	} {
		forced := customProperties(cssBlock(t, css, regexp.MustCompile(`\.theme-`+tc.hook+`,\s*:root:has\(#app > \.theme-`+tc.hook+`\)\s*\{`)))
		for name, want := range tc.want {
			if got, ok := forced[name]; !ok {
				t.Errorf(".theme-%s lacks %s: %s (copy it from %s)", tc.hook, name, want, tc.scheme)
			} else if got != want {
				t.Errorf(".theme-%s has %s: %s, %s %s", tc.hook, name, got, tc.scheme, want)
			}
		}
		for name, got := range forced {
			if _, ok := tc.want[name]; !ok {
				t.Errorf(".theme-%s sets %s: %s, which the dark scheme does not redefine", tc.hook, name, got)
			}
		}
	}
}
