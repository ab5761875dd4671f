package useragent

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// realAgents are User-Agent headers as browsers send them, with what the sessions list should say.
func realAgents() []struct {
	name, ua string
	want     Agent
	text     string
} {
	return []struct {
		name, ua string
		want     Agent
		text     string
	}{
		// Chrome
		{"Chrome on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			Agent{"Chrome", "131", "Windows"}, "Chrome 131 on Windows"},
		{"Chrome on macOS",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			Agent{"Chrome", "131", "macOS"}, "Chrome 131 on macOS"},
		{"Chrome on Linux",
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			Agent{"Chrome", "131", "Linux"}, "Chrome 131 on Linux"},
		{"Chrome on ChromeOS",
			"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			Agent{"Chrome", "131", "ChromeOS"}, "Chrome 131 on ChromeOS"},
		{"Chrome on Android",
			"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
			Agent{"Chrome", "131", "Android"}, "Chrome 131 on Android"},
		{"Chrome on Android tablet",
			"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			Agent{"Chrome", "131", "Android"}, "Chrome 131 on Android"},
		{"Android WebView",
			"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36",
			Agent{"Chrome", "131", "Android"}, "Chrome 131 on Android"},
		{"Chrome on iPhone (CriOS)",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
			Agent{"Chrome", "131", "iPhone"}, "Chrome 131 on iPhone"},
		{"Chrome on iPad (CriOS)",
			"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
			Agent{"Chrome", "131", "iPad"}, "Chrome 131 on iPad"},
		{"Headless Chrome on Linux",
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
			Agent{"Headless Chrome", "131", "Linux"}, "Headless Chrome 131 on Linux"},
		{"Brave on Windows reports as Chrome",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			Agent{"Chrome", "131", "Windows"}, "Chrome 131 on Windows"},
		{"Chromium on Linux",
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/131.0.6778.85 Chrome/131.0.6778.85 Safari/537.36",
			Agent{"Chromium", "131", "Linux"}, "Chromium 131 on Linux"},

		// Edge
		{"Edge on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
			Agent{"Edge", "131", "Windows"}, "Edge 131 on Windows"},
		{"Edge on macOS",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
			Agent{"Edge", "131", "macOS"}, "Edge 131 on macOS"},
		{"Edge on Linux",
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
			Agent{"Edge", "131", "Linux"}, "Edge 131 on Linux"},
		{"Edge on Android (EdgA)",
			"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0",
			Agent{"Edge", "131", "Android"}, "Edge 131 on Android"},
		{"Edge on iPhone (EdgiOS)",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 EdgiOS/131.2903.68 Mobile/15E148 Safari/605.1.15",
			Agent{"Edge", "131", "iPhone"}, "Edge 131 on iPhone"},
		{"Legacy EdgeHTML on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582",
			Agent{"Edge", "18", "Windows"}, "Edge 18 on Windows"},

		// Firefox
		{"Firefox on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
			Agent{"Firefox", "133", "Windows"}, "Firefox 133 on Windows"},
		{"Firefox on macOS",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
			Agent{"Firefox", "133", "macOS"}, "Firefox 133 on macOS"},
		{"Firefox on Linux",
			"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
			Agent{"Firefox", "133", "Linux"}, "Firefox 133 on Linux"},
		{"Firefox on Ubuntu",
			"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
			Agent{"Firefox", "133", "Linux"}, "Firefox 133 on Linux"},
		{"Firefox on Android",
			"Mozilla/5.0 (Android 15; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
			Agent{"Firefox", "133", "Android"}, "Firefox 133 on Android"},
		{"Firefox on iPhone (FxiOS)",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
			Agent{"Firefox", "133", "iPhone"}, "Firefox 133 on iPhone"},
		{"Firefox on iPad (FxiOS)",
			"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
			Agent{"Firefox", "133", "iPad"}, "Firefox 133 on iPad"},

		// Safari
		{"Safari on macOS",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
			Agent{"Safari", "18", "macOS"}, "Safari 18 on macOS"},
		{"Safari on iPhone",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
			Agent{"Safari", "18", "iPhone"}, "Safari 18 on iPhone"},
		{"Safari on iPad",
			"Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
			Agent{"Safari", "18", "iPad"}, "Safari 18 on iPad"},
		{"Safari on iPod touch",
			"Mozilla/5.0 (iPod touch; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1",
			Agent{"Safari", "15", "iPhone"}, "Safari 15 on iPhone"},
		{"Safari on iPad asking for the desktop site",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
			Agent{"Safari", "18", "macOS"}, "Safari 18 on macOS"},

		// Opera
		{"Opera on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
			Agent{"Opera", "115", "Windows"}, "Opera 115 on Windows"},
		{"Opera on macOS",
			"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
			Agent{"Opera", "115", "macOS"}, "Opera 115 on macOS"},
		{"Opera on Linux",
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
			Agent{"Opera", "115", "Linux"}, "Opera 115 on Linux"},
		{"Opera on Android",
			"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36 OPR/86.0.0.0",
			Agent{"Opera", "86", "Android"}, "Opera 86 on Android"},
		{"Opera on iPhone (OPiOS)",
			"Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 OPiOS/16.0.15 Mobile/15E148 Safari/9537.53",
			Agent{"Opera", "16", "iPhone"}, "Opera 16 on iPhone"},

		// Samsung Internet
		{"Samsung Internet on Android",
			"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
			Agent{"Samsung Internet", "27", "Android"}, "Samsung Internet 27 on Android"},

		// Vivaldi
		{"Vivaldi on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Vivaldi/7.0.3495.18",
			Agent{"Vivaldi", "7", "Windows"}, "Vivaldi 7 on Windows"},
		{"Vivaldi on Android",
			"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36 Vivaldi/7.0.3495.25",
			Agent{"Vivaldi", "7", "Android"}, "Vivaldi 7 on Android"},

		// Others
		{"Yandex Browser on Windows",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 YaBrowser/24.10.0.0 Safari/537.36",
			Agent{"Yandex Browser", "24", "Windows"}, "Yandex Browser 24 on Windows"},
		{"Internet Explorer 11 on Windows",
			"Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
			Agent{"Internet Explorer", "11", "Windows"}, "Internet Explorer 11 on Windows"},
		{"Internet Explorer 10 on Windows",
			"Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)",
			Agent{"Internet Explorer", "10", "Windows"}, "Internet Explorer 10 on Windows"},
	}
}

func TestParseRealAgents(t *testing.T) {
	for _, tt := range realAgents() {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.ua)
			if got != tt.want {
				t.Errorf("Parse(%q)\n = %+v\nwant %+v", tt.ua, got, tt.want)
			}
			if s := got.String(); s != tt.text {
				t.Errorf("String() = %q, want %q", s, tt.text)
			}
		})
	}
}

