package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the watcher and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An edit of a CSS or JS file posts one reload event to the proxy; other files do not.
func TestReloadsOnAssetChange(t *testing.T) {
	events := make(chan string, 10)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		events <- r.Method + " " + r.URL.Path
	}))
	defer proxy.Close()

	dir := t.TempDir()
	for name, body := range map[string]string{"app.css": "a{}", "ui.js": "//", "notes.txt": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"devreload", "-dir", dir, "-proxy", proxy.URL, "-interval", "10ms"}, nil, out)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the output:\n%s", what, out)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("watching 2 files")

	edit := func(name, body string) {
		t.Helper()
		later := time.Now().Add(time.Duration(len(body)) * time.Second)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
	edit("notes.txt", "not watched")
	edit("app.css", "body{color:red}")
	select {
	case e := <-events:
		if e != "POST /_templ/reload/events" {
			t.Errorf("event %q", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload event after a CSS edit")
	}
	waitFor("app.css changed: reloading")
	if strings.Contains(out.String(), "notes.txt") {
		t.Error("a .txt edit counted as a change")
	}

	edit("ui.js", "// edited once more")
	select {
	case <-events:
	case <-time.After(5 * time.Second):
		t.Fatal("no reload event after a JS edit")
	}
	waitFor("ui.js changed: reloading")
}

func TestDiff(t *testing.T) {
	now := time.Now()
	prev := map[string]stamp{"a/x.css": {now, 1}, "a/y.js": {now, 2}, "a/gone.js": {now, 3}}
	next := map[string]stamp{"a/x.css": {now, 1}, "a/y.js": {now.Add(time.Millisecond), 2}, "a/new.css": {now, 4}}
	if got := strings.Join(diff(prev, next), ","); got != "gone.js,new.css,y.js" {
		t.Errorf("diff = %s", got)
	}
	if got := diff(next, next); len(got) != 0 {
		t.Errorf("diff of the same scan = %v", got)
	}
}
