package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/mattn/go-isatty"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/secretbox"
	"github.com/latchkey/latchkey/internal/store"
)

// programName is how help and error hints name the binary.
const programName = "latchkey"

// cli is what an admin command runs with.
type cli struct {
	stdin  io.Reader // answers to questions (users delete asks for the email on a terminal)
	stdout io.Writer
	config func() (config.Config, error) // loaded only by commands that need it, so help always works
	now    func() time.Time
}

// action runs a command with its positional arguments, after its flags were parsed.
type action func(ctx context.Context, c *cli, args []string) error

// command is one admin command: "users list", "keys rotate", …
type command struct {
	name    string // group and verb, e.g. "users delete"
	args    string // what follows the name in usage lines, e.g. "[--yes] EMAIL|USER_ID"
	nargs   int    // positional arguments it takes
	summary string // one line for the command list
	about   string // its own help page
	// setup defines the command's flags on fs and returns the action that reads them.
	setup func(fs *flag.FlagSet) action
}

// usage is the command's name with its arguments.
func (cmd command) usage() string { return strings.TrimSpace(cmd.name + " " + cmd.args) }

// commands lists every admin command, in the order help lists them.
func commands() []command {
	return []command{
		usersListCommand(), usersShowCommand(), usersDeleteCommand(), usersRecoverCommand(),
		sessionsRevokeCommand(),
		keysListCommand(), keysRotateCommand(),
	}
}

// findCommand returns the command called name.
func findCommand(name string) (command, bool) {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

// verbs lists the commands of group.
func verbs(group string) []string {
	var out []string
	for _, cmd := range commands() {
		if g, verb, _ := strings.Cut(cmd.name, " "); g == group {
			out = append(out, verb)
		}
	}
	return out
}

// isGroup reports whether name is a command group: the first word of some command.
func isGroup(name string) bool { return len(verbs(name)) > 0 }

func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// dispatch runs the admin command args names (args has at least one element).
func (c *cli) dispatch(ctx context.Context, args []string) error {
	if args[0] == "help" {
		return c.help(args[1:])
	}
	if !isGroup(args[0]) {
		return fmt.Errorf("unknown command %q (see: %s --help)", strings.Join(args, " "), programName)
	}
	group := args[0]
	if len(args) == 1 {
		return fmt.Errorf("%q needs a command: %s (see: %s %s --help)", group, strings.Join(verbs(group), ", "), programName, group)
	}
	if isHelp(args[1]) {
		writeGroupHelp(c.stdout, group)
		return nil
	}
	cmd, ok := findCommand(group + " " + args[1])
	if !ok {
		return fmt.Errorf("unknown command %q (see: %s %s --help)", group+" "+args[1], programName, group)
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	act := cmd.setup(fs)
	pos, err := parseInterspersed(fs, args[2:])
	if errors.Is(err, flag.ErrHelp) {
		writeCommandHelp(c.stdout, cmd)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %v (see: %s %s --help)", cmd.name, err, programName, cmd.name)
	}
	switch {
	case len(pos) < cmd.nargs:
		return fmt.Errorf("%s needs %s (see: %s %s --help)", cmd.name, cmd.args[strings.LastIndex(cmd.args, " ")+1:], programName, cmd.name)
	case len(pos) > cmd.nargs:
		return fmt.Errorf("%s: unexpected argument %q (see: %s %s --help)", cmd.name, pos[cmd.nargs], programName, cmd.name)
	}
	return act(ctx, c, pos)
}

// parseInterspersed parses flags that may come before, between or after the positional arguments, which
// it returns; after "--" every argument is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// fs.Parse stops at the first non-flag argument, or consumes "--" and stops after it.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, nil
}

// help answers `latchkey help [GROUP [COMMAND]]`.
func (c *cli) help(args []string) error {
	switch {
	case len(args) == 0:
		writeHelp(c.stdout)
		return nil
	case len(args) == 1 && isGroup(args[0]):
		writeGroupHelp(c.stdout, args[0])
		return nil
	case len(args) == 2:
		if cmd, ok := findCommand(args[0] + " " + args[1]); ok {
			writeCommandHelp(c.stdout, cmd)
			return nil
		}
	}
	return fmt.Errorf("no help for %q: unknown command (see: %s --help)", strings.Join(args, " "), programName)
}

// configHelp says where the commands' configuration comes from.
const configHelp = `Configuration:
  Every setting is an environment variable, and the admin commands read the same ones as the server:
  run them with the server's environment. A .env file of KEY=value lines in the working directory (or
  the file -env-file names) is read too; real environment variables win. The commands use:
    LATCHKEY_DATABASE_URL      the database: sqlite:PATH (default sqlite:latchkey.db) or postgres://…
    LATCHKEY_PUBLIC_URL        the site's URL (default http://localhost:8080); recovery links start with it
    LATCHKEY_SECRET_KEY        (or LATCHKEY_SECRET_KEY_FILE) the key the signing keys are encrypted with,
                               for the keys commands when the server has one
    LATCHKEY_TOKEN_TTL         the session token lifetime (default 5m): when a retired key may go
  The server reads many more; README.md ("Configuration") and .env.example list them all.
`

// writeHelp writes the overview: serving, every command, the global flag and the configuration.
func writeHelp(w io.Writer) {
	fmt.Fprintf(w, `Latchkey serves passkey login, and is its own admin command line.

Usage:
  %[1]s [-env-file FILE]                     serve Latchkey on LATCHKEY_ADDR until interrupted
  %[1]s [-env-file FILE] COMMAND [ARGS]      run an admin command against the database, then exit

Commands:
`, programName)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, cmd := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.usage(), cmd.summary)
	}
	fmt.Fprintf(tw, "  help [COMMAND]\tthis help, or a command's (also: %s COMMAND --help)\n", programName)
	_ = tw.Flush()
	fmt.Fprintf(w, `
Flags:
  -env-file FILE   the file of KEY=value lines to read (default .env; -env-file "" reads none)
  -h, --help       this help

%s
A command exits with status 0 when it did what it says; otherwise it prints "%[2]s: " and what went
wrong on standard error, and exits with status 1.
`, configHelp, programName)
}

