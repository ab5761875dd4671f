package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/token"
)

// keysAbout explains the key life both keys commands print.
const keysAbout = `The embedded passkey provider signs session tokens (the cbo_session_token JWT, ES256) with the
current key and publishes the public keys at /.well-known/jwks. A rotation stores a new current key; the
previous key is retired and stays published, verifying the tokens it signed, until it is "deletable
after": its retirement + %s (the longest a running instance signs with a key set it has not reread) +
LATCHKEY_TOKEN_TTL + %s of clock leeway. The server then drops it from the JWKS and deletes it. Nobody is
logged out. Keys also rotate by themselves every %s.`

func keysListCommand() command {
	return command{
		name: "keys list", args: "[--json]", nargs: 0,
		summary: "the session-token signing keys: current, retired, when each may go",
		about: `Lists the signing keys, newest first: kid, algorithm, created, status (current; retired, still
published; or expired, deleted at the server's next clean-up), when it was retired and when it is
deletable. With --json it prints a JSON array instead.

` + fmt.Sprintf(keysAbout, durationWords(token.DefaultReloadAfter), durationWords(token.DefaultLeeway), durationWords(token.DefaultRotateAfter)),
		setup: func(fs *flag.FlagSet) action {
			asJSON := fs.Bool("json", false, "print a JSON array (times in RFC 3339, UTC; null: not retired)")
			return func(ctx context.Context, c *cli, _ []string) error { return c.keysList(ctx, *asJSON) }
		},
	}
}

// keyJSON is a key in keys list --json.
type keyJSON struct {
	KID            string     `json:"kid"`
	Alg            string     `json:"alg"`
	CreatedAt      time.Time  `json:"created_at"`
	Status         string     `json:"status"`
	RetiredAt      *time.Time `json:"retired_at"`
	DeletableAfter *time.Time `json:"deletable_after"`
}

// keyStatus is "current", "retired" (still published) or "expired" (no longer published).
func keyStatus(k token.KeyInfo, now time.Time) string {
	switch {
	case k.Current:
		return "current"
	case k.Published(now):
		return "retired"
	}
	return "expired"
}

// openKeys opens the database for the keys commands: the embedded provider's signing keys, decrypted
// with the server's secret key.
func (c *cli) openKeys(ctx context.Context) (config.Config, *database, error) {
	cfg, err := c.config()
	if err != nil {
		return config.Config{}, nil, err
	}
	if cfg.CorbadoMode() {
		return config.Config{}, nil, errors.New("in Corbado mode (CORBADO_PROJECT_ID is set) Corbado signs the session tokens with its own keys; Latchkey has none to list or rotate")
	}
	cfg, db, err := c.open(ctx)
	if err != nil {
		return config.Config{}, nil, err
	}
	if err := db.useSecretKey(ctx, cfg); err != nil {
		_ = db.Close()
		return config.Config{}, nil, err
	}
	return cfg, db, nil
}

func (c *cli) keysList(ctx context.Context, asJSON bool) error {
	cfg, db, err := c.openKeys(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	keys, err := token.ListKeys(ctx, db.Store, app.KeyOptions(cfg))
	if err != nil {
		return err
	}
	now := c.now()
	if asJSON {
		out := make([]keyJSON, 0, len(keys))
		for _, k := range keys {
			out = append(out, keyJSON{KID: k.KID, Alg: k.Alg, CreatedAt: k.CreatedAt.UTC(), Status: keyStatus(k, now),
				RetiredAt: optTime(k.RetiredAt), DeletableAfter: optTime(k.DeletableAfter)})
		}
		return writeJSON(c, out)
	}
	if len(keys) == 0 {
		fmt.Fprintln(c.stdout, "No signing key yet: the server makes the first when it starts (or run keys rotate).")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATUS\tRETIRED AT\tDELETABLE AFTER")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(k.KID), cell(k.Alg), when(k.CreatedAt, "-"), keyStatus(k, now),
			when(k.RetiredAt, "-"), when(k.DeletableAfter, "-"))
	}
	return tw.Flush()
}

func keysRotateCommand() command {
	return command{
		name: "keys rotate", args: "", nargs: 0,
		summary: "make a new signing key current; the old one verifies its tokens until they expire",
		about: `Makes a new signing key current, in one transaction. Running instances switch to it within
` + durationWords(app.KeyReloadInterval) + ` (they reread the keys that often, and at once when they see a token signed with a key they
do not know yet). Two rotations at the same moment store one new key; the other reports it and changes
nothing.

` + fmt.Sprintf(keysAbout, durationWords(token.DefaultReloadAfter), durationWords(token.DefaultLeeway), durationWords(token.DefaultRotateAfter)),
		setup: func(*flag.FlagSet) action {
			return func(ctx context.Context, c *cli, _ []string) error { return c.keysRotate(ctx) }
		},
	}
}

func (c *cli) keysRotate(ctx context.Context) error {
	cfg, db, err := c.openKeys(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	opts := app.KeyOptions(cfg)
	opts.Now = c.now
	rotated, err := token.Rotate(ctx, db.Store, opts)
	if errors.Is(err, token.ErrConcurrentRotation) {
		return fmt.Errorf("keys rotate: another rotation made a new key current at the same moment; nothing was changed (see: %s keys list)", programName)
	}
	if err != nil {
		return err
	}
	if err := db.keysRotated(ctx); err != nil {
		return fmt.Errorf("keys rotate: the new key %s is current, but telling the running instances failed (they reread the keys within %s): %w",
			rotated.KID, durationWords(token.DefaultReloadAfter), err)
	}
	keys, err := token.ListKeys(ctx, db.Store, opts)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Rotated the session signing key.\n")
	fmt.Fprintf(tw, "  New current key:\t%s (%s)\n", rotated.KID, rotated.Alg)
	if len(keys) > 1 && keys[0].KID == rotated.KID {
		prev := keys[1]
		fmt.Fprintf(tw, "  Previous key:\t%s: verifies the tokens it signed until %s, then leaves the JWKS\n",
			prev.KID, when(prev.DeletableAfter, "-"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Running instances sign with the new key within %s. Nobody is logged out.\n", durationWords(app.KeyReloadInterval))
	return nil
}

// durationWords says d in the largest whole unit ("30 days", "1 minute"), else as time.Duration does.
func durationWords(d time.Duration) string {
	for _, u := range []struct {
		d         time.Duration
		one, many string
	}{{24 * time.Hour, "day", "days"}, {time.Hour, "hour", "hours"}, {time.Minute, "minute", "minutes"}, {time.Second, "second", "seconds"}} {
		if d > 0 && d%u.d == 0 {
			return plural(int(d/u.d), u.one, u.many)
		}
	}
	return d.String()
}
