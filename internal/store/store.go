package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"               // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latchkey/latchkey/internal/secretbox"
	"github.com/latchkey/latchkey/internal/startup"
)

// Dialects returned by Store.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// sqliteParams are the connection settings every SQLite connection gets: WAL so readers never block
// the writer, a busy timeout instead of immediate SQLITE_BUSY, enforced foreign keys, and BEGIN
// IMMEDIATE so a transaction takes the write lock up front rather than failing on upgrade.
// journal_size_limit truncates the WAL back to 64 MiB after checkpoints that emptied it, so a burst of
// writes does not leave a large file behind.
//
// wal_autocheckpoint(0): no connection checkpoints when it commits — a server's store checkpoints in the
// background instead (checkpointLoop), so copying the WAL back into the database is never done by a
// writer while it holds the write lock. A process without that loop (the command line) still
// checkpoints when its last connection closes, as SQLite always does.
const sqliteParams = "_busy_timeout=5000&_foreign_keys=on&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate&_pragma=journal_size_limit(67108864)&_pragma=wal_autocheckpoint(0)"

// checkpointEvery is how often a SQLite store copies its WAL back into the database.
const checkpointEvery = 100 * time.Millisecond

// DefaultPostgresMaxConns bounds one instance's PostgreSQL connections unless Options says otherwise (the
// server allows 100 by default).
const DefaultPostgresMaxConns = 20

// Options tune OpenWith. The zero value is the default for each database.
type Options struct {
	// MaxOpenConns bounds the connection pool. 0: DefaultPostgresMaxConns on PostgreSQL; on SQLite, no
	// bound (database/sql's default). An in-memory SQLite database always has exactly one connection.
	MaxOpenConns int
	// MaxIdleConns is how many idle connections the pool keeps open, at most MaxOpenConns. 0: as many as
	// MaxOpenConns on PostgreSQL (and on SQLite when MaxOpenConns is set); otherwise database/sql's 2.
	MaxIdleConns int
	// StartupWait is how long OpenWith keeps trying to reach PostgreSQL before it gives up; 0: it fails
	// at the first failure. A wrong password, an unknown role or a missing database fail at once all the
	// same: waiting cannot cure them. A SQLite file is opened at once (it is there or it is not).
	StartupWait time.Duration
}

// Store is Latchkey's database. It is safe for concurrent use.
type Store struct {
	db          *sql.DB
	dialect     string
	databaseURL string // only for redacting the password out of errors; never shown
	log         *slog.Logger
	box         atomic.Pointer[secretbox.Box] // set by ApplySecretKey; nil: keys are stored unencrypted

	// stmts caches each query's prepared statement (SQLite: parsing a statement cost more than running
	// it) and, on PostgreSQL, its rebound text (pgx keeps its own per-connection statement cache).
	stmts     sync.Map // query text -> *sql.Stmt (SQLite) or string (PostgreSQL)
	stmtCount atomic.Int32
	hooks     atomic.Pointer[Hooks] // told about ended sessions and changed users; nil: nobody

	singleConn bool // the pool has one connection (SQLite :memory:)

	// writeMu makes this process's SQLite writers queue in Go, one at a time, instead of colliding on
	// SQLite's write lock: a writer that finds it taken sleeps in SQLite's busy handler (1, 2, 5 … 100
	// ms at a time), which under concurrent log-ins made the slowest ones wait hundreds of milliseconds.
	// Unused on PostgreSQL.
	writeMu sync.Mutex

	stopCheckpoints func() // ends checkpointLoop and waits for it; nil: none runs
}

// maxCachedStatements bounds the statement cache; every query in this package is a constant, so this is
// only a guard against one built from data.
const maxCachedStatements = 512

// Open is OpenWith with the default Options: the database's pool sizes, and no waiting.
func Open(ctx context.Context, databaseURL string, log *slog.Logger) (*Store, error) {
	return OpenWith(ctx, databaseURL, log, Options{})
}

