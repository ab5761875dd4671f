package provider_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/provider"
)

const (
	wordsLookalike = "Your email address contains invisible or look-alike characters. Type it again using plain letters."
	wordsBadEmail  = "Enter a valid email address, like name@example.com."
	wordsOddName   = "Your name contains characters that cannot be shown."
	wordsLongName  = "Your name can be at most 100 characters."
)

// refusedWith asserts err is an invalid-input provider error whose words are exactly want.
func refusedWith(t *testing.T, err error, want string) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v, want a *provider.Error saying %q", err, want)
	}
	if pe.Kind != provider.KindInvalid || pe.Msg != want || pe.Err == nil {
		t.Errorf("error kind %d, words %q (detail %v); want KindInvalid, %q", pe.Kind, pe.Msg, pe.Err, want)
	}
}

func TestEmailRules(t *testing.T) {
	const name = "Ada"
	accepted := []struct{ label, email, want string }{
		{"plain", "ada@example.com", "ada@example.com"},
		{"IDNA domain in Unicode", "user@bücher.example", "user@bücher.example"},
		{"IDNA domain as xn--", "user@xn--bcher-kva.example", "user@bücher.example"},
		{"IDNA domain, upper case", "USER@BÜCHER.EXAMPLE", "user@bücher.example"},
		{"IDNA domain as XN--, upper case", "User@XN--BCHER-KVA.Example", "user@bücher.example"},
		{"IDNA domain, decomposed ü (NFC)", "user@bu\u0308cher.example", "user@bücher.example"},
		{"local part, decomposed ë (NFC)", "zoe\u0308@example.com", "zoë@example.com"},
		{"nontransitional ß", "ada@straße.de", "ada@straße.de"},
		{"nontransitional ß as xn--", "ada@xn--strae-oqa.de", "ada@straße.de"},
		{"all-Cyrillic address", "иван@пример.рф", "иван@пример.рф"},
		{"Cyrillic local part, Latin domain", "Иван@example.com", "иван@example.com"},
		{"Cyrillic label beside a Latin one", "ivan@пример.com", "ivan@пример.com"},
		{"all-Greek local part", "αλέξης@example.gr", "αλέξης@example.gr"},
		{"CJK", "用户@例子.广告", "用户@例子.广告"},
		{"Japanese: Han, Hiragana and Latin together", "山田たろうx@example.jp", "山田たろうx@example.jp"},
		{"Arabic", "علي@example.com", "علي@example.com"},
		{"neutral . - _ + and digits", "a.b-c_d+1@mail-1.example.co.uk", "a.b-c_d+1@mail-1.example.co.uk"},
	}
	for _, tc := range accepted {
		t.Run("accepted/"+tc.label, func(t *testing.T) {
			got, _, err := provider.CleanSignup(tc.email, name)
			if err != nil || got != tc.want {
				t.Errorf("CleanSignup(%q) = %q, %v; want %q", tc.email, got, err, tc.want)
			}
		})
	}

	refused := []struct{ label, email, want string }{
		// Invisible characters (format characters, Cf, and other default-ignorables).
		{"zero-width space in the local part", "ad\u200ba@example.com", wordsLookalike},
		{"zero-width space in the domain", "ada@exam\u200bple.com", wordsLookalike},
		{"zero-width non-joiner", "ad\u200ca@example.com", wordsLookalike},
		{"zero-width joiner", "ad\u200da@example.com", wordsLookalike},
		{"word joiner", "ad\u2060a@example.com", wordsLookalike},
		{"soft hyphen", "ada@ex\u00adample.com", wordsLookalike},
		{"byte order mark", "ada\ufeff@example.com", wordsLookalike},
		{"Hangul filler", "ada\u3164@example.com", wordsLookalike},
		{"variation selector", "ada\ufe0f@example.com", wordsLookalike},
		{"no-break space", "ad\u00a0a@example.com", wordsLookalike},
		// Bidirectional controls.
		{"right-to-left override", "ada@exam\u202eelp.com", wordsLookalike},
		{"left-to-right embedding", "\u202aada@example.com", wordsLookalike},
		{"right-to-left isolate", "ada\u2067@example.com", wordsLookalike},
		{"pop directional isolate", "ada\u2069@example.com", wordsLookalike},
		{"left-to-right mark", "ada\u200e@example.com", wordsLookalike},
		{"right-to-left mark", "ada@example.com\u200f", wordsLookalike},
		{"Arabic letter mark", "ada\u061c@example.com", wordsLookalike},
		// Mixed scripts.
		{"Cyrillic а in a Latin domain label", "ada@pаypal.com", wordsLookalike},
		{"Cyrillic а in a Latin local part", "аdmin@example.com", wordsLookalike},
		{"Cyrillic а alone between dots of a Latin local part", "а.dmin@example.com", wordsLookalike},
		{"Greek ο in a Latin label", "ada@gοogle.com", wordsLookalike},
		{"Cyrillic and Greek together", "иβан@example.com", wordsLookalike},
		{"mixed label hidden as xn--", "ada@xn--pypal-4ve.com", wordsLookalike},
		// Fullwidth forms and other compatibility characters are refused, not folded.
		{"fullwidth local part", "ａｄａ@example.com", wordsLookalike},
		{"fullwidth domain", "ada@ｅｘａｍｐｌｅ.com", wordsLookalike},
		{"fullwidth at sign", "ada＠example.com", wordsLookalike},
		{"ligature", "ﬁona@example.com", wordsLookalike},
		{"mathematical bold letters", "𝐚da@example.com", wordsLookalike},
		// Unassigned code points.
		{"unassigned U+0378", "ad\u0378a@example.com", wordsLookalike},
		// Domains that are not IDNA.
		{"bad punycode", "ada@xn--zz.com", wordsBadEmail},
		{"xn-- label that decodes to ASCII", "ada@xn--ada-.com", wordsBadEmail},
		{"leading hyphen", "ada@-example.com", wordsBadEmail},
		{"hyphens in positions 3 and 4", "ada@ab--cd.com", wordsBadEmail},
		{"underscore", "ada@exa_mple.com", wordsBadEmail},
		{"label longer than 63", "ada@" + strings.Repeat("a", 64) + ".com", wordsBadEmail},
		{"domain literal", "ada@[127.0.0.1]", wordsBadEmail},
		{"Bidi rule: Latin and Arabic in one label", "ada@aب.com", wordsBadEmail},
		{"no dot in the IDNA domain", "ada@bücher", wordsBadEmail},
		{"too long", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com", wordsBadEmail},
		{"too long once the domain is xn--", strings.Repeat("a", 20) + "@" + strings.Repeat("bücher.", 17) + "com", wordsBadEmail}, // 160 bytes as typed, 262 as xn--
		// Control characters keep their old words.
		{"newline", "ada@example.com\nbcc@evil.example", wordsBadEmail},
		{"C1 control", "ada\u0085x@example.com", wordsBadEmail},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.label, func(t *testing.T) {
			got, _, err := provider.CleanSignup(tc.email, name)
			if got != "" {
				t.Errorf("CleanSignup(%q) returned email %q", tc.email, got)
			}
			refusedWith(t, err, tc.want)
		})
	}
}

