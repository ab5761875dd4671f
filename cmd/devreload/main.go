// Command devreload is the CSS and JavaScript half of `task dev`'s live reload: it watches the asset
// files and, when one changes, tells templ's live-reload proxy to reload the browser (the same request
// as `templ generate -notify-proxy`). templ's watcher covers .templ and .go files; asset edits need no
// rebuild, since dev mode (LATCHKEY_DEV=true) reads the assets from disk.
//
//	go run ./cmd/devreload -dir assets -proxy http://localhost:7331
//
// It polls modification times and sizes (every 100 ms by default): portable, no dependency, and cheap
// for a folder of a few files.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devreload:", err)
		os.Exit(1)
	}
}

// run watches until ctx ends.
func run(ctx context.Context, args []string, _ func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flags.SetOutput(stdout)
	dir := flags.String("dir", "assets", "the folder to watch (and its subfolders)")
	exts := flags.String("ext", ".css,.js", "comma-separated file name endings to watch")
	proxy := flags.String("proxy", "http://localhost:7331", "templ's live-reload proxy")
	interval := flags.Duration("interval", 100*time.Millisecond, "how often to look for changes")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	if *interval <= 0 {
		return fmt.Errorf("-interval must be positive")
	}
	w := watcher{dir: *dir, exts: strings.Split(*exts, ","), notify: notifier(*proxy)}
	prev, err := w.scan()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "devreload: watching %d files in %s; a change reloads the browser through %s\n", len(prev), *dir, *proxy)
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		next, err := w.scan()
		if err != nil {
			fmt.Fprintln(stdout, "devreload:", err)
			continue
		}
		if changed := diff(prev, next); len(changed) > 0 {
			if err := w.notify(ctx); err != nil {
				fmt.Fprintf(stdout, "devreload: %s changed, but the proxy did not answer: %v\n", strings.Join(changed, ", "), err)
			} else {
				fmt.Fprintf(stdout, "devreload: %s changed: reloading\n", strings.Join(changed, ", "))
			}
		}
		prev = next
	}
}

// stamp is what tells a file's versions apart.
type stamp struct {
	modTime time.Time
	size    int64
}

type watcher struct {
	dir    string
	exts   []string
	notify func(context.Context) error
}

// scan stamps every watched file.
func (w watcher) scan() (map[string]stamp, error) {
	out := map[string]stamp{}
	err := filepath.WalkDir(w.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != w.dir && os.IsNotExist(err) {
				return nil // removed while walking
			}
			return err
		}
		if d.IsDir() || !slices.ContainsFunc(w.exts, func(ext string) bool { return ext != "" && strings.HasSuffix(path, ext) }) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		out[path] = stamp{modTime: info.ModTime(), size: info.Size()}
		return nil
	})
	return out, err
}

// diff names the files added, removed or changed between two scans, sorted.
func diff(prev, next map[string]stamp) []string {
	var changed []string
	for path, s := range next {
		if p, ok := prev[path]; !ok || !p.modTime.Equal(s.modTime) || p.size != s.size {
			changed = append(changed, filepath.Base(path))
		}
	}
	for path := range prev {
		if _, ok := next[path]; !ok {
			changed = append(changed, filepath.Base(path))
		}
	}
	slices.Sort(changed)
	return changed
}

// notifier posts templ's reload event to the proxy.
func notifier(proxy string) func(context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(proxy, "/")+"/_templ/reload/events", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	}
}