// OpenWith connects to databaseURL — "sqlite:PATH" (also "sqlite::memory:") or "postgres://…" /
// "postgresql://…" — checks the connection (waiting up to opts.StartupWait for PostgreSQL to answer,
// with a line in log at most every few seconds meanwhile) and applies any pending migrations. A SQLite
// database file is created readable and writable by its owner only (0600), whatever the umask, and an
// existing one that is more open is restricted to 0600: it holds the provider's private keys. SQLite
// gives the WAL and shared-memory files it creates the database file's permissions. No error or log
// line shows the database password.
func OpenWith(ctx context.Context, databaseURL string, log *slog.Logger, opts Options) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	driverName, dsn, dialect, err := parseDatabaseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	if dialect == DialectSQLite {
		if err := restrictSQLiteFiles(dsn); err != nil {
			return nil, fmt.Errorf("store: cannot open sqlite database: %w", err)
		}
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: cannot open %s database: %w", dialect, redact(err, databaseURL))
	}
	setPool(db, dialect, dsn, opts)
	if dialect == DialectPostgres {
		err = startup.Wait(ctx, "the database at "+DisplayURL(databaseURL), opts.StartupWait, func(ctx context.Context) error {
			return postgresStartupError(redact(db.PingContext(ctx), databaseURL))
		}, log)
	} else {
		err = db.PingContext(ctx)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: cannot open %s database: %w", dialect, redact(err, databaseURL))
	}
	s := &Store{db: db, dialect: dialect, databaseURL: databaseURL, log: log, singleConn: dialect == DialectSQLite && strings.HasPrefix(dsn, ":memory:?")}
	if dialect == DialectSQLite && !s.singleConn {
		s.startCheckpoints()
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("store: cannot migrate %s database: %w", dialect, redact(err, databaseURL))
	}
	return s, nil
}

// setPool sizes db's connection pool (see Options).
func setPool(db *sql.DB, dialect, dsn string, opts Options) {
	switch {
	case dialect == DialectSQLite && strings.HasPrefix(dsn, ":memory:?"):
		// Every connection to :memory: is a separate database: keep exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
	case dialect == DialectPostgres:
		// database/sql keeps 2 idle connections by default: under concurrent requests every other query
		// would open (and fork) a new server connection. Keep a bounded, warm pool instead.
		open := opts.MaxOpenConns
		if open <= 0 {
			open = DefaultPostgresMaxConns
		}
		idle := opts.MaxIdleConns
		if idle <= 0 || idle > open {
			idle = open
		}
		db.SetMaxOpenConns(open)
		db.SetMaxIdleConns(idle)
		db.SetConnMaxIdleTime(5 * time.Minute)
	default: // a SQLite file: no bound on connections unless told, and enough idle ones to keep each
		// connection's prepared statements warm (database/sql keeps only 2 by default)
		db.SetMaxIdleConns(sqliteIdleConns)
		if opts.MaxOpenConns > 0 {
			db.SetMaxOpenConns(opts.MaxOpenConns)
			db.SetMaxIdleConns(opts.MaxOpenConns)
		}
		if opts.MaxIdleConns > 0 {
			db.SetMaxIdleConns(opts.MaxIdleConns) // database/sql caps it at the open bound
		}
	}
}

// sqliteIdleConns is how many idle SQLite connections are kept unless LATCHKEY_DB_MAX_IDLE_CONNS says.
const sqliteIdleConns = 8

// postgresStartupError marks the failures that waiting for PostgreSQL cannot cure as permanent: the
// server answered and refused us for good (SQLSTATE class 28: a wrong password or an unknown role;
// 3D000: the database does not exist), or its TLS certificate was not accepted. Everything else — a refused or timed-out connection, a host name
// that does not resolve yet, "the database system is starting up" (57P03), too many connections
// (53300) — is worth waiting for.
func postgresStartupError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000") {
		return startup.Permanent(err)
	}
	if startup.CertificateRejected(err) {
		return startup.Permanent(fmt.Errorf("the server's TLS certificate is not trusted (for a private CA, add sslrootcert=PATH to LATCHKEY_DATABASE_URL): %w", err))
	}
	return err
}

