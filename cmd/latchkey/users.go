package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey/internal/aaguid"
	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/useragent"
)

func usersListCommand() command {
	return command{
		name: "users list", args: "[--json]", nargs: 0,
		summary: "every account: email, name, user ID, created, passkeys, sessions, last log-in",
		about: `Lists every account, oldest first, in a table: email address, name, user ID, when it was
created, how many passkeys it has, how many sessions are logged in, and its last log-in with a passkey.
With --json it prints a JSON array instead, for scripts.`,
		setup: func(fs *flag.FlagSet) action {
			asJSON := fs.Bool("json", false, "print a JSON array (times in RFC 3339, UTC; null: never)")
			return func(ctx context.Context, c *cli, _ []string) error { return c.usersList(ctx, *asJSON) }
		},
	}
}

// userJSON is an account in users list --json.
type userJSON struct {
	Email     string     `json:"email"`
	Name      string     `json:"name"`
	UserID    string     `json:"user_id"`
	CreatedAt time.Time  `json:"created_at"`
	Passkeys  int        `json:"passkeys"`
	Sessions  int        `json:"sessions"`
	LastLogin *time.Time `json:"last_login_at"`
}

func (c *cli) usersList(ctx context.Context, asJSON bool) error {
	_, db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	users, err := db.ListUsers(ctx, c.now())
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]userJSON, 0, len(users))
		for _, u := range users {
			j := userJSON{Email: u.Email, Name: u.Name, UserID: u.ID, CreatedAt: u.CreatedAt.UTC(), Passkeys: u.Passkeys, Sessions: u.Sessions}
			if !u.LastLogin.IsZero() {
				t := u.LastLogin.UTC()
				j.LastLogin = &t
			}
			out = append(out, j)
		}
		return writeJSON(c, out)
	}
	if len(users) == 0 {
		fmt.Fprintln(c.stdout, "No accounts yet.")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tUSER ID\tCREATED\tPASSKEYS\tSESSIONS\tLAST LOG-IN")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", cell(u.Email), cell(u.Name), cell(u.ID), when(u.CreatedAt, "-"),
			u.Passkeys, u.Sessions, when(u.LastLogin, "never"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, plural(len(users), "account", "accounts")+".")
	return nil
}

func usersShowCommand() command {
	return command{
		name: "users show", args: "[--json] EMAIL|USER_ID", nargs: 1,
		summary: "one account: its passkeys, logged-in sessions and recent activity",
		about: `Shows one account, found by its email address or its user ID (usr-…): its details, its passkeys
(name, authenticator, synced or not, created, last used, a warning when its sign count went backwards),
its logged-in sessions (device, IP address, created, last seen, expiry) and its latest activity. Session
tokens are never shown. With --json it prints one JSON object instead.`,
		setup: func(fs *flag.FlagSet) action {
			asJSON := fs.Bool("json", false, "print a JSON object (times in RFC 3339, UTC; null: never)")
			return func(ctx context.Context, c *cli, args []string) error { return c.usersShow(ctx, args[0], *asJSON) }
		},
	}
}

// accountJSON is users show --json.
type accountJSON struct {
	UserID    string         `json:"user_id"`
	Email     string         `json:"email"`
	Name      string         `json:"name"`
	CreatedAt time.Time      `json:"created_at"`
	Passkeys  []passkeyJSON  `json:"passkeys"`
	Sessions  []sessionJSON  `json:"sessions"`
	Activity  []activityJSON `json:"activity"`
}

type passkeyJSON struct {
	Name           string     `json:"name"`
	Authenticator  string     `json:"authenticator"`
	Synced         bool       `json:"synced"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	CloneWarningAt *time.Time `json:"clone_warning_at"`
}

type sessionJSON struct {
	Device     string     `json:"device"`
	IP         string     `json:"ip"`
	CreatedAt  *time.Time `json:"created_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
}

type activityJSON struct {
	At     time.Time `json:"at"`
	What   string    `json:"what"`
	Detail string    `json:"detail"`
	IP     string    `json:"ip"`
	Device string    `json:"device"`
}

