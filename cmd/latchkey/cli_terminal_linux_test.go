package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testlog"
)

// openTerminal opens a pseudo-terminal: what is written to master, the program reads from tty, a real
// terminal. It skips the test where there is none.
func openTerminal(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { _ = master.Close() })
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlock pseudo-terminal: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("pseudo-terminal number: %v", errno)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { _ = tty.Close() })
	go func() { _, _ = io.Copy(io.Discard, master) }() // the terminal's echo
	return master, tty
}

// TestCLIUsersDeleteAsksOnATerminal: on a terminal, users delete shows the account and deletes it only
// when its email address is typed back.
func TestCLIUsersDeleteAsksOnATerminal(t *testing.T) {
	for name, newURL := range cliBackends() {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"LATCHKEY_DATABASE_URL": newURL(t)}
			seedAccounts(t, env["LATCHKEY_DATABASE_URL"])
			deleteTyping := func(typed string) (string, error) {
				master, tty := openTerminal(t)
				if _, err := master.WriteString(typed + "\n"); err != nil {
					t.Fatal(err)
				}
				out := &testlog.Buffer{}
				err := runWith(t.Context(), []string{"latchkey", "-env-file", "", "users", "delete", "grace@example.com"},
					func(k string) string { return env[k] }, tty, out)
				return out.String(), err
			}
			prompt := "This deletes the account grace@example.com (Grace \uFFFD[31mHopper, usr-grace, created 2026-03-01 10:30:00 UTC) " +
				"with its 1 passkey, and logs out its 1 session.\nIt cannot be undone.\nType the account's email address to confirm: "

			out, err := deleteTyping("ada@example.com")
			if want := "users delete: the address typed is not the account's; nothing was deleted"; err == nil || err.Error() != want {
				t.Fatalf("typing another address: %v, want %q", err, want)
			}
			if out != prompt {
				t.Errorf("prompt =\n%q\nwant\n%q", out, prompt)
			}
			if !strings.Contains(cliOK(t, env, "users", "list"), "grace@example.com") {
				t.Fatal("a refused delete deleted the account")
			}

			out, err = deleteTyping("  Grace@Example.COM ")
			if err != nil {
				t.Fatalf("typing the address: %v", err)
			}
			if want := prompt + "Deleted the account grace@example.com (usr-grace): its passkeys are gone and every session of it has ended.\n"; out != want {
				t.Errorf("output =\n%q\nwant\n%q", out, want)
			}
			st, err := store.Open(t.Context(), env["LATCHKEY_DATABASE_URL"], nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = st.Close() }()
			if _, err := st.UserByEmail(t.Context(), "grace@example.com"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the account is still there: %v", err)
			}
		})
	}
}
