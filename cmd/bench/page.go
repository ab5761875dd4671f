package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/html"
)

// fileSize is one response of the login page's first visit.
type fileSize struct {
	path     string
	body     int    // body bytes as sent (compressed when encoding says so)
	wire     int    // every byte read from the connection: status line, headers and body
	encoding string // Content-Encoding; "" for none
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// fetchCounted GETs base+path from addr over a new connection with Accept-Encoding: gzip, as a first
// visit would, and returns the raw body and the sizes.
func fetchCounted(ctx context.Context, addr, base, path string) ([]byte, fileSize, error) {
	var n atomic.Int64
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, n: &n}, nil
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, fileSize{}, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fileSize{}, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fileSize{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fileSize{}, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return body, fileSize{path: path, body: len(body), wire: int(n.Load()), encoding: resp.Header.Get("Content-Encoding")}, nil
}

// loginPageSizes measures a first visit of the login page: GET / and the stylesheets and scripts it
// names, each with Accept-Encoding: gzip.
func loginPageSizes(ctx context.Context, addr, base string) ([]fileSize, error) {
	raw, page, err := fetchCounted(ctx, addr, base, "/")
	if err != nil {
		return nil, err
	}
	doc := raw
	if page.encoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("GET /: %w", err)
		}
		if doc, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("GET /: %w", err)
		}
	}
	files := []fileSize{page}
	for _, p := range subresources(doc, base) {
		_, f, err := fetchCounted(ctx, addr, base, p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// subresources lists the same-origin stylesheets and scripts an HTML page loads, as paths, each once.
func subresources(doc []byte, base string) []string {
	var out []string
	add := func(ref string) {
		u, err := url.Parse(ref)
		if err != nil || ref == "" {
			return
		}
		if u.IsAbs() || u.Host != "" {
			if !strings.HasPrefix(ref, base+"/") {
				return // another origin's: not ours to measure
			}
		}
		p := u.EscapedPath()
		if u.RawQuery != "" {
			p += "?" + u.RawQuery
		}
		if !strings.HasPrefix(p, "/") || slices.Contains(out, p) {
			return
		}
		out = append(out, p)
	}
	z := html.NewTokenizer(bytes.NewReader(doc))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		t := z.Token()
		attr := func(name string) string {
			for _, a := range t.Attr {
				if a.Key == name {
					return a.Val
				}
			}
			return ""
		}
		switch t.Data {
		case "script":
			add(attr("src"))
		case "link":
			rel := strings.Fields(strings.ToLower(attr("rel")))
			as := attr("as")
			if slices.Contains(rel, "stylesheet") || slices.Contains(rel, "modulepreload") ||
				(slices.Contains(rel, "preload") && (as == "script" || as == "style")) {
				add(attr("href"))
			}
		}
	}
}

// startToFirstPage starts bin with env and returns how long it took from exec until GET / answered
// 200, polling in a tight loop.
func startToFirstPage(ctx context.Context, bin string, env map[string]string, dir, logPath string) (time.Duration, error) {
	addr := env["LATCHKEY_ADDR"]
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env["LATCHKEY_PUBLIC_URL"]+"/", nil)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	p, err := startProc(bin, []string{"-env-file="}, env, dir, logPath)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	for {
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		switch {
		case p.exited():
			return 0, fmt.Errorf("latchkey exited (%v): %s", p.err, oneLine(p.tail(3)))
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case time.Since(t0) > 30*time.Second:
			return 0, fmt.Errorf("no page within 30 s: %s", oneLine(p.tail(3)))
		}
	}
}
