package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testlog"
)

// TestUsersRecoverCommand: --help names the command; an unknown address, a missing address and an
// unknown command are refused in words (the link itself is tested in TestBrowserRecovery).
func TestUsersRecoverCommand(t *testing.T) {
	env := map[string]string{"LATCHKEY_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"help", []string{"--help"}, "", "print a one-time recovery link (15 minutes, single use)"},
		{"command help", []string{"users", "recover", "--help"}, "", "Usage: latchkey [-env-file FILE] users recover EMAIL\n"},
		{"unknown address", []string{"users", "recover", "nobody@example.com"}, `no account has the email address "nobody@example.com"`, ""},
		{"no address", []string{"users", "recover"}, `users recover needs EMAIL (see: latchkey users recover --help)`, ""},
		{"unknown command", []string{"sessions", "list"}, `unknown command "sessions list" (see: latchkey sessions --help)`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &testlog.Buffer{}
			err := run(context.Background(), append([]string{"latchkey", "-env-file", ""}, tc.args...), getenv, out)
			if (tc.wantErr == "" && err != nil) || (tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr)) {
				t.Fatalf("run = %v, want %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("output %q lacks %q", out.String(), tc.wantOut)
			}
		})
	}
}
