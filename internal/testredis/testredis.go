// Package testredis is test support: the local Redis for tests, with a key prefix of each test's own so
// tests running side by side (and other packages' tests) never see each other's keys or messages.
package testredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// DefaultURL is the local Redis the tests use unless LATCHKEY_TEST_REDIS_URL names another.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the test Redis's URL and a fresh key prefix ("lktest:<random>:"); the prefix's keys are
// deleted when the test ends. Without a reachable Redis it skips the test, or fails it when CI is set.
func URL(t testing.TB) (url, prefix string) {
	t.Helper()
	url = os.Getenv("LATCHKEY_TEST_REDIS_URL")
	if url == "" {
		url = DefaultURL
	}
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatalf("LATCHKEY_TEST_REDIS_URL: %v", err)
	}
	opt.DisableCache = true
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	opt.Dialer.Timeout = 2 * time.Second
	c, err := rueidis.NewClient(opt)
	if err == nil {
		err = c.Do(ctx, c.B().Ping().Build()).Error()
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis is required when CI is set (start it or set LATCHKEY_TEST_REDIS_URL): %v", err)
		}
		t.Skipf("skipping Redis: cannot reach %s (start it or set LATCHKEY_TEST_REDIS_URL; with CI set this fails): %v", url, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix = "lktest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var cursor uint64
		for {
			e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Errorf("clean Redis keys %s*: %v", prefix, err)
				return
			}
			if len(e.Elements) > 0 {
				if err := c.Do(ctx, c.B().Unlink().Key(e.Elements...).Build()).Error(); err != nil {
					t.Errorf("clean Redis keys %s*: %v", prefix, err)
					return
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				return
			}
		}
	})
	return url, prefix
}
