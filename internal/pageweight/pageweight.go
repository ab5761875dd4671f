// Package pageweight measures what a first visit to a page costs on the wire: the page's HTML plus every
// stylesheet, script and icon it links, each fetched once with Accept-Encoding: gzip, as a browser with an
// empty cache does. The figure is the sum of the response bodies as transferred (compressed where the
// server compressed them); headers are not counted.
package pageweight

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"golang.org/x/net/html"
)

// maxBody bounds each response read, so a runaway server cannot exhaust memory.
const maxBody = 16 << 20

// File is one response of the visit.
type File struct {
	URL      string // as requested, relative to the page when the page linked it so
	Kind     string // "html", "stylesheet", "script" or "icon"
	Status   int
	Encoding string // Content-Encoding, "" for none
	Wire     int    // body bytes as transferred
	Decoded  int    // body bytes after undoing Content-Encoding
}

// Weight is a first visit: the page and each file it loads, in document order.
type Weight struct {
	Files []File
}

// Total is the sum of the bodies as transferred.
func (w Weight) Total() int {
	n := 0
	for _, f := range w.Files {
		n += f.Wire
	}
	return n
}

// TotalDecoded is the sum of the bodies after decoding.
func (w Weight) TotalDecoded() int {
	n := 0
	for _, f := range w.Files {
		n += f.Decoded
	}
	return n
}

// String is a table of the files, their encoding and sizes, and the total.
func (w Weight) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tfile\tencoding\ton the wire\tdecoded\t")
	for _, f := range w.Files {
		enc := f.Encoding
		if enc == "" {
			enc = "none"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t\n", f.Kind, f.URL, enc, f.Wire, f.Decoded)
	}
	fmt.Fprintf(tw, "total\t%d files\t\t%d\t%d\t\n", len(w.Files), w.Total(), w.TotalDecoded())
	_ = tw.Flush()
	return b.String()
}

// Measure fetches pageURL and every stylesheet, script and icon its HTML links, with Accept-Encoding:
// gzip, and returns what each cost. Without a <link rel="icon"> it fetches /favicon.ico, as browsers do.
// Every response must be 200 in the end (as client follows redirects, their own bodies are not counted).
func Measure(ctx context.Context, client *http.Client, pageURL string) (Weight, error) {
	base, err := url.Parse(pageURL)
	if err != nil {
		return Weight{}, fmt.Errorf("pageweight: page URL: %w", err)
	}
	page, body, err := fetch(ctx, client, pageURL, "html")
	if err != nil {
		return Weight{}, err
	}
	w := Weight{Files: []File{page}}
	links, err := linked(body)
	if err != nil {
		return Weight{}, fmt.Errorf("pageweight: parse %s: %w", pageURL, err)
	}
	if !hasIcon(links) {
		links = append(links, link{kind: "icon", href: "/favicon.ico"})
	}
	for _, l := range links {
		u, err := base.Parse(l.href)
		if err != nil {
			return Weight{}, fmt.Errorf("pageweight: %s %q: %w", l.kind, l.href, err)
		}
		f, _, err := fetch(ctx, client, u.String(), l.kind)
		if err != nil {
			return Weight{}, err
		}
		f.URL = l.href
		w.Files = append(w.Files, f)
	}
	return w, nil
}

// fetch gets one URL with Accept-Encoding: gzip and returns its sizes and decoded body.
func fetch(ctx context.Context, client *http.Client, u, kind string) (File, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return File{}, nil, fmt.Errorf("pageweight: %w", err)
	}
	// Set explicitly, so net/http's transport neither asks for gzip itself nor undoes it: the body read
	// below is what crossed the wire.
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := client.Do(req)
	if err != nil {
		return File{}, nil, fmt.Errorf("pageweight: GET %s: %w", u, err)
	}
	defer func() { _ = res.Body.Close() }()
	wire, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return File{}, nil, fmt.Errorf("pageweight: read %s: %w", u, err)
	}
	if res.StatusCode != http.StatusOK {
		return File{}, nil, fmt.Errorf("pageweight: GET %s: status %d", u, res.StatusCode)
	}
	f := File{URL: u, Kind: kind, Status: res.StatusCode, Encoding: res.Header.Get("Content-Encoding"), Wire: len(wire)}
	decoded := wire
	switch strings.ToLower(f.Encoding) {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return File{}, nil, fmt.Errorf("pageweight: %s: gzip: %w", u, err)
		}
		if decoded, err = io.ReadAll(io.LimitReader(zr, maxBody)); err != nil {
			return File{}, nil, fmt.Errorf("pageweight: %s: gzip: %w", u, err)
		}
	default:
		return File{}, nil, fmt.Errorf("pageweight: %s: Content-Encoding %q was not asked for", u, f.Encoding)
	}
	f.Decoded = len(decoded)
	return f, decoded, nil
}

type link struct {
	kind string // "stylesheet", "script" or "icon"
	href string
}

// linked lists the stylesheets, scripts and icons an HTML document loads, in document order.
func linked(doc []byte) ([]link, error) {
	root, err := html.Parse(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	var out []link
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "link":
				rels := strings.Fields(strings.ToLower(attr(n, "rel")))
				href := attr(n, "href")
				for _, rel := range rels {
					if (rel == "stylesheet" || rel == "icon") && href != "" {
						out = append(out, link{kind: rel, href: href})
						break
					}
				}
			case "script":
				if src := attr(n, "src"); src != "" {
					out = append(out, link{kind: "script", href: src})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	if len(out) == 0 && !bytes.Contains(bytes.ToLower(doc), []byte("<html")) {
		return nil, errors.New("not an HTML document")
	}
	return out, nil
}

func hasIcon(links []link) bool {
	for _, l := range links {
		if l.kind == "icon" {
			return true
		}
	}
	return false
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}