// optTime is t in UTC, or nil for the zero time.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (c *cli) usersShow(ctx context.Context, ref string, asJSON bool) error {
	_, db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	u, err := findUser(ctx, db, ref)
	if err != nil {
		return err
	}
	keys, err := db.PasskeysByUser(ctx, u.ID)
	if err != nil {
		return err
	}
	sessions, err := db.SessionsOfUser(ctx, u.ID, c.now())
	if err != nil {
		return err
	}
	entries, err := activity.New(db.Store, nil, nil).Recent(ctx, u.ID)
	if err != nil {
		return err
	}
	names, err := aaguid.New()
	if err != nil {
		return fmt.Errorf("passkey names: %w", err)
	}
	acct := accountJSON{UserID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt.UTC(),
		Passkeys: []passkeyJSON{}, Sessions: []sessionJSON{}, Activity: []activityJSON{}}
	for _, k := range keys {
		p := passkeyJSON{Name: k.Name, Authenticator: names.Name(k.AAGUID), Synced: k.BackupState, CreatedAt: k.CreatedAt.UTC(),
			LastUsedAt: optTime(k.LastUsedAt), CloneWarningAt: optTime(k.CloneWarningAt)}
		if p.Name == "" {
			p.Name = p.Authenticator // as the account page names it
		}
		acct.Passkeys = append(acct.Passkeys, p)
	}
	for _, s := range sessions {
		acct.Sessions = append(acct.Sessions, sessionJSON{Device: useragent.Parse(s.UserAgent).String(), IP: s.IP,
			CreatedAt: optTime(s.CreatedAt), LastSeenAt: optTime(s.LastSeenAt), ExpiresAt: s.ExpiresAt.UTC()})
	}
	for _, a := range entries {
		acct.Activity = append(acct.Activity, activityJSON{At: a.At.UTC(), What: a.Kind, Detail: a.Detail, IP: a.IP,
			Device: useragent.Parse(a.UserAgent).String()})
	}
	if asJSON {
		return writeJSON(c, acct)
	}

	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "User ID:\t%s\nEmail:\t%s\nName:\t%s\nCreated:\t%s\n", cell(u.ID), cell(u.Email), cell(u.Name), when(u.CreatedAt, "-"))
	fmt.Fprintf(tw, "\nPasskeys (%d):\n", len(acct.Passkeys))
	if len(acct.Passkeys) > 0 {
		fmt.Fprintln(tw, "  NAME\tAUTHENTICATOR\tSYNCED\tCREATED\tLAST USED\tWARNING")
	}
	for _, p := range acct.Passkeys {
		synced, warning := "no", "-"
		if p.Synced {
			synced = "yes"
		}
		if p.CloneWarningAt != nil {
			warning = "sign count went backwards " + when(*p.CloneWarningAt, "")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", cell(p.Name), cell(p.Authenticator), synced, when(p.CreatedAt, "-"),
			when(deref(p.LastUsedAt), "never"), warning)
	}
	fmt.Fprintf(tw, "\nSessions (%d logged in):\n", len(acct.Sessions))
	if len(acct.Sessions) > 0 {
		fmt.Fprintln(tw, "  DEVICE\tIP\tCREATED\tLAST SEEN\tEXPIRES")
	}
	for _, s := range acct.Sessions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", cell(s.Device), cell(s.IP), when(deref(s.CreatedAt), "-"),
			when(deref(s.LastSeenAt), "-"), when(s.ExpiresAt, "-"))
	}
	fmt.Fprintf(tw, "\nRecent activity (latest %d):\n", activity.DefaultRecent)
	if len(acct.Activity) > 0 {
		fmt.Fprintln(tw, "  WHEN\tWHAT\tDETAIL\tIP\tDEVICE")
	}
	for _, a := range acct.Activity {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", when(a.At, "-"), cell(a.What), cell(a.Detail), cell(a.IP), cell(a.Device))
	}
	return tw.Flush()
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func usersDeleteCommand() command {
	return command{
		name: "users delete", args: "[--yes] EMAIL|USER_ID", nargs: 1,
		summary: "delete an account with its passkeys, logging it out everywhere",
		about: `Deletes an account, found by its email address or its user ID (usr-…), with its passkeys,
recovery codes and links, and ends every session of it in the same transaction: no cookie or session
token of the account works afterwards. It cannot be undone.

On a terminal it shows the account and asks you to type its email address to confirm. When standard
input is not a terminal (a script, a pipe) it refuses unless --yes is given.`,
		setup: func(fs *flag.FlagSet) action {
			yes := fs.Bool("yes", false, "delete without asking (required when standard input is not a terminal)")
			return func(ctx context.Context, c *cli, args []string) error { return c.usersDelete(ctx, args[0], *yes) }
		},
	}
}