// writeGroupHelp writes the commands of group.
func writeGroupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: %s [-env-file FILE] %s COMMAND [ARGS]\n\nCommands:\n", programName, group)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, cmd := range commands() {
		if strings.HasPrefix(cmd.name, group+" ") {
			fmt.Fprintf(tw, "  %s\t%s\n", cmd.usage(), cmd.summary)
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nRun '%s %s COMMAND --help' for a command's details, and '%s --help' for the configuration.\n",
		programName, group, programName)
}

// writeCommandHelp writes cmd's own help page: usage, what it does, its flags, the configuration.
func writeCommandHelp(w io.Writer, cmd command) {
	fmt.Fprintf(w, "Usage: %s [-env-file FILE] %s\n\n%s\n", programName, cmd.usage(), strings.TrimSpace(cmd.about))
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	cmd.setup(fs)
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, f := range flags {
			value, usage := flag.UnquoteUsage(f)
			if value != "" {
				value = " " + value
			}
			fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, value, usage)
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "\n%s", configHelp)
}

// database is what the admin commands work on. Every command opens it through openStore, so whatever
// else must hear of their changes — a shared session store, the caches of running instances — is
// connected in that one place.
type database struct {
	*store.Store
	admin *app.Admin
}

// openStore opens the database cfg names (running any pending migrations, as the server does), and
// Redis when configured, so that sessions the commands end are ended everywhere (app.OpenAdmin).
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*database, error) {
	a, err := app.OpenAdmin(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return &database{Store: a.Store, admin: a}, nil
}

// Close closes the database.
func (d *database) Close() error { return d.admin.Close() }

// keysRotated tells running instances that the signing key changed, so they reread it at once (through
// Redis; without it they reread every app.KeyReloadInterval, sign with a key set at most
// token.DefaultReloadAfter old, and reread at once when a token names a key they do not know).
func (d *database) keysRotated(ctx context.Context) error { return d.admin.KeysRotated(ctx) }

// sessionsEnded returns once no running instance can serve the sessions just ended any more (see
// app.Admin.SessionsEnded).
func (d *database) sessionsEnded(ctx context.Context) { d.admin.SessionsEnded(ctx) }

// useSecretKey makes the store decrypt and encrypt the signing keys with cfg's secret key, as the
// server does; a database whose keys are encrypted needs it.
func (d *database) useSecretKey(ctx context.Context, cfg config.Config) error {
	var box *secretbox.Box
	if cfg.SecretKey != "" {
		var err error
		if box, err = secretbox.New(string(cfg.SecretKey)); err != nil {
			return err
		}
	}
	_, err := d.ApplySecretKey(ctx, box)
	return err
}

// open loads the configuration and opens the database.
func (c *cli) open(ctx context.Context) (config.Config, *database, error) {
	cfg, err := c.config()
	if err != nil {
		return config.Config{}, nil, err
	}
	db, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, db, nil
}

// findUser looks an account up by email address (in the form sign-up stores it) or user ID (usr-…).
func findUser(ctx context.Context, db *database, ref string) (store.User, error) {
	var (
		u   store.User
		err error
	)
	switch {
	case strings.Contains(ref, "@"):
		email, ok := provider.CanonicalEmail(ref)
		if !ok {
			return store.User{}, fmt.Errorf("no account has the email address %q", ref)
		}
		if u, err = db.UserByEmail(ctx, email); errors.Is(err, store.ErrNotFound) {
			return store.User{}, fmt.Errorf("no account has the email address %q", ref)
		}
	case strings.HasPrefix(ref, "usr-"):
		if u, err = db.UserByID(ctx, ref); errors.Is(err, store.ErrNotFound) {
			return store.User{}, fmt.Errorf("no account has the user ID %q", ref)
		}
	default:
		return store.User{}, fmt.Errorf("%q is neither an email address nor a user ID (usr-…)", ref)
	}
	return u, err
}

// isTerminal reports whether r is an interactive terminal a person can answer on.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && f != nil && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// readLine reads one line from r, giving up when ctx ends (Ctrl-C).
func readLine(ctx context.Context, r io.Reader) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err == io.EOF && line != "" {
			err = nil
		}
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case res := <-ch:
		return res.line, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// timeLayout is how the commands print times: UTC, to the second.
const timeLayout = "2006-01-02 15:04:05 UTC"

// when formats t, or none for the zero time.
func when(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(timeLayout)
}

// cell makes a stored value safe to print on an operator's terminal: control characters (escape
// sequences, tabs that would break the columns) and bidirectional overrides become U+FFFD, and an empty
// value becomes "-".
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

// plural is "1 session" or "2 sessions".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
