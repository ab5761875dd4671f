package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets this test binary serve as the hello floor server, as the bench binary does: run starts
// os.Executable() with "hello -addr …".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "hello" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := run(ctx, os.Args, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench hello:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestQuickSQLite runs a -quick pass on SQLite: every figure gets a row with a number, and the report is
// written where -out says.
func TestQuickSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts Latchkey (about 10 s); skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	if err := run(ctx, []string{"bench", "-quick", "-modes", "sqlite", "-out", out}, &stdout); err != nil {
		t.Fatalf("run: %v\n%s", err, stdout.String())
	}
	if testing.Verbose() {
		t.Logf("progress:\n%s", stdout.String()[:strings.Index(stdout.String(), "\n# Benchmarks")])
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no report at -out: %v\n%s", err, stdout.String())
	}
	doc := string(b)
	for _, want := range []string{"- Date: ", "- CPU: ", "- Go: go", "- OS: linux", "## SQLite"} {
		if !strings.Contains(doc, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if !strings.Contains(stdout.String(), "## SQLite") {
		t.Errorf("the table was not printed:\n%s", stdout.String())
	}
	number := regexp.MustCompile(`^[0-9][0-9,]*(\.[0-9]+)? (req/s|ms|µs|log-ins/s|B|MB)\b`)
	figures := []string{
		figHomeRPS, figHomeP50, figHomeP99, figFragRPS, figFragP50, figFragP99,
		figCheck, figLogins, figLoginP50, figLoginP99, figPageTotal, figPageFile + "`/`",
		"`/home` p99 with 100 stored sessions", "`/home` p99 with 1,000 stored sessions",
		"RSS with 1,000 sessions and 100 users", figStart,
	}
	rows := map[string][]string{}
	for line := range strings.SplitSeq(doc, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 8 { // | figure | value | floor | ratio | target | met |
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[cells[1]] = cells[2:7]
	}
	for _, f := range figures {
		var found []string
		for name, cells := range rows {
			if strings.HasPrefix(name, f) {
				found = cells
			}
		}
		switch {
		case found == nil:
			t.Errorf("no row for %q", f)
		case !number.MatchString(found[0]):
			t.Errorf("%q has no number: %q", f, found[0])
		}
	}
	for _, f := range []string{figHomeRPS, figFragRPS, figCheck, figLogins} {
		if c := rows[f]; c != nil && !regexp.MustCompile(`[0-9]`).MatchString(c[1]+c[2]) {
			t.Errorf("%q has no floor or ratio: %q", f, c)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", doc)
	}
}