func (c *cli) usersDelete(ctx context.Context, ref string, yes bool) error {
	_, db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	u, err := findUser(ctx, db, ref)
	if err != nil {
		return err
	}
	if !yes {
		if !isTerminal(c.stdin) {
			return fmt.Errorf("users delete: not deleting %s without confirmation: standard input is not a terminal (add --yes to delete without asking)", u.Email)
		}
		keys, err := db.PasskeysByUser(ctx, u.ID)
		if err != nil {
			return err
		}
		sessions, err := db.SessionsOfUser(ctx, u.ID, c.now())
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "This deletes the account %s (%s, %s, created %s) with its %s, and logs out its %s.\n"+
			"It cannot be undone.\nType the account's email address to confirm: ",
			cell(u.Email), cell(u.Name), u.ID, when(u.CreatedAt, "-"), plural(len(keys), "passkey", "passkeys"),
			plural(len(sessions), "session", "sessions"))
		typed, err := readLine(ctx, c.stdin)
		if err != nil {
			return fmt.Errorf("users delete: no answer (%v); nothing was deleted", err)
		}
		if email, _ := provider.CanonicalEmail(typed); email != u.Email {
			return errors.New("users delete: the address typed is not the account's; nothing was deleted")
		}
	}
	if err := db.DeleteUser(ctx, u.ID, c.now()); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("users delete: the account %s was deleted meanwhile", u.Email)
	} else if err != nil {
		return err
	}
	db.sessionsEnded(ctx)
	fmt.Fprintf(c.stdout, "Deleted the account %s (%s): its passkeys are gone and every session of it has ended.\n", cell(u.Email), u.ID)
	return nil
}

func usersRecoverCommand() command {
	return command{
		name: "users recover", args: "EMAIL", nargs: 1,
		summary: "print a one-time recovery link (15 minutes, single use) for an operator to hand over",
		about: `Prints a one-time recovery link for the account with this email address:
{LATCHKEY_PUBLIC_URL}/recover/{token}, valid for 15 minutes and usable once (only its SHA-256 is stored).
Hand it to the person over a channel you trust; opening it and pressing the button logs them in, so they
can add a new passkey. The account's activity log records that an operator made a link.`,
		setup: func(*flag.FlagSet) action {
			return func(ctx context.Context, c *cli, args []string) error { return c.usersRecover(ctx, args[0]) }
		},
	}
}

func (c *cli) usersRecover(ctx context.Context, email string) error {
	cfg, db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	rec := recovery.New(recovery.Dependencies{Store: db.Store, Activity: activity.New(db.Store, nil, nil), Canonical: provider.CanonicalEmail})
	token, u, err := rec.CreateLink(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no account has the email address %q", email)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "One-time recovery link for %s (%s), valid for %d minutes:\n%s/recover/%s\n",
		cell(u.Email), u.ID, int(recovery.LinkTTL.Minutes()), cfg.Origin(), token)
	return nil
}

func sessionsRevokeCommand() command {
	return command{
		name: "sessions revoke", args: "--user EMAIL|USER_ID", nargs: 0,
		summary: "log an account out everywhere: end all its sessions, revoke its provider sessions",
		about: `Logs an account out everywhere, in one transaction: every session of it ends (its next request
lands on the login page) and every provider session of it is revoked, so a session token issued but not
yet exchanged is worthless too. Its passkeys stay: the person can log in again. Prints how many sessions
ended, and records it in the account's activity log.`,
		setup: func(fs *flag.FlagSet) action {
			user := fs.String("user", "", "`EMAIL|USER_ID` of the account (an email address, or a user ID usr-…); required")
			return func(ctx context.Context, c *cli, _ []string) error {
				if *user == "" {
					return fmt.Errorf("sessions revoke needs --user EMAIL|USER_ID (see: %s sessions revoke --help)", programName)
				}
				return c.sessionsRevoke(ctx, *user)
			}
		},
	}
}

func (c *cli) sessionsRevoke(ctx context.Context, ref string) error {
	_, db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	u, err := findUser(ctx, db, ref)
	if err != nil {
		return err
	}
	n, err := db.EndUserSessions(ctx, u.ID, c.now())
	if err != nil {
		return err
	}
	db.sessionsEnded(ctx)
	ended := plural(n, "session", "sessions") + " ended"
	activity.New(db.Store, nil, c.now).Record(ctx, u.ID, activity.LoggedOutByOperator, ended)
	fmt.Fprintf(c.stdout, "Logged %s (%s) out everywhere: %s, and every provider session of it revoked.\n", cell(u.Email), u.ID, ended)
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(c *cli, v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
