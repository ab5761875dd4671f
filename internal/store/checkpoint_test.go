package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Connections never checkpoint on commit (wal_autocheckpoint 0: no writer copies the WAL back while
// holding the write lock); the store's own loop does, so the WAL stays small under a stream of writes.
func TestWALCheckpointedInTheBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	s, err := Open(ctx, "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	const writes = 6000 // about 50 MB of WAL if nothing checkpointed
	maxWAL := int64(0)
	for i := range writes {
		if err := s.AddActivity(ctx, Activity{ID: fmt.Sprintf("a%05d", i), UserID: "usr-1", At: time.Now(), Kind: "log-in",
			Detail: fmt.Sprintf("%0500d", i)}); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			if fi, err := os.Stat(path + "-wal"); err == nil {
				maxWAL = max(maxWAL, fi.Size())
			}
		}
	}
	time.Sleep(3 * checkpointEvery)
	var busy, logFrames, done int
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
		t.Fatal(err)
	}
	if logFrames != done {
		t.Errorf("after the writes stopped the WAL holds %d frames of which %d are checkpointed", logFrames, done)
	}
	// Unchecked it reaches ~100 MB (also when a checkpoint races the writers and never catches up);
	// checkpointed every 100 ms it stays at about 100 ms of these writes.
	if maxWAL > 40<<20 {
		t.Errorf("the WAL grew to %d MB during %d writes: it is not checkpointed, or never catches up", maxWAL>>20, writes)
	}
	t.Logf("largest WAL seen: %.1f MB", float64(maxWAL)/(1<<20))
}
