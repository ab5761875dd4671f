// Package aaguid names a passkey after its provider ("Apple Passwords", "Google Password Manager",
// "1Password", …) from the AAGUID its authenticator reported at registration, using the community list of
// passkey provider AAGUIDs vendored beside this file (see README.md for the package, version and licence).
//
// The name is for display in account settings only; it proves nothing about the authenticator.
package aaguid

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Generic is the name to show for a passkey whose AAGUID is all zeros (most synced passkeys on older
// platforms, and any authenticator that chooses not to say) or not in the list.
const Generic = "Passkey"

// MaxIconBytes is the largest icon data: URI kept; larger icons are dropped rather than inlined into
// every account page.
const MaxIconBytes = 16 << 10

// maxNameBytes bounds a provider name; the list's longest is well under it.
const maxNameBytes = 128

//go:embed aaguids.json
var embedded []byte

// Authenticator is what the list says about one AAGUID. IconLight and IconDark are data: URIs (base64 SVG
// or PNG) for light and dark backgrounds, or empty when the list has none that is safe to inline.
type Authenticator struct {
	Name      string
	IconLight string
	IconDark  string
}

// Directory maps AAGUIDs to authenticators. It is read-only after New and safe for concurrent use.
type Directory struct {
	entries map[[16]byte]Authenticator
}

// New parses the vendored list. It fails only if the vendored file is broken or empty, which the
// package's tests catch before a release.
func New() (*Directory, error) {
	return parse(embedded)
}

// Len reports how many AAGUIDs the directory knows.
func (d *Directory) Len() int { return len(d.entries) }

// Lookup returns the authenticator for a 16-byte AAGUID as it appears in the authenticator data. The
// all-zero AAGUID, a slice of any other length and an AAGUID the list lacks are not found.
func (d *Directory) Lookup(aaguid []byte) (Authenticator, bool) {
	if len(aaguid) != 16 {
		return Authenticator{}, false
	}
	var key [16]byte
	copy(key[:], aaguid)
	if key == ([16]byte{}) {
		return Authenticator{}, false
	}
	a, ok := d.entries[key]
	return a, ok
}

// LookupString is Lookup for the textual form: 32 hex digits, with or without the four hyphens of the
// UUID form, in either case.
func (d *Directory) LookupString(aaguid string) (Authenticator, bool) {
	key, ok := parseUUID(aaguid)
	if !ok {
		return Authenticator{}, false
	}
	return d.Lookup(key[:])
}

// Name returns the provider name for an AAGUID, or Generic when Lookup finds none.
func (d *Directory) Name(aaguid []byte) string {
	if a, ok := d.Lookup(aaguid); ok {
		return a.Name
	}
	return Generic
}

// entry is one value of the list, in either shape it has been published in: "name" (the npm package) or
// {"name": …, "icon_light": …, "icon_dark": …} (the upstream combined list).
type entry struct {
	Name      string `json:"name"`
	IconLight string `json:"icon_light"`
	IconDark  string `json:"icon_dark"`
}

func (e *entry) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.Name)
	}
	type plain entry // no UnmarshalJSON: decode the object's fields
	return json.Unmarshal(b, (*plain)(e))
}

// parse reads the list: a JSON object from AAGUID (UUID form) to entry.
func parse(data []byte) (*Directory, error) {
	var raw map[string]entry
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("aaguid: parse list: %w", err)
	}
	if len(raw) == 0 {
		return nil, errors.New("aaguid: the list is empty (retired upstream?)")
	}
	d := &Directory{entries: make(map[[16]byte]Authenticator, len(raw))}
	for id, e := range raw {
		key, ok := parseUUID(id)
		if !ok {
			return nil, fmt.Errorf("aaguid: list key %q is not a UUID", id)
		}
		name := cleanName(e.Name)
		if name == "" || key == ([16]byte{}) {
			continue
		}
		d.entries[key] = Authenticator{Name: name, IconLight: safeIcon(e.IconLight), IconDark: safeIcon(e.IconDark)}
	}
	if len(d.entries) == 0 {
		return nil, errors.New("aaguid: the list names no authenticator")
	}
	return d, nil
}

// cleanName trims a name and drops it if it is not short, printable UTF-8.
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxNameBytes || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return ""
		}
	}
	return s
}

// safeIcon returns uri if it is a base64 SVG or PNG data: URI of at most MaxIconBytes, else "".
func safeIcon(uri string) string {
	if len(uri) > MaxIconBytes {
		return ""
	}
	var payload string
	for _, prefix := range []string{"data:image/svg+xml;base64,", "data:image/png;base64,"} {
		if p, ok := strings.CutPrefix(uri, prefix); ok {
			payload = p
			break
		}
	}
	if payload == "" {
		return ""
	}
	if _, err := base64.StdEncoding.DecodeString(payload); err != nil {
		return ""
	}
	return uri
}

// parseUUID reads 32 hex digits, optionally hyphenated as 8-4-4-4-12.
func parseUUID(s string) ([16]byte, bool) {
	var key [16]byte
	switch len(s) {
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return key, false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	case 32:
	default:
		return key, false
	}
	if _, err := hex.Decode(key[:], []byte(s)); err != nil {
		return key, false
	}
	return key, true
}