// DisplayURL is a PostgreSQL URL as logs and errors may show it: scheme, host, port and database name,
// without the user, password, query (which may hold a password) or fragment. A URL that does not parse
// as scheme://host/… is not shown at all.
func DisplayURL(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "(the configured URL, not shown)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// parseDatabaseURL maps a database URL to a database/sql driver name and DSN.
func parseDatabaseURL(databaseURL string) (driverName, dsn, dialect string, err error) {
	if path, ok := strings.CutPrefix(databaseURL, "sqlite:"); ok {
		if rest, ok := strings.CutPrefix(path, "//"); ok {
			path = rest // sqlite:///abs/path.db
		}
		switch {
		case path == "":
			return "", "", "", errors.New("store: sqlite database URL has no path (want sqlite:PATH)")
		case strings.ContainsAny(path, "?#"):
			return "", "", "", errors.New("store: sqlite database path must not contain '?' or '#'")
		}
		return "sqlite", path + "?" + sqliteParams, DialectSQLite, nil
	}
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		return "pgx", databaseURL, DialectPostgres, nil
	}
	scheme, _, found := strings.Cut(databaseURL, ":")
	if !found || strings.ContainsAny(scheme, "/@") {
		return "", "", "", errors.New("store: database URL has no scheme (want sqlite:PATH or postgres://…)")
	}
	return "", "", "", fmt.Errorf("store: unknown database URL scheme %q (want sqlite or postgres)", scheme)
}

// sqliteFileMode is the mode of the SQLite database file and of its -wal and -shm files.
const sqliteFileMode os.FileMode = 0o600

// restrictSQLiteFiles creates the database file of a SQLite DSN with mode 0600 if it does not exist, and
// takes group and other permissions away from it and from its -wal and -shm files if they have any.
// An in-memory database has no files.
func restrictSQLiteFiles(dsn string) error {
	path, _, _ := strings.Cut(dsn, "?")
	path = strings.TrimPrefix(path, "file:")
	if path == "" || path == ":memory:" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, sqliteFileMode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(name)
		if errors.Is(err, os.ErrNotExist) && name != path {
			continue
		}
		if err != nil {
			return err
		}
		if info.Mode().Perm()&^sqliteFileMode != 0 {
			if err := os.Chmod(name, sqliteFileMode); err != nil {
				return fmt.Errorf("restricting %s to mode 0600 (it holds private keys): %w", name, err)
			}
		}
	}
	return nil
}

// redactedError hides the database password should a driver ever quote the URL in an error.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err (nil for nil), or a copy whose message has the password from databaseURL masked
// out.
func redact(err error, databaseURL string) error {
	if err == nil {
		return nil
	}
	u, perr := url.Parse(databaseURL)
	if perr != nil {
		return err
	}
	msg := err.Error()
	changed := false
	secrets := []string{u.Query().Get("password")}
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	for _, secret := range secrets {
		if len(secret) > 0 && strings.Contains(msg, secret) {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// Close closes the database and its prepared statements.
func (s *Store) Close() error {
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
	}
	s.stmts.Range(func(_, v any) bool {
		if stmt, ok := v.(*sql.Stmt); ok {
			_ = stmt.Close()
		}
		return true
	})
	return s.db.Close()
}

// startCheckpoints runs checkpointLoop until Close.
func (s *Store) startCheckpoints() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.checkpointLoop(ctx)
	}()
	s.stopCheckpoints = func() {
		cancel()
		<-done
	}
}

// checkpointLoop copies committed WAL frames back into the SQLite database every checkpointEvery, instead
// of the writer whose commit crosses a threshold (PASSIVE: it waits for no reader, and does what it can).
// The WAL starts over from its beginning once a checkpoint has caught up; journal_size_limit then
// truncates it.
func (s *Store) checkpointLoop(ctx context.Context) {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Between writes (this process's writers wait): a checkpoint racing a stream of commits never
		// catches up, and the WAL would grow without end; one that has the WAL to itself copies every
		// frame, and the next writer starts the WAL over. Copying 100 ms of commits at once also writes a
		// page changed by many of them once.
		var busy, logFrames, checkpointed int
		s.writeMu.Lock()
		err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &checkpointed)
		s.writeMu.Unlock()
		switch {
		case err != nil && ctx.Err() == nil:
			if failures++; failures == 1 || failures%600 == 0 { // once, then once a minute
				s.log.Warn("SQLite WAL checkpoint failed", "err", err, "failures", failures)
			}
		case err == nil:
			failures = 0
		}
	}
}

