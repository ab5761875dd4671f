package config

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LATCHKEY_REDIS_CA_FILE: a PEM file of CAs, taken only with rediss://, refused in plain words otherwise.
func TestRedisCAFile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, contents string) string { return writeFile(t, dir, name, contents) }
	pemBytes, err := os.ReadFile(filepath.Join("testdata", "redis-ca.pem")) // a throwaway test CA's certificate
	if err != nil {
		t.Fatal(err)
	}
	testCAPEM := string(pemBytes)
	ca := file("ca.pem", testCAPEM)
	c, err := Load(env(map[string]string{"LATCHKEY_REDIS_URL": "rediss://cache:6380/0", "LATCHKEY_REDIS_CA_FILE": ca}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisRootCAs == nil || !c.RedisRootCAs.Equal(mustPool(t, testCAPEM)) {
		t.Errorf("RedisRootCAs do not hold exactly the file's CA")
	}
	if c, err := Load(env(map[string]string{"LATCHKEY_REDIS_URL": "rediss://cache:6380/0"})); err != nil || c.RedisRootCAs != nil {
		t.Errorf("without the file: RootCAs %v, err %v; want nil (the system's CAs)", c.RedisRootCAs, err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"plain redis://", map[string]string{"LATCHKEY_REDIS_URL": "redis://cache:6379/0", "LATCHKEY_REDIS_CA_FILE": ca},
			"is set, but LATCHKEY_REDIS_URL does not start with rediss:// (Redis over TLS), so it would not be used"},
		{"no Redis", map[string]string{"LATCHKEY_REDIS_CA_FILE": ca}, "does not start with rediss://"},
		{"missing", map[string]string{"LATCHKEY_REDIS_URL": "rediss://cache:6380/0", "LATCHKEY_REDIS_CA_FILE": filepath.Join(dir, "nope.pem")}, "nope.pem\" does not exist"},
		{"a directory", map[string]string{"LATCHKEY_REDIS_URL": "rediss://cache:6380/0", "LATCHKEY_REDIS_CA_FILE": dir}, "is not a regular file"},
		{"not PEM", map[string]string{"LATCHKEY_REDIS_URL": "rediss://cache:6380/0", "LATCHKEY_REDIS_CA_FILE": file("junk.pem", "hello")},
			"holds no PEM certificate (-----BEGIN CERTIFICATE-----)"},
		{"too large", map[string]string{"LATCHKEY_REDIS_URL": "rediss://cache:6380/0", "LATCHKEY_REDIS_CA_FILE": file("big.pem", strings.Repeat("x", maxCAFileSize+1))},
			"is larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env))
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || !strings.Contains(err.Error(), "LATCHKEY_REDIS_CA_FILE=") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want the one problem %q", err, tc.want)
			}
		})
	}
}

func mustPool(t *testing.T, pemText string) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(pemText)) {
		t.Fatal("no certificate")
	}
	return p
}

// writeFile writes contents to dir/name (mode 0600) and returns its path.
func writeFile(t *testing.T, dir, name, contents string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
