package aaguid

import (
	"encoding/base64"
	"runtime"
	"strings"
	"testing"
	"time"
)

func mustNew(t testing.TB) *Directory {
	t.Helper()
	d, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func mustUUID(t testing.TB, s string) []byte {
	t.Helper()
	key, ok := parseUUID(s)
	if !ok {
		t.Fatalf("parseUUID(%q) failed", s)
	}
	return key[:]
}

func TestNewParsesVendoredList(t *testing.T) {
	d := mustNew(t)
	if got, want := d.Len(), 309; got != want {
		t.Errorf("Len() = %d, want %d (update README.md if the vendored list changed)", got, want)
	}
}

func TestLookupKnownProviders(t *testing.T) {
	d := mustNew(t)
	tests := []struct {
		aaguid string
		want   string
	}{
		{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4", "Google Password Manager"},
		// The list renamed iCloud Keychain after Apple's Passwords app.
		{"fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "Apple Passwords"},
		{"08987058-cadc-4b81-b6e1-30de50dcbe96", "Windows Hello"},
		{"bada5566-a7aa-401f-bd96-45619a55120d", "1Password"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			a, ok := d.Lookup(mustUUID(t, tt.aaguid))
			if !ok {
				t.Fatalf("Lookup(%s) not found", tt.aaguid)
			}
			if a.Name != tt.want {
				t.Errorf("Lookup(%s).Name = %q, want %q", tt.aaguid, a.Name, tt.want)
			}
			if got := d.Name(mustUUID(t, tt.aaguid)); got != tt.want {
				t.Errorf("Name(%s) = %q, want %q", tt.aaguid, got, tt.want)
			}
		})
	}
}

func TestLookupNotFound(t *testing.T) {
	d := mustNew(t)
	google := mustUUID(t, "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4")
	tests := []struct {
		name   string
		aaguid []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"all zero", make([]byte, 16)},
		{"15 bytes", google[:15]},
		{"17 bytes", append(append([]byte{}, google...), 0)},
		{"32 bytes", append(append([]byte{}, google...), google...)},
		{"unknown", mustUUID(t, "00000000-0000-0000-0000-000000000001")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, ok := d.Lookup(tt.aaguid); ok || a != (Authenticator{}) {
				t.Errorf("Lookup(%x) = %+v, %v; want zero, false", tt.aaguid, a, ok)
			}
			if got := d.Name(tt.aaguid); got != Generic {
				t.Errorf("Name(%x) = %q, want %q", tt.aaguid, got, Generic)
			}
		})
	}
}

func TestLookupString(t *testing.T) {
	d := mustNew(t)
	tests := []struct {
		name   string
		aaguid string
		want   string
		found  bool
	}{
		{"hyphenated", "bada5566-a7aa-401f-bd96-45619a55120d", "1Password", true},
		{"upper case", "BADA5566-A7AA-401F-BD96-45619A55120D", "1Password", true},
		{"bare hex", "bada5566a7aa401fbd9645619a55120d", "1Password", true},
		{"zero", "00000000-0000-0000-0000-000000000000", "", false},
		{"empty", "", "", false},
		{"hyphens misplaced", "bada5566a-7aa-401f-bd96-45619a55120d", "", false},
		{"not hex", "bada5566-a7aa-401f-bd96-45619a55120z", "", false},
		{"braced", "{bada5566-a7aa-401f-bd96-45619a55120d}", "", false},
		{"too short", "bada5566-a7aa-401f-bd96-45619a55120", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := d.LookupString(tt.aaguid)
			if ok != tt.found || a.Name != tt.want {
				t.Errorf("LookupString(%q) = %q, %v; want %q, %v", tt.aaguid, a.Name, ok, tt.want, tt.found)
			}
		})
	}
}