// Ping checks that the database answers. Its error never holds the database password.
func (s *Store) Ping(ctx context.Context) error { return redact(s.db.PingContext(ctx), s.databaseURL) }

// Dialect is DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

// DB is the underlying connection pool, for health checks and tests.
func (s *Store) DB() *sql.DB { return s.db }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rebind turns the "?" placeholders every query is written with into PostgreSQL's "$1…$n". No query
// in this package has a "?" inside a string literal.
func (s *Store) rebind(query string) string {
	if s.dialect != DialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// prepared returns query's cached prepared statement for q (SQLite), or nil to run the text as it is.
// A statement prepared on the pool is re-prepared by database/sql at most once per connection; inside a
// transaction it is bound to the transaction's connection.
func (s *Store) prepared(ctx context.Context, q querier, query string) *sql.Stmt {
	if s.dialect != DialectSQLite {
		return nil
	}
	var stmt *sql.Stmt
	if v, ok := s.stmts.Load(query); ok {
		stmt = v.(*sql.Stmt)
	} else {
		if _, inTx := q.(*sql.Tx); s.stmtCount.Load() >= maxCachedStatements || (inTx && s.singleConn) {
			return nil // (preparing on the pool would wait for the one connection the transaction holds)
		}
		prepared, err := s.db.PrepareContext(ctx, query)
		if err != nil {
			return nil // the plain call reports the error
		}
		v, loaded := s.stmts.LoadOrStore(query, prepared)
		if loaded {
			_ = prepared.Close()
		} else {
			s.stmtCount.Add(1)
		}
		stmt = v.(*sql.Stmt)
	}
	if tx, ok := q.(*sql.Tx); ok {
		return tx.StmtContext(ctx, stmt)
	}
	return stmt
}

// text is query as the database wants it: "?" rebound to "$n" on PostgreSQL, remembered per query.
func (s *Store) text(query string) string {
	if s.dialect != DialectPostgres {
		return query
	}
	if v, ok := s.stmts.Load(query); ok {
		return v.(string)
	}
	rebound := s.rebind(query)
	if s.stmtCount.Load() < maxCachedStatements {
		if _, loaded := s.stmts.LoadOrStore(query, rebound); !loaded {
			s.stmtCount.Add(1)
		}
	}
	return rebound
}

func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	if s.dialect == DialectSQLite && q == querier(s.db) { // a write outside a transaction (inTx holds the lock)
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	if stmt := s.prepared(ctx, q, query); stmt != nil {
		return stmt.ExecContext(ctx, args...)
	}
	return q.ExecContext(ctx, s.text(query), args...)
}

func (s *Store) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	if stmt := s.prepared(ctx, q, query); stmt != nil {
		return stmt.QueryRowContext(ctx, args...)
	}
	return q.QueryRowContext(ctx, s.text(query), args...)
}

func (s *Store) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	if stmt := s.prepared(ctx, q, query); stmt != nil {
		return stmt.QueryContext(ctx, args...)
	}
	return q.QueryContext(ctx, s.text(query), args...)
}

// inTx runs fn in a transaction, committing if it returns nil and rolling back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.dialect == DialectSQLite { // every transaction here writes (BEGIN IMMEDIATE): one at a time
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// uniqueViolation reports whether err is a primary-key or unique constraint violation, with a
// description naming the constraint (PostgreSQL) or the table.column (SQLite).
func uniqueViolation(err error) (detail string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName, pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		code := sqErr.Code()
		return sqErr.Error(), code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || code == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return "", false
}

// millis is t as unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

// nullMillis is t as unix milliseconds, or NULL for the zero time.
func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// nullString is s, or NULL when it is empty.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// fromMillis is the UTC time of unix milliseconds ms.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// fromNullMillis is fromMillis, or the zero time for NULL.
func fromNullMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return fromMillis(ms.Int64)
}