func TestParseUnknown(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{"empty", "", "Unknown browser on unknown system"},
		{"curl", "curl/8.5.0", "Unknown browser on unknown system"},
		{"Go client", "Go-http-client/1.1", "Unknown browser on unknown system"},
		{"bare Linux", "Mozilla/5.0 (X11; Linux x86_64)", "Unknown browser on Linux"},
		{"iOS app web view", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", "Unknown browser on iPhone"},
		{"browser on unknown system", "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15", "Safari 13 on unknown system"},
		{"Safari without Version", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15", "Safari on macOS"},
		{"token needs a word start", "XChrome/131.0 (Windows NT 10.0)", "Unknown browser on Windows"},
		{"version too long", "Mozilla/5.0 (X11; Linux x86_64) Chrome/1234567.0 Safari/537.36", "Chrome on Linux"},
		{"no version digits", "Mozilla/5.0 (X11; Linux x86_64) Firefox/abc", "Firefox on Linux"},
		{"leading zeros", "Mozilla/5.0 (X11; Linux x86_64) Firefox/0133.0", "Firefox 133 on Linux"},
		{"version zero", "Mozilla/5.0 (X11; Linux x86_64) Firefox/0.9", "Firefox 0 on Linux"},
		{"token at end", "Mozilla/5.0 (Windows NT 10.0) Chrome/", "Chrome on Windows"},
		{"non-ASCII digits", "Mozilla/5.0 (X11; Linux) Chrome/١٣١.0", "Chrome on Linux"},
		{"invalid UTF-8", "\xff\xfe (Windows NT 10.0) Edg/\xff131", "Edge on Windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse(tt.ua).String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.ua, got, tt.want)
			}
		})
	}
}

