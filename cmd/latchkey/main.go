// Command latchkey serves passkey login (go run ./cmd/latchkey, then open http://localhost:8080) and is
// its own admin command line: users, sessions and signing keys (latchkey --help).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/joho/godotenv"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey:", err)
		os.Exit(1)
	}
}

// run starts Latchkey and serves until ctx is cancelled, or runs the admin command args name (reading an
// answer it asks for from the process's standard input).
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return runWith(ctx, args, getenv, os.Stdin, stdout)
}

// runWith is run reading answers from stdin.
func runWith(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet(programName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	envFile := fs.String("env-file", ".env", "")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		writeHelp(stdout)
		return nil
	} else if err != nil {
		return fmt.Errorf("%v (see: %s --help)", err, programName)
	}
	loadConfig := func() (config.Config, error) {
		getenv, err := withEnvFile(getenv, *envFile)
		if err != nil {
			return config.Config{}, err
		}
		return config.Load(getenv)
	}
	if rest := fs.Args(); len(rest) > 0 {
		c := &cli{stdin: stdin, stdout: stdout, config: loadConfig, now: time.Now}
		return c.dispatch(ctx, rest)
	}

	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("closing the database failed", "err", err)
		}
	}()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	maintCtx, stopMaint := context.WithCancel(ctx)
	defer stopMaint()
	go a.RunBackground(maintCtx)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("Latchkey is ready", "url", cfg.Origin(), "listen", ln.Addr().String(), "database", dbKind(cfg.DatabaseURL))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// withEnvFile layers an optional .env file under the real environment.
func withEnvFile(getenv func(string) string, path string) (func(string) string, error) {
	if path == "" {
		return getenv, nil
	}
	file, err := godotenv.Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return file[k]
	}, nil
}

// dbKind is the database as the start-up line shows it: a SQLite URL as it is, a PostgreSQL URL without
// its user, password or query.
func dbKind(url string) string {
	if strings.HasPrefix(url, "sqlite:") {
		return url
	}
	return store.DisplayURL(url)
}
