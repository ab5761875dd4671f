package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// row is one line of a mode's table.
type row struct {
	figure string
	value  string
	floor  string // the floor from the same run, or "—"
	ratio  string // value against the floor, or "—"
	target string // or "—"
	met    string // "✓", "✗" or "—" (no target)
}

// table is one mode's results.
type table struct {
	title   string
	skipped string // why the mode was not measured at all; "" when it was
	rows    []row
	notes   []string
}

// add appends a row; a figure that has a target is met or not, one without shows "—".
func (t *table) add(figure, value, floor, ratio, target string, met bool) {
	m := "—"
	if target != "—" {
		m = mark(met)
	}
	t.rows = append(t.rows, row{figure: figure, value: value, floor: floor, ratio: ratio, target: target, met: m})
}

// missing appends a row for a figure that could not be measured: its target is not met.
func (t *table) missing(figure, target string, err error) {
	t.rows = append(t.rows, row{figure: figure, value: "not measured: " + oneLine(err.Error()), floor: "—", ratio: "—", target: target, met: "✗"})
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// Number formats.

func thousands(n int64) string {
	s := strconv.FormatInt(max(n, -n), 10)
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func perSec(x float64, unit string) string { return thousands(int64(x+0.5)) + " " + unit }

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64) + " ms"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	default:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
}

func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 2, 64) + " µs"
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" }

func times(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) + "×" }

func byteCount(n int) string { return thousands(int64(n)) + " B" }

// sysInfo describes the machine a run is on.
type sysInfo struct {
	date  time.Time
	cpu   string
	cores int
	goVer string
	os    string

	loadStart, loadEnd string // the 1-minute load average when the run started and ended
}

// loadAverage is the 1-minute load average from /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

func readSysInfo() sysInfo {
	s := sysInfo{date: time.Now().UTC(), cpu: "unknown", cores: runtime.NumCPU(), goVer: runtime.Version(), os: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				s.cpu = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				s.os += ", " + strings.Trim(v, `"`)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		s.os += ", kernel " + strings.TrimSpace(string(b))
	}
	return s
}

// readRSS returns the resident set size (VmRSS) of process pid in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// markdownTable renders t's rows as a Markdown table with aligned columns (readable as plain text too).
func markdownTable(t *table) string {
	cells := [][]string{{"Figure", "Value", "Floor (same run)", "Ratio", "Target", "Met"}}
	for _, r := range t.rows {
		cells = append(cells, []string{r.figure, r.value, r.floor, r.ratio, r.target, r.met})
	}
	widths := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			widths[i] = max(widths[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	line := func(c []string) {
		b.WriteString("|")
		for i, s := range c {
			b.WriteString(" " + s + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s)) + " |")
		}
		b.WriteString("\n")
	}
	line(cells[0])
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
	return b.String()
}

