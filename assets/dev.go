package assets

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// NewFromDir is dev mode (LATCHKEY_DEV=true): the same assets as New, read from the directory dir (the
// repository's assets/ folder) instead of the copies embedded in the binary, and served as written (not
// minified; a joined asset such as app.js is its files joined as they are). A file is read again
// whenever its modification time or size changes, so URL returns a new content-hashed URL right after an
// edit and the next page load fetches the new file without a restart. Handler serves the current
// contents of a file under any hash (a page rendered just before an edit still gets its stylesheet) with
// Cache-Control: no-cache. Every file must exist when NewFromDir is called.
func NewFromDir(dir string) (*Assets, error) {
	d := &devFiles{dir: dir, names: map[string]source{}, cache: map[string]devEntry{}}
	for _, s := range sources() {
		d.names[s.name] = s
	}
	for _, s := range sources() {
		if _, err := d.load(s.name); err != nil {
			return nil, fmt.Errorf("assets: dev mode reads the files from %s (run from the repository root): %w", dir, err)
		}
	}
	return &Assets{dev: d}, nil
}

// devFiles reads the assets from a directory, caching each file until its modification time or size
// changes. Safe for concurrent use.
type devFiles struct {
	dir   string
	names map[string]source // logical name -> its files in dir; read-only

	mu    sync.Mutex
	cache map[string]devEntry // logical name -> the file as last read
}

type devEntry struct {
	stamp string // the modification times and sizes of the asset's files when read
	f     *file
}

// load returns the current contents of the asset with the logical name, reading the file again when it
// has changed since the last read.
func (d *devFiles) load(name string) (*file, error) {
	src, ok := d.names[name]
	if !ok {
		return nil, fmt.Errorf("no asset named %q", name)
	}
	var stamp strings.Builder
	for _, fileName := range src.files {
		info, err := os.Stat(filepath.Join(d.dir, fileName))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&stamp, "%d/%d ", info.ModTime().UnixNano(), info.Size())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.cache[name]; ok && e.stamp == stamp.String() {
		return e.f, nil
	}
	body, err := src.join(func(fileName string) ([]byte, error) { return os.ReadFile(filepath.Join(d.dir, fileName)) })
	if err != nil {
		return nil, err
	}
	f, _, err := newFile(name, body)
	if err != nil {
		return nil, err
	}
	d.cache[name] = devEntry{stamp: stamp.String(), f: f}
	return f, nil
}

// byName returns the current file of a logical name. While the file cannot be read (an editor saving it
// by rename, say), the last version read stands in.
func (d *devFiles) byName(name string) (*file, bool) {
	if f, err := d.load(name); err == nil {
		return f, true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.cache[name]
	return e.f, ok
}

// byPath returns the current file for a hashed file name ("app.1a2b3c4d.css"), whatever the hash.
func (d *devFiles) byPath(hashed string) (*file, bool) {
	ext := path.Ext(hashed)
	stem := strings.TrimSuffix(hashed, ext)
	i := strings.LastIndexByte(stem, '.')
	if i < 0 || len(stem)-i-1 != hashLen {
		return nil, false
	}
	return d.byName(stem[:i] + ext)
}
