package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The words a person reads when a JSON body is refused by checkStrictJSON.
const (
	msgRepeatedField = "This request has a repeated field."
	msgNotUTF8       = "This request is not valid text (UTF-8)."
)

// checkStrictJSON refuses what encoding/json would quietly accept in a request body: bytes that are not
// UTF-8 (it would turn them into U+FFFD), \u escapes of unpaired UTF-16 surrogates (likewise), and an
// object that names a key twice (it would keep the last), at any depth. Keys that differ only in case
// count as the same key, because encoding/json matches struct fields without regard to case.
//
// It returns the words for the person and the detail for the log, or "" and nil. Syntax errors are left
// to the decoder that reads the body afterwards, so its own words still answer them.
func checkStrictJSON(body []byte) (string, error) {
	if !utf8.Valid(body) {
		return msgNotUTF8, fmt.Errorf("body is not UTF-8 (first bad byte at offset %d)", firstInvalidUTF8(body))
	}
	type frame struct {
		keys    map[string]struct{} // nil in an array
		wantKey bool
	}
	var stack []frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil // not JSON: the reader of the body says so in its own words
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{keys: map[string]struct{}{}, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default: // '}' or ']'; the decoder has checked they match
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].wantKey {
				k := foldKey(t)
				if _, dup := stack[n-1].keys[k]; dup {
					if len(t) > 64 {
						t = t[:64] + "…"
					}
					return msgRepeatedField, fmt.Errorf("object key %q repeated at depth %d", t, n)
				}
				stack[n-1].keys[k] = struct{}{}
				stack[n-1].wantKey = false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
	if at, ok := unpairedSurrogate(body); ok {
		return msgNotUTF8, fmt.Errorf("unpaired UTF-16 surrogate escape at offset %d", at)
	}
	return "", nil
}

// foldKey maps a key to the form encoding/json compares struct field names in: keys with the same
// foldKey are the same field to it.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, s)
}

// unpairedSurrogate finds a \uD800–\uDFFF escape in a JSON string that is not half of a high-low pair,
// and reports its offset. body must be valid JSON.
func unpairedSurrogate(body []byte) (int, bool) {
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 < len(body) && body[i+1] != 'u' {
				i++ // a one-character escape such as \" or \\
				continue
			}
			at := i
			r, ok := hex4(body, i+2)
			if !ok {
				return at, true // cannot happen in valid JSON
			}
			i += 5 // the last hex digit
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return at, true // a low surrogate with no high one before it
			case r >= 0xd800 && r <= 0xdbff:
				if i+6 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
					if lo, ok := hex4(body, i+3); ok && lo >= 0xdc00 && lo <= 0xdfff {
						i += 6
						continue
					}
				}
				return at, true
			}
		}
	}
	return 0, false
}

// hex4 decodes the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// firstInvalidUTF8 is the offset of the first byte that does not start a valid UTF-8 sequence.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