// TestLookalikeTwins signs up an account and tries to make its twin: every look-alike spelling is
// refused, and the same address in its other IDNA form is the same account.
func TestLookalikeTwins(t *testing.T) {
	e := newEnv(t, 0)
	e.signup(t, "admin@example.com", "Admin")
	e.signup(t, "user@bücher.example", "User")
	before := e.counts(t)
	for _, email := range []string{"adm\u200bin@example.com", "admin@exa\u202eelpm.com", "аdmin@example.com", "admin@еxample.com", "ａｄｍｉｎ@example.com", "admin@ｅｘａｍｐｌｅ.com"} {
		_, _, err := e.p.BeginSignup(t.Context(), email, "Twin")
		refusedWith(t, err, wordsLookalike)
	}
	for _, email := range []string{"user@xn--bcher-kva.example", "USER@BÜCHER.example", "user@bu\u0308cher.example"} {
		cc, _, err := e.p.BeginSignup(t.Context(), email, "Twin")
		if cc != nil {
			t.Errorf("BeginSignup(%q) returned options", email)
		}
		wantError(t, err, provider.KindConflict, "already registered")
	}
	if got := e.counts(t); got != before {
		t.Errorf("refused sign-ups changed rows %+v -> %+v", before, got)
	}
}

func TestNameRules(t *testing.T) {
	const email = "ada@example.com"
	accepted := []struct{ label, name, want string }{
		{"emoji with a zero-width joiner", "Mariam 👩‍💻", "Mariam 👩\u200d💻"},
		{"Persian with a zero-width non-joiner", "علی‌زاده", "علی\u200cزاده"},
		{"zero-width space", "Ada\u200bLovelace", "Ada\u200bLovelace"},
		{"soft hyphen", "Ada Love\u00adlace", "Ada Love\u00adlace"},
		{"flag tag sequence", "Ada 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "Ada 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"},
		{"right-to-left mark", "Ada\u200f", "Ada\u200f"},
		{"combining marks", "Zoe\u0308 Đặng", "Zoe\u0308 Đặng"},
		{"line separator is whitespace", "Ada\u2028Lovelace", "Ada Lovelace"},
		{"100 characters", strings.Repeat("👩", 100), strings.Repeat("👩", 100)},
	}
	for _, tc := range accepted {
		t.Run("accepted/"+tc.label, func(t *testing.T) {
			_, got, err := provider.CleanSignup(email, tc.name)
			if err != nil || got != tc.want {
				t.Errorf("CleanSignup(name %q) = %q, %v; want %q", tc.name, got, err, tc.want)
			}
		})
	}

	refused := []struct{ label, name, want string }{
		{"NUL", "Ada\x00Lovelace", wordsOddName},
		{"DEL", "Ada\x7f", wordsOddName},
		{"C1 control", "Ada\u0080", wordsOddName},
		{"right-to-left override", "Ada\u202eecalevoL", wordsOddName},
		{"left-to-right embedding", "\u202aAda", wordsOddName},
		{"pop directional formatting", "Ada\u202c", wordsOddName},
		{"first strong isolate", "Ada\u2068x", wordsOddName},
		{"unassigned U+0378", "Ada\u0378", wordsOddName},
		{"noncharacter U+FFFF", "Ada\uffff", wordsOddName},
		{"private use", "Ada\ue000", wordsOddName},
		{"supplementary private use", "Ada\U000f0000", wordsOddName},
		{"invalid UTF-8", "Ada\xff", wordsOddName},
		{"101 characters", strings.Repeat("é", 101), wordsLongName},
		{"34 emoji sequences are 102 code points", strings.Repeat("👩‍💻", 34), wordsLongName},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.label, func(t *testing.T) {
			_, got, err := provider.CleanSignup(email, tc.name)
			if got != "" {
				t.Errorf("CleanSignup(name %q) returned %q", tc.name, got)
			}
			refusedWith(t, err, tc.want)
		})
	}
}
