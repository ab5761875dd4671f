package httpgzip

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestAccepts(t *testing.T) {
	tests := []struct {
		header []string // Accept-Encoding lines; none: no header
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"GZip"}, true},
		{[]string{"x-gzip"}, true},
		{[]string{"gzip, deflate, br, zstd"}, true},
		{[]string{"br;q=1.0, gzip;q=0.8, *;q=0.1"}, true},
		{[]string{"br", "gzip"}, true}, // two header lines
		{[]string{"*"}, true},
		{[]string{"deflate, *;q=0.5"}, true},
		{[]string{"identity"}, false},
		{[]string{"br, zstd"}, false},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.0"}, false},
		{[]string{"gzip;q=0.000"}, false},
		{[]string{"gzip;q=0.001"}, true},
		{[]string{"gzip;q=abc"}, false},
		{[]string{"gzip;q=2"}, false},
		{[]string{"*, gzip;q=0"}, false}, // named with q=0: refused, whatever * says
		{[]string{"*;q=0"}, false},
		{[]string{"gzipped"}, false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		for _, v := range tc.header {
			r.Header.Add("Accept-Encoding", v)
		}
		if got := Accepts(r); got != tc.want {
			t.Errorf("Accept-Encoding %q: Accepts = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBest(t *testing.T) {
	text := []byte(strings.Repeat("Log in with a passkey. ", 200))
	gz := Best(text)
	if gz == nil || len(gz) >= len(text)/10 || !bytes.Equal(gunzip(t, gz), text) {
		t.Fatalf("Best of %d repetitive bytes: %d bytes", len(text), len(gz))
	}
	if gz := Best([]byte("tiny")); gz != nil {
		t.Errorf("Best of 4 bytes = %d bytes, want nil (gzip would make it larger)", len(gz))
	}
	random := make([]byte, 4096)
	_, _ = rand.Read(random)
	if gz := Best(random); gz != nil {
		t.Errorf("Best of random bytes = %d bytes, want nil", len(gz))
	}
}

// Writers and buffers are reused, concurrently, and each body decodes to itself.
func TestPool(t *testing.T) {
	p := NewPool(5)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			body := []byte(strings.Repeat("<p>page "+strings.Repeat("x", i)+"</p>", 300))
			for range 50 {
				out, ok := p.Compress(body)
				if !ok {
					t.Error("a repetitive page was not compressed")
					return
				}
				if got := gunzip(t, out.Bytes()); !bytes.Equal(got, body) {
					t.Error("a body did not decode to itself")
				}
				p.Put(out)
			}
		})
	}
	wg.Wait()
	if out, ok := p.Compress([]byte("<p>hi</p>")); ok || out != nil {
		t.Error("a body gzip makes larger was compressed")
	}
	b := p.Buffer()
	if b.Len() != 0 {
		t.Error("a buffer from the pool is not empty")
	}
	p.Put(b)
}

func BenchmarkPoolCompress(b *testing.B) {
	body := []byte(strings.Repeat(`<li class="row" data-testid="session-row"><div class="row-main">Chrome on Linux</div></li>`, 100))
	p := NewPool(5)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out, _ := p.Compress(body)
		p.Put(out)
	}
}
