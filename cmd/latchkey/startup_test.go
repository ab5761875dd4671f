package main

import (
	"net"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testlog"
)

// Start-up against a PostgreSQL that never answers waits LATCHKEY_STARTUP_WAIT, logging what it waits
// for, then fails with one line naming the database (without its password) and the cause.
func TestStartupWaitsForTheDatabaseThenFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	env := map[string]string{
		"LATCHKEY_ADDR":         "127.0.0.1:0",
		"LATCHKEY_DATABASE_URL": "postgres://latchkey:hunter2-start@" + addr + "/latchkey?sslmode=disable",
		"LATCHKEY_STARTUP_WAIT": "1s",
	}
	out := &testlog.Buffer{}
	err = run(t.Context(), []string{"latchkey", "-env-file", ""}, func(k string) string { return env[k] }, out)
	if err == nil {
		t.Fatal("run succeeded without a database")
	}
	msg := err.Error()
	if want := "cannot reach the database at postgres://" + addr + "/latchkey: still failing after waiting 1s: "; !strings.Contains(msg, want) ||
		!strings.Contains(msg, "connection refused") || strings.Contains(msg, "\n") {
		t.Errorf("error = %q, want one line saying %q and the cause", msg, want)
	}
	if !strings.Contains(out.String(), "waiting for the database at postgres://"+addr+"/latchkey") {
		t.Errorf("the log does not say what it waits for:\n%s", out.String())
	}
	if strings.Contains(msg, "hunter2-start") || strings.Contains(out.String(), "hunter2-start") {
		t.Error("the password shows")
	}
}