func TestParseReadsOnlyMaxInput(t *testing.T) {
	pad := strings.Repeat("a", MaxInput)
	tests := []struct {
		name, ua, want string
	}{
		{"token past the limit is ignored", "Mozilla/5.0 (Windows NT 10.0) " + pad + " Firefox/133.0", "Unknown browser on Windows"},
		{"token inside the limit is read", "Mozilla/5.0 (Windows NT 10.0) Firefox/133.0 " + pad, "Firefox 133 on Windows"},
		{"megabyte of junk", strings.Repeat("Chrome/", 1<<20/7), "Chrome on unknown system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse(tt.ua).String(); got != tt.want {
				t.Errorf("Parse(%.60q…).String() = %q, want %q", tt.ua, got, tt.want)
			}
		})
	}
}

func TestAgentString(t *testing.T) {
	tests := []struct {
		name  string
		agent Agent
		want  string
	}{
		{"all known", Agent{"Chrome", "131", "Windows"}, "Chrome 131 on Windows"},
		{"no version", Agent{"Safari", "", "iPad"}, "Safari on iPad"},
		{"no browser", Agent{"", "", "Linux"}, "Unknown browser on Linux"},
		{"version without browser is not shown", Agent{"", "7", "Linux"}, "Unknown browser on Linux"},
		{"no system", Agent{"Firefox", "133", ""}, "Firefox 133 on unknown system"},
		{"nothing", Agent{}, "Unknown browser on unknown system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.agent.String(); got != tt.want {
				t.Errorf("%+v.String() = %q, want %q", tt.agent, got, tt.want)
			}
		})
	}
}

// maxString is the longest String can be: the longest browser name, a version of maxVersionDigits and
// the longest system word.
const maxString = len("Internet Explorer") + 1 + maxVersionDigits + len(" on ") + len(UnknownOS)

func FuzzParse(f *testing.F) {
	for _, tt := range realAgents() {
		f.Add(tt.ua)
	}
	f.Add("")
	f.Add("Chrome/")
	f.Add("(;,Edg/99999 rv:1 MSIE 9 Trident/")
	f.Add("\xff\xfe\x00Safari/1 Version/\xc3")
	f.Fuzz(func(t *testing.T, ua string) {
		a := Parse(ua)
		s := a.String()
		for _, field := range []string{a.Browser, a.BrowserVersion, a.OS, s} {
			if !utf8.ValidString(field) {
				t.Fatalf("Parse(%q) gave invalid UTF-8 %q", ua, field)
			}
		}
		if len(s) > maxString {
			t.Fatalf("Parse(%q).String() = %q: %d bytes, want at most %d", ua, s, len(s), maxString)
		}
		if len(a.BrowserVersion) > maxVersionDigits || strings.Trim(a.BrowserVersion, "0123456789") != "" {
			t.Fatalf("Parse(%q).BrowserVersion = %q, want at most %d ASCII digits", ua, a.BrowserVersion, maxVersionDigits)
		}
		if a.BrowserVersion != "" && a.Browser == "" {
			t.Fatalf("Parse(%q) = %+v: a version without a browser", ua, a)
		}
		if len(ua) > MaxInput && Parse(ua[:MaxInput]) != a {
			t.Fatalf("Parse(%q) read past MaxInput", ua)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	agents := realAgents()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Parse(agents[i%len(agents)].ua)
	}
}
