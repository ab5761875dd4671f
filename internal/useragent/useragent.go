// Package useragent turns a User-Agent header into the few words a sessions list shows: the browser, its
// major version and the operating system ("Chrome 131 on Windows"). It knows the major browsers and
// systems only, never fails and never panics; anything it does not recognise reads as "Unknown browser"
// or "unknown system". A User-Agent is whatever the client chose to send: show it, never trust it.
package useragent

import "strings"

// MaxInput is how much of a User-Agent Parse reads; real ones are a few hundred bytes at most.
const MaxInput = 512

// maxVersionDigits bounds a major version; longer digit runs are not a version anyone ships.
const maxVersionDigits = 4

// Words String uses for a part Parse could not tell.
const (
	UnknownBrowser = "Unknown browser"
	UnknownOS      = "unknown system"
)

// Agent is what Parse found. A field is empty when Parse could not tell; BrowserVersion holds only the
// major version, in ASCII digits. Every field is valid UTF-8 of a few bytes.
type Agent struct {
	Browser        string
	BrowserVersion string
	OS             string
}

// String reads like "Chrome 131 on Windows", "Safari 18 on iPhone" or "Unknown browser on Linux".
func (a Agent) String() string {
	browser := a.Browser
	if browser == "" {
		browser = UnknownBrowser
	} else if a.BrowserVersion != "" {
		browser += " " + a.BrowserVersion
	}
	system := a.OS
	if system == "" {
		system = UnknownOS
	}
	return browser + " on " + system
}

// browserRule names a browser by the product token ("Name/version") it adds to the User-Agent. The first
// rule whose token is present wins, so browsers built on Chromium or WebKit come before the engines they
// borrow tokens from.
type browserRule struct {
	token   string // product name before the "/"
	browser string // what to call it
	version string // product whose version to show, if not token's own (Safari's lives in "Version/")
}

// browserRules returns the rules in the order they are tried.
func browserRules() []browserRule {
	return []browserRule{
		{token: "HeadlessChrome", browser: "Headless Chrome"},
		{token: "SamsungBrowser", browser: "Samsung Internet"},
		{token: "Edg", browser: "Edge"},    // Chromium Edge on desktop
		{token: "EdgA", browser: "Edge"},   // Edge on Android
		{token: "EdgiOS", browser: "Edge"}, // Edge on iOS
		{token: "Edge", browser: "Edge"},   // EdgeHTML Edge (before 79)
		{token: "OPR", browser: "Opera"},   // Opera on desktop and Android
		{token: "OPiOS", browser: "Opera"}, // Opera on iOS
		{token: "OPT", browser: "Opera"},   // Opera Touch on iOS
		{token: "YaBrowser", browser: "Yandex Browser"},
		{token: "Vivaldi", browser: "Vivaldi"},
		{token: "FxiOS", browser: "Firefox"}, // Firefox on iOS
		{token: "Firefox", browser: "Firefox"},
		{token: "CriOS", browser: "Chrome"}, // Chrome on iOS
		{token: "Chromium", browser: "Chromium"},
		{token: "Chrome", browser: "Chrome"}, // also Brave, which reports as Chrome on purpose
		{token: "Safari", browser: "Safari", version: "Version"},
	}
}

// Parse reads the first MaxInput bytes of a User-Agent header.
func Parse(ua string) Agent {
	if len(ua) > MaxInput {
		ua = ua[:MaxInput]
	}
	a := Agent{OS: parseOS(ua)}
	a.Browser, a.BrowserVersion = parseBrowser(ua)
	return a
}

// parseBrowser returns the browser's name and major version, or "", "" when it is none it knows.
func parseBrowser(ua string) (browser, version string) {
	for _, r := range browserRules() {
		rest, ok := afterToken(ua, r.token)
		if !ok {
			continue
		}
		if r.version != "" {
			if rest, ok = afterToken(ua, r.version); !ok {
				rest = ""
			}
		}
		return r.browser, majorVersion(rest)
	}
	// Internet Explorer 11 says only "Trident/7.0; rv:11.0", older ones "MSIE 10.0".
	if rest, ok := afterWord(ua, "MSIE "); ok {
		return "Internet Explorer", majorVersion(rest)
	}
	if _, ok := afterToken(ua, "Trident"); ok {
		rest, _ := afterWord(ua, "rv:")
		return "Internet Explorer", majorVersion(rest)
	}
	return "", ""
}

// parseOS names the system from the platform words. iPhone and iPad come before macOS (their UAs say
// "like Mac OS X"), Android and ChromeOS before Linux. An iPad asking for the desktop site says
// "Macintosh" and reads as macOS: nothing in the header tells them apart.
func parseOS(ua string) string {
	switch {
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPod"):
		return "iPhone"
	case strings.Contains(ua, "iPad"):
		return "iPad"
	case strings.Contains(ua, "Android"):
		return "Android"
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS"
	case strings.Contains(ua, "Windows"):
		return "Windows"
	case strings.Contains(ua, "Macintosh"), strings.Contains(ua, "Mac OS X"):
		return "macOS"
	case strings.Contains(ua, "Linux"), strings.Contains(ua, "X11"):
		return "Linux"
	}
	return ""
}

// afterToken finds the product token name+"/" where it starts a word (at the start or after a space,
// "(", ";" or ","), so "Chrome/" does not match inside "HeadlessChrome/", and returns what follows it.
func afterToken(ua, name string) (string, bool) {
	return afterWord(ua, name+"/")
}

// afterWord is afterToken for a literal prefix such as "rv:".
func afterWord(ua, word string) (string, bool) {
	for i := 0; i+len(word) <= len(ua); {
		j := strings.Index(ua[i:], word)
		if j < 0 {
			return "", false
		}
		at := i + j
		if at == 0 || strings.IndexByte(" (;,", ua[at-1]) >= 0 {
			return ua[at+len(word):], true
		}
		i = at + 1
	}
	return "", false
}

// majorVersion returns the leading ASCII digits of s without leading zeros, or "" if there are none or
// too many.
func majorVersion(s string) string {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || n > maxVersionDigits {
		return ""
	}
	v := strings.TrimLeft(s[:n], "0")
	if v == "" {
		return "0"
	}
	return v
}
