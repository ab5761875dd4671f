//go:build unix

package store

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSQLiteFilesAreOwnerOnly checks that the database file, its WAL and its shared-memory file are
// mode 0600 after writes, whatever the umask, and that an existing database left more open is
// restricted. The umask is process-wide: this test is not parallel, and sets it back when it ends
// (parallel tests only start once the sequential ones are done).
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		umask int
		// before runs against the database path first, to leave files behind.
		before func(t *testing.T, path string)
	}{
		{name: "new database, umask 022", umask: 0o022},
		{name: "new database, umask 000", umask: 0o000},
		{name: "existing database and WAL left 0644", umask: 0o022, before: func(t *testing.T, path string) {
			old := openTestStore(t, "sqlite:"+path) // stays open, so its WAL and SHM stay
			writeKeys(t, old)
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.Chmod(name, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "existing empty file 0666", umask: 0o000, before: func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o666); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := syscall.Umask(tc.umask)
			t.Cleanup(func() { syscall.Umask(old) })
			path := filepath.Join(t.TempDir(), "latchkey.db")
			if tc.before != nil {
				tc.before(t, path)
			}
			s := openTestStore(t, "sqlite:"+path)
			if err := s.InsertSigningKey(t.Context(), SigningKey{KID: "k", Alg: "ES256", PrivateJWK: []byte(`{"d":"x"}`),
				CreatedAt: ms(1_760_000_000_000)}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Secret(t.Context(), "ceremony-cookie-hash-key", func() ([]byte, error) { return randomBytes(t, 64), nil }); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				info, err := os.Stat(name)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(name), err)
				}
				if got := info.Mode().Perm(); got != 0o600 {
					t.Errorf("%s has mode %04o, want 0600", filepath.Base(name), got)
				}
			}
		})
	}
}

// An in-memory database has no file to create.
func TestSQLiteMemoryCreatesNoFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	openTestStore(t, "sqlite::memory:")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("files in the working directory after opening :memory: = %v, %v", entries, err)
	}
}
