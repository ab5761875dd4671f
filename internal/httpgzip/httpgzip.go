// Package httpgzip is the gzip content coding of Latchkey's responses: whether a request accepts gzip,
// the best compression of a static file (done once), and pooled writers for pages rendered per request.
//
// It uses github.com/klauspost/compress's gzip, a drop-in for compress/gzip: at the levels meant for
// pages rendered per request (1–6) a reused writer costs a third of the standard library's, whose
// levels 2–9 clear 640 KB of match tables on every Reset; at the best level it is as small or smaller.
package httpgzip

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// Accepts reports whether the request's Accept-Encoding allows gzip: "gzip" (or "x-gzip", or "*" when
// gzip is not named) with a quality above zero.
func Accepts(r *http.Request) bool {
	star := false
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			switch coding {
			case "gzip", "x-gzip":
				return quality(params) > 0
			case "*":
				star = quality(params) > 0
			}
		}
	}
	return star
}

// quality is the q parameter of one Accept-Encoding element (RFC 9110 §12.4.2): 1 when absent, 0 when it
// does not parse.
func quality(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || q < 0 || q > 1 {
			return 0
		}
		return q
	}
	return 1
}

// Best compresses body with gzip at the best compression level. It returns nil when that does not make
// the body smaller (serving it as it is is always correct).
func Best(body []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil
	}
	if _, err := zw.Write(body); err != nil {
		return nil
	}
	if err := zw.Close(); err != nil || buf.Len() >= len(body) {
		return nil
	}
	return buf.Bytes()
}

// Pool compresses bodies rendered per request with reused gzip writers and buffers, so a response costs
// the compression and no allocation of compressor state (hundreds of KB each). The zero Pool is not
// ready: use NewPool. Safe for concurrent use.
type Pool struct {
	level   int
	writers sync.Pool // *gzip.Writer
	buffers sync.Pool // *bytes.Buffer
}

// NewPool returns a Pool compressing at level (gzip.BestSpeed … gzip.BestCompression).
func NewPool(level int) *Pool {
	p := &Pool{level: level}
	p.writers.New = func() any {
		zw, err := gzip.NewWriterLevel(io.Discard, level)
		if err != nil { // an invalid level: the default one
			zw = gzip.NewWriter(io.Discard)
		}
		return zw
	}
	p.buffers.New = func() any { return new(bytes.Buffer) }
	return p
}

// Buffer returns an empty buffer from the pool; give it back with Put.
func (p *Pool) Buffer() *bytes.Buffer {
	b := p.buffers.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// maxPooled is the largest buffer kept for reuse; a rare huge page does not pin its memory.
const maxPooled = 256 << 10

// Put returns a buffer from Buffer or Compress to the pool.
func (p *Pool) Put(b *bytes.Buffer) {
	if b == nil || b.Cap() > maxPooled {
		return
	}
	p.buffers.Put(b)
}

// Compress gzips body into a buffer from the pool (give it back with Put). ok is false when compressing
// failed or did not make the body smaller; the buffer is then nil.
func (p *Pool) Compress(body []byte) (out *bytes.Buffer, ok bool) {
	out = p.Buffer()
	zw := p.writers.Get().(*gzip.Writer)
	zw.Reset(out)
	_, err := zw.Write(body)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	p.writers.Put(zw) // it keeps a reference to out, but writes nothing until the next Reset

	if err != nil || out.Len() >= len(body) {
		p.Put(out)
		return nil, false
	}
	return out, true
}
