package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretKey(t *testing.T) {
	const key = "c2VjcmV0LWtleS10aGF0LWlzLWxvbmctZW5vdWdoLTEyMzQ=" // 48 characters
	const short = "hunter2-hunter2-hunter2"                        // 23 characters
	dir := t.TempDir()
	file := func(name, contents string) string { return writeFile(t, dir, name, contents) }
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Secret   // when there is no error
		errs []string // the error says each of these
	}{
		{"unset", nil, "", nil},
		{"in the environment", map[string]string{"LATCHKEY_SECRET_KEY": key}, key, nil},
		{"in a file, with a newline", map[string]string{"LATCHKEY_SECRET_KEY_FILE": file("key", key+"\n")}, key, nil},
		{"both set", map[string]string{"LATCHKEY_SECRET_KEY": key, "LATCHKEY_SECRET_KEY_FILE": file("both", key)},
			"", []string{"LATCHKEY_SECRET_KEY and LATCHKEY_SECRET_KEY_FILE are both set"}},
		{"too short", map[string]string{"LATCHKEY_SECRET_KEY": short}, "", []string{"LATCHKEY_SECRET_KEY is too short", "at least 32", "openssl rand -base64 32"}},
		{"too short in a file", map[string]string{"LATCHKEY_SECRET_KEY_FILE": file("short", short)},
			"", []string{"LATCHKEY_SECRET_KEY_FILE=", "the key in the file is too short"}},
		{"file missing", map[string]string{"LATCHKEY_SECRET_KEY_FILE": filepath.Join(dir, "missing")}, "", []string{"LATCHKEY_SECRET_KEY_FILE=", "does not exist"}},
		{"file is a directory", map[string]string{"LATCHKEY_SECRET_KEY_FILE": dir}, "", []string{"LATCHKEY_SECRET_KEY_FILE=", "not a regular file"}},
		{"file empty", map[string]string{"LATCHKEY_SECRET_KEY_FILE": file("empty", " \n")}, "", []string{"LATCHKEY_SECRET_KEY_FILE=", "is empty"}},
		{"file too large", map[string]string{"LATCHKEY_SECRET_KEY_FILE": file("large", strings.Repeat(short, 200))}, "", []string{"LATCHKEY_SECRET_KEY_FILE=", "larger than 4096 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.env))
			if len(tc.errs) == 0 {
				if err != nil || c.SecretKey != tc.want {
					t.Fatalf("SecretKey %d bytes, err %v; want %d bytes", len(c.SecretKey), err, len(tc.want))
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 {
				t.Fatalf("err = %v, want one problem", err)
			}
			for _, w := range tc.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), short) {
				t.Errorf("the error quotes the key: %q", err)
			}
			if c.SecretKey != "" {
				t.Error("a refused key was kept")
			}
		})
	}
}

// The secret key never shows up when the configuration is printed.
func TestSecretKeyIsNotPrinted(t *testing.T) {
	const key = "c2VjcmV0LWtleS10aGF0LWlzLWxvbmctZW5vdWdoLTEyMzQ="
	c, err := Load(env(map[string]string{"LATCHKEY_SECRET_KEY": key}))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, c); strings.Contains(got, key) || !strings.Contains(got, "[redacted]") {
			t.Errorf("Sprintf(%s) = %s", verb, got)
		}
	}
	if got := fmt.Sprint(Config{}.SecretKey); got != "" {
		t.Errorf("an empty key prints as %q", got)
	}
}