// report is the whole of BENCHMARKS.md.
func report(sys sysInfo, o options, tables []*table) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	cmd := strings.TrimSpace("go run ./cmd/bench " + strings.Join(o.args, " "))
	if o.quick {
		fmt.Fprintf(&b, "A `%s` run: short runs and small numbers, for development only; not comparable.\n", cmd)
	} else {
		fmt.Fprintf(&b, "The last run of `task bench`: `%s`.\n", cmd)
	}
	b.WriteString("Every figure is compared with its floor measured in the same run on the same machine; a missed target\nshows ✗.\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", sys.date.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- CPU: %s, %d cores\n", sys.cpu, sys.cores)
	fmt.Fprintf(&b, "- Go: %s\n", sys.goVer)
	fmt.Fprintf(&b, "- OS: %s\n", sys.os)
	fmt.Fprintf(&b, "- Load: %s\n", o.loadNote())
	fmt.Fprintf(&b, "- Machine load average (1 min): %s at the start, %s at the end (other work on the machine lowers every figure; each floor is measured right before its figures)\n", sys.loadStart, sys.loadEnd)
	for _, t := range tables {
		fmt.Fprintf(&b, "\n## %s\n\n", t.title)
		if t.skipped != "" {
			fmt.Fprintf(&b, "**Not measured: %s**\n", t.skipped)
			continue
		}
		b.WriteString(markdownTable(t))
		if len(t.notes) > 0 {
			b.WriteString("\n")
			for _, n := range t.notes {
				fmt.Fprintf(&b, "- %s\n", n)
			}
		}
	}
	b.WriteString("\n## How each figure is measured\n\n")
	for _, n := range methodNotes(o) {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String()
}

func methodNotes(o options) []string {
	return []string{
		"Latchkey is the binary `go build` makes of ./cmd/latchkey, started on a fresh database (a new SQLite file, or a new PostgreSQL schema and Redis key prefix) with rate limits off (`LATCHKEY_RATE_LIMIT=off`), on a free port; the load generator and the floors run on the same machine and share its cores. Each table's floors are measured right before its figures.",
		"`/home`: a session from a real passkey log-in (sign-up, log-in, exchange through the software authenticator); full page, and the htmx fragment (`HX-Request: true`). Floor: a bare net/http hello page in a separate process (`bench hello`), loaded the same way. Latencies go into a preallocated histogram (1.6% buckets).",
		"Session check: in-process (`testing.Benchmark`), the app built by `app.New` as cmd/latchkey builds it, one request at a time: the app's session middleware around a handler that reads the user, with a real session cookie. Floor: verifying a real session JWT (ES256, minted by the app's minter, keys in memory) on every request, the tutorial's way; the ratio is how many times cheaper the session check is.",
		fmt.Sprintf("Log-ins: %d concurrent clients over loopback, each with an account signed up beforehand (not timed), each log-in being begin + finish + exchange (3 requests, new cookies). Floor: the ECDSA P-256 operations of one log-in (the authenticator's signature, the server's verification of it, the JWT's ES256 signature and its verification) on all cores (`testing.Benchmark` with `RunParallel`).", o.loginConc),
		"Login page: a first visit, `GET /` and the stylesheets and scripts it names, each with `Accept-Encoding: gzip` on a new connection; sizes are the response bodies as sent (on the wire: with status line and headers).",
		fmt.Sprintf("Stored sessions: %s users and %s sessions seeded through the store's functions (`seed` in cmd/bench: users with `CreateUserWithPasskey` and `CreateFirstRecoveryCodes` (an empty set: /home reads only the mark), sessions through a `session.Manager` configured like the app's, i.e. the session store's `CreateCtx`; on SQLite in transactions of 2,000, on PostgreSQL 16 at a time with `synchronous_commit=off`, then `VACUUM (ANALYZE)` and `CHECKPOINT` as after any bulk load, so autovacuum does not run during the measurement) while Latchkey runs; `/home` is then loaded with %s of the seeded sessions' cookies in turn, first at %s stored sessions and again at %s with the same shape — all the sessions of as many users, picked at random among all of them — every user having %d sessions both times; the first requests of each session (its first save, its account page read) fall in each measurement alike. RSS is Latchkey's VmRSS after that.",
			thousands(int64(o.usersBig)), thousands(int64(o.sessionsBig)), thousands(int64(o.sessionsSmall)), thousands(int64(o.sessionsSmall)), thousands(int64(o.sessionsBig)), o.sessionsSmall/o.usersSmall),
		"Seeding writes sessions where the app keeps them (`app.SessionStore`): the database with SQLite or PostgreSQL alone; Redis, with the database as the registry, when Redis is configured.",
		fmt.Sprintf("Start to first page: from exec of the binary until `GET /` answers 200 (polled in a tight loop); the median of %d starts: SQLite on a fresh database file each time; PostgreSQL on a fresh schema (every migration runs, once per deployment), and again on that schema once migrated (an instance starting, restarting or joining, which the target is for).", o.startRuns),
	}
}
