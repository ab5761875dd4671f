package provider

import (
	"errors"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// The words a person reads when a sign-up field is refused.
const (
	msgNoEmail   = "Enter your email address."
	msgBadEmail  = "Enter a valid email address, like name@example.com."
	msgLookalike = "Your email address contains invisible or look-alike characters. Type it again using plain letters."
	msgNoName    = "Enter your full name."
	msgLongName  = "Your name can be at most 100 characters."
	msgOddName   = "Your name contains characters that cannot be shown."
	maxEmailLen  = 254 // bytes, in the stored form and with the domain in its ASCII (xn--) form
	maxNameRunes = 100
)

// CleanSignup normalises and checks the sign-up fields.
//
// The email is trimmed, lower-cased and put in Unicode NFC; it is refused if it holds invisible
// characters (format characters such as U+200B, bidirectional controls, default-ignorables), characters
// that NFKC would change (fullwidth letters, ligatures, superscripts: refused, not folded, so what is
// stored is exactly what the person typed), or a mix of scripts that makes one address look like another
// (Latin with Cyrillic or Greek, say). Its domain must be a valid IDNA domain name with a dot; it is
// stored in its Unicode form (U-labels), so "bücher.example" and "xn--bcher-kva.example" are the same
// account.
//
// The name may hold any printable text, joiners included (emoji sequences, Persian ZWNJ); whitespace
// runs collapse to one space, and it must be 1–100 characters. Control characters, bidirectional
// embeddings, overrides and isolates, line and paragraph separators, private-use and unassigned code
// points are refused.
func CleanSignup(email, name string) (string, string, error) {
	email, emailMsg, emailWhy := cleanEmail(email)
	name, nameMsg, nameWhy := cleanName(name)
	var problems []string
	var why []error
	fields := map[string]string{}
	if emailMsg != "" {
		problems = append(problems, emailMsg)
		why = append(why, errors.New("email: "+emailWhy))
		fields["email"] = emailMsg
	}
	if nameMsg != "" {
		problems = append(problems, nameMsg)
		why = append(why, errors.New("name: "+nameWhy))
		fields["name"] = nameMsg
	}
	if len(problems) > 0 {
		return "", "", &Error{Kind: KindInvalid, Code: CodeInvalidFields, Msg: strings.Join(problems, " "), Fields: fields,
			Err: errors.Join(append([]error{errors.New("invalid sign-up fields")}, why...)...)}
	}
	return email, name, nil
}

// cleanEmail returns the canonical form of an email address, or the words for the person and the
// reason for the log.
func cleanEmail(raw string) (email, msg, why string) {
	e := strings.TrimSpace(raw)
	switch {
	case e == "":
		return "", msgNoEmail, "empty"
	case !utf8.ValidString(e):
		return "", msgBadEmail, "not UTF-8"
	case strings.IndexFunc(e, isControl) >= 0:
		return "", msgBadEmail, "control character"
	case strings.IndexFunc(e, isInvisible) >= 0:
		return "", msgLookalike, "invisible, bidirectional-control or unassigned character"
	}
	e = norm.NFC.String(strings.ToLower(e))
	if !norm.NFKC.IsNormalString(e) {
		return "", msgLookalike, "compatibility character (fullwidth, ligature, …): NFKC would change it"
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e {
		return "", msgBadEmail, "not an addr-spec"
	}
	at := strings.LastIndexByte(e, '@')
	local, domain := e[:at], e[at+1:]
	ascii, uni, ok := canonicalDomain(domain)
	if !ok {
		return "", msgBadEmail, "domain is not a valid IDNA domain name"
	}
	if !strings.Contains(ascii, ".") {
		return "", msgBadEmail, "domain has no dot"
	}
	email = local + "@" + uni
	if len(email) > maxEmailLen || len(local)+1+len(ascii) > maxEmailLen {
		return "", msgBadEmail, "too long"
	}
	// The local part is one unit (a Cyrillic "а" alone between dots would still make a twin); each domain
	// label is one, as registries and browsers see them ("пример.com" is fine).
	if mixedScripts(local) {
		return "", msgLookalike, "mixed scripts in the local part"
	}
	for label := range strings.SplitSeq(uni, ".") {
		if mixedScripts(label) {
			return "", msgLookalike, "mixed scripts in a domain label"
		}
	}
	return email, "", ""
}

// canonicalDomain validates a domain as IDNA (UTS #46 lookup mapping, non-transitional, hyphen, joiner
// and Bidi rules, DNS lengths) and returns its ASCII and Unicode forms. The two must convert into each
// other exactly, so one stored Unicode form stands for exactly one DNS name.
func canonicalDomain(domain string) (ascii, uni string, ok bool) {
	p := idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.VerifyDNSLength(true))
	ascii, err := p.ToASCII(domain)
	if err != nil || ascii == "" || strings.HasSuffix(ascii, ".") {
		return "", "", false
	}
	uni, err = p.ToUnicode(ascii)
	if err != nil {
		return "", "", false
	}
	if back, err := p.ToASCII(uni); err != nil || back != ascii {
		return "", "", false
	}
	return ascii, uni, true
}

// cleanName collapses whitespace runs in a name and checks it.
func cleanName(raw string) (name, msg, why string) {
	name = strings.Join(strings.Fields(raw), " ")
	switch {
	case name == "":
		return "", msgNoName, "empty"
	case utf8.RuneCountInString(name) > maxNameRunes:
		return "", msgLongName, "too long"
	case !utf8.ValidString(name):
		return "", msgOddName, "not UTF-8"
	case strings.IndexFunc(name, refusedInName) >= 0:
		return "", msgOddName, "control, bidirectional-control, private-use or unassigned character"
	}
	return name, "", ""
}

// refusedInName reports whether r may not appear in a name. Format characters (ZWJ in emoji sequences,
// ZWNJ in Persian, soft hyphens) are fine: a name is shown, never compared.
func refusedInName(r rune) bool {
	return isControl(r) || isBidiControl(r) ||
		unicode.In(r, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp) || !assigned(r)
}

// isControl reports C0 and C1 control characters (and DEL).
func isControl(r rune) bool { return unicode.Is(unicode.Cc, r) }

// isBidiControl reports the embeddings, overrides and isolates (U+202A–202E, U+2066–2069), which
// reorder the text that follows them.
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// isInvisible reports characters that have no place in an email address because they show as nothing,
// or as something else: format characters (U+200B–200F, U+2060–2064, U+FEFF, U+00AD, U+061C and the
// bidirectional controls are all Cf), other default-ignorables (Hangul fillers, U+034F), variation
// selectors, non-ASCII spaces, private-use, surrogate and unassigned code points.
func isInvisible(r rune) bool {
	if r < utf8.RuneSelf {
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs, unicode.Other_Default_Ignorable_Code_Point,
		unicode.Variation_Selector, unicode.White_Space) || !assigned(r)
}

// assigned reports whether r has a general category other than Cn (unassigned, noncharacter). It names
// Cc, Cf, Co and Cs rather than unicode.C, whose table (Go 1.26) also covers the unassigned code points.
func assigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
		unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// mixedScripts reports whether s mixes writing systems in a way that lets it pass for another string:
// more than one script, unless they are one of the combinations of UTS #39's "highly restrictive" level
// (Latin with Han and Japanese kana, with Han and Bopomofo, or with Han and Hangul). Common and
// Inherited characters (digits, '.', '-', '_', '+', combining marks) belong to no script. A purely
// non-Latin string (all Cyrillic, all Greek, CJK) is fine.
func mixedScripts(s string) bool {
	var seen []string
	for _, r := range s {
		sc := script(r)
		if sc == "" {
			continue
		}
		if !slices.Contains(seen, sc) {
			seen = append(seen, sc)
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, allowed := range [][]string{
		{"Latin", "Han", "Hiragana", "Katakana"},
		{"Latin", "Han", "Bopomofo"},
		{"Latin", "Han", "Hangul"},
	} {
		if subset(seen, allowed) {
			return false
		}
	}
	return true
}

// script names r's Unicode script, "" for Common and Inherited, "?" for none (unassigned).
func script(r rune) string {
	switch {
	case r < utf8.RuneSelf:
		if ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return "Latin"
		}
		return ""
	case unicode.In(r, unicode.Common, unicode.Inherited):
		return ""
	case unicode.Is(unicode.Latin, r):
		return "Latin"
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return "?"
}

func subset(set, of []string) bool {
	for _, s := range set {
		if !slices.Contains(of, s) {
			return false
		}
	}
	return true
}

// CleanName normalises and checks a display name with the sign-up rules (1–100 printable characters).
func CleanName(raw string) (string, error) {
	name, msg, why := cleanName(raw)
	if msg != "" {
		return "", &Error{Kind: KindInvalid, Code: CodeInvalidFields, Msg: msg, Fields: map[string]string{"name": msg}, Err: errors.New("name: " + why)}
	}
	return name, nil
}

// CanonicalEmail is the form sign-up stores an email address in, for looking an account up by what a
// person typed; ok is false when sign-up would have refused it.
func CanonicalEmail(raw string) (email string, ok bool) {
	email, msg, _ := cleanEmail(raw)
	return email, msg == ""
}
