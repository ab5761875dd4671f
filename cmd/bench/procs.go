package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/redis/rueidis"
)

// buildLatchkey builds cmd/latchkey into dir and returns the binary's path.
func buildLatchkey(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "latchkey")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/latchkey/latchkey/cmd/latchkey")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/latchkey: %w\n%s", err, out.Bytes())
	}
	return bin, nil
}

// proc is a child process (Latchkey or the hello server) with its output in a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // the exit status, once done is closed
}

// startProc starts bin with args and exactly the environment env (plus PATH and HOME), in dir, its
// output going to logPath.
func startProc(bin string, args []string, env map[string]string, dir, logPath string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to shut down (SIGTERM) and kills it after 10 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail is the last lines of the process's output, for error messages.
func (p *proc) tail(lines int) string {
	b, _ := os.ReadFile(p.log)
	all := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// waitReady polls url until it answers 200 OK, the process exits, or timeout passes.
func (p *proc) waitReady(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		switch {
		case p.exited():
			return fmt.Errorf("it exited (%v): %s", p.err, oneLine(p.tail(3)))
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("no 200 from %s within %v: %s", url, timeout, oneLine(p.tail(3)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// resources hands out fresh databases (a SQLite file, a PostgreSQL schema, a Redis key prefix) and
// removes all of them in cleanup.
type resources struct {
	dir       string // temporary directory of this run
	pgURL     string // PostgreSQL to create schemas in
	redisURL  string
	secretKey string // LATCHKEY_SECRET_KEY of every instance

	pg       *sql.DB
	schemas  []string
	redis    rueidis.Client
	prefixes []string
	n        int
}

func newResources(dir, pgURL, redisURL string) (*resources, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &resources{dir: dir, pgURL: pgURL, redisURL: redisURL, secretKey: base64.StdEncoding.EncodeToString(key)}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// env returns the environment of a Latchkey for mode m on port with a fresh, empty database (and Redis
// key prefix).
func (r *resources) env(ctx context.Context, m mode, port int) (map[string]string, error) {
	r.n++
	env := map[string]string{
		"LATCHKEY_ADDR":       fmt.Sprintf("127.0.0.1:%d", port),
		"LATCHKEY_PUBLIC_URL": fmt.Sprintf("http://localhost:%d", port),
		"LATCHKEY_RATE_LIMIT": "off", // no limits: the load comes from one IP
		"LATCHKEY_SECRET_KEY": r.secretKey,
	}
	if !m.postgres {
		env["LATCHKEY_DATABASE_URL"] = "sqlite:" + filepath.Join(r.dir, fmt.Sprintf("latchkey-%d.db", r.n))
		return env, nil
	}
	u, err := r.schema(ctx)
	if err != nil {
		return nil, err
	}
	env["LATCHKEY_DATABASE_URL"] = u
	if m.redis {
		prefix, err := r.prefix(ctx)
		if err != nil {
			return nil, err
		}
		env["LATCHKEY_REDIS_URL"] = r.redisURL
		env["LATCHKEY_REDIS_PREFIX"] = prefix
	}
	return env, nil
}

// schema creates a fresh PostgreSQL schema and returns a database URL whose search_path is it.
func (r *resources) schema(ctx context.Context) (string, error) {
	if r.pg == nil {
		db, err := sql.Open("pgx", r.pgURL)
		if err != nil {
			return "", fmt.Errorf("PostgreSQL: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err := db.PingContext(pctx); err != nil {
			_ = db.Close()
			return "", fmt.Errorf("PostgreSQL unreachable (start it, or name another with -postgres): %w", err)
		}
		r.pg = db
	}
	name := "lk_bench_" + randomHex(8)
	if _, err := r.pg.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", fmt.Errorf("create schema: %w", err)
	}
	r.schemas = append(r.schemas, name)
	sep := "?"
	if strings.Contains(r.pgURL, "?") {
		sep = "&"
	}
	return r.pgURL + sep + "search_path=" + name, nil
}

// prefix returns a fresh Redis key prefix, checking once that Redis answers.
func (r *resources) prefix(ctx context.Context) (string, error) {
	if r.redis == nil {
		opt, err := rueidis.ParseURL(r.redisURL)
		if err != nil {
			return "", fmt.Errorf("-redis-url: %w", err)
		}
		opt.DisableCache = true
		opt.Dialer.Timeout = 2 * time.Second
		c, err := rueidis.NewClient(opt)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err = c.Do(pctx, c.B().Ping().Build()).Error()
			cancel()
			if err != nil {
				c.Close()
			}
		}
		if err != nil {
			return "", fmt.Errorf("Redis unreachable (start it, or name another with -redis-url): %w", err)
		}
		r.redis = c
	}
	p := "lkbench:" + randomHex(6) + ":"
	r.prefixes = append(r.prefixes, p)
	return p, nil
}

// cleanup drops the schemas and deletes the Redis keys this run made; the caller removes dir.
func (r *resources) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if r.pg != nil {
		for _, s := range r.schemas {
			if _, err := r.pg.ExecContext(ctx, "DROP SCHEMA "+s+" CASCADE"); err != nil {
				errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
			}
		}
		_ = r.pg.Close()
	}
	if r.redis != nil {
		for _, p := range r.prefixes {
			if err := deleteKeys(ctx, r.redis, p); err != nil {
				errs = append(errs, fmt.Errorf("delete Redis keys %s*: %w", p, err))
			}
		}
		r.redis.Close()
	}
	return errors.Join(errs...)
}

// deleteKeys deletes every key that starts with prefix.
func deleteKeys(ctx context.Context, c rueidis.Client, prefix string) error {
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return err
		}
		if len(e.Elements) > 0 {
			if err := c.Do(ctx, c.B().Unlink().Key(e.Elements...).Build()).Error(); err != nil {
				return err
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return nil
		}
	}
}