// TestVendoredEntries checks every entry of the vendored list: a printable name and icons that are
// either empty or safe data: URIs.
func TestVendoredEntries(t *testing.T) {
	d := mustNew(t)
	for key, a := range d.entries {
		if a.Name == "" || a.Name != strings.TrimSpace(a.Name) {
			t.Errorf("%x: name %q", key, a.Name)
		}
		for _, icon := range []string{a.IconLight, a.IconDark} {
			if icon != "" && safeIcon(icon) != icon {
				t.Errorf("%x: icon %.40q… is not a safe data: URI", key, icon)
			}
		}
	}
}

func TestParseUpstreamShapeIcons(t *testing.T) {
	svg := "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
	png := "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n"))
	huge := "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(make([]byte, MaxIconBytes))
	tests := []struct {
		name      string
		iconLight string
		wantLight string
	}{
		{"svg kept", svg, svg},
		{"png kept", png, png},
		{"missing", "", ""},
		{"too large", huge, ""},
		{"https URL", "https://example.com/icon.svg", ""},
		{"not base64 encoded", "data:image/svg+xml,<svg/>", ""},
		{"broken base64", "data:image/svg+xml;base64,!!!!", ""},
		{"other type", "data:text/html;base64," + base64.StdEncoding.EncodeToString([]byte("<script>")), ""},
		{"javascript", "javascript:alert(1)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"bada5566-a7aa-401f-bd96-45619a55120d": {"name": " 1Password ", "icon_light": ` +
				jsonString(tt.iconLight) + `, "icon_dark": ` + jsonString(svg) + `}}`
			d, err := parse([]byte(doc))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			a, ok := d.LookupString("bada5566-a7aa-401f-bd96-45619a55120d")
			if !ok {
				t.Fatal("entry not found")
			}
			want := Authenticator{Name: "1Password", IconLight: tt.wantLight, IconDark: svg}
			if a != want {
				t.Errorf("got %.80q, want %.80q", a, want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"retired list", `{}`, "empty"},
		{"not JSON", `{"a":`, "parse list"},
		{"array", `[]`, "parse list"},
		{"bad key", `{"not-a-uuid": "X"}`, "not a UUID"},
		{"bad entry", `{"bada5566-a7aa-401f-bd96-45619a55120d": 7}`, "parse list"},
		{"only zero AAGUID", `{"00000000-0000-0000-0000-000000000000": "X"}`, "names no authenticator"},
		{"only blank names", `{"bada5566-a7aa-401f-bd96-45619a55120d": {"name": "  "}}`, "names no authenticator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parse(%s) = %v, %v; want error containing %q", tt.doc, d, err, tt.want)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"  Bitwarden\n", "Bitwarden"},
		{"Proton Pass", "Proton Pass"},
		{"Bad\x00Name", ""},
		{"Bad\x1bName", ""},
		{"\xff\xfe", ""},
		{strings.Repeat("x", maxNameBytes+1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := cleanName(tt.in); got != tt.want {
				t.Errorf("cleanName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestNewCost guards start-up: New parses the vendored list eagerly, which must stay under 5 ms (it takes
// about 0.3 ms on an idle CI machine); past that it should become lazy. Allocations are checked too, as
// they do not depend on the machine's load.
func TestNewCost(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing is meaningless in -short or -race runs")
	}
	if allocs := testing.AllocsPerRun(5, func() { mustNew(t) }); allocs > 2500 {
		t.Errorf("New makes %.0f allocations, want at most 2500", allocs)
	}
	const runs = 20
	var best time.Duration
	for i := 0; i < runs; i++ {
		start := time.Now()
		mustNew(t)
		if el := time.Since(start); i == 0 || el < best {
			best = el
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := mustNew(t)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(d)
	t.Logf("New: best of %d runs %v; retained heap %d KiB for %d entries", runs, best,
		(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1024, d.Len())
	if best > 5*time.Millisecond {
		t.Errorf("New took %v, want under 5ms (make it lazy)", best)
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	d := mustNew(b)
	key := mustUUID(b, "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := d.Lookup(key); !ok {
			b.Fatal("not found")
		}
	}
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
