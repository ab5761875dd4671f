// Command latchkey serves passkey login: go run ./cmd/latchkey, then open http://localhost:8080.
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

	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/recovery"
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

// run starts Latchkey and serves until ctx is cancelled, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	envFile := fs.String("env-file", ".env", "optional file of KEY=value lines; real environment variables win")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage:\n  %[1]s [flags]                      serve Latchkey\n"+
			"  %[1]s [flags] users recover EMAIL  print a one-time recovery link (15 minutes, single use) for an operator to hand over\n\nFlags:\n", fs.Name())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	getenv, err := withEnvFile(getenv, *envFile)
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if rest := fs.Args(); len(rest) > 0 {
		return command(ctx, cfg, rest, stdout)
	}

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

// command runs a CLI subcommand: `users recover EMAIL`.
func command(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 3 || args[0] != "users" || args[1] != "recover" {
		return fmt.Errorf("unknown command %q (try: users recover EMAIL, or --help)", strings.Join(args, " "))
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	rec := recovery.New(recovery.Dependencies{Store: st, Activity: activity.New(st, slog.New(slog.DiscardHandler), nil), Canonical: provider.CanonicalEmail})
	token, u, err := rec.CreateLink(ctx, args[2])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no account has the email address %q", args[2])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "One-time recovery link for %s (%s), valid for %d minutes:\n%s/recover/%s\n",
		u.Email, u.ID, int(recovery.LinkTTL.Minutes()), cfg.Origin(), token)
	return nil
}

// dbKind is the database as the start-up line shows it: a SQLite URL as it is, a PostgreSQL URL without
// its user, password or query.
func dbKind(url string) string {
	if strings.HasPrefix(url, "sqlite:") {
		return url
	}
	return store.DisplayURL(url)
}
