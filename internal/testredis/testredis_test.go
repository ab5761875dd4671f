package testredis_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testredis"
)

func TestPrefixesDiffer(t *testing.T) {
	_, a := testredis.URL(t)
	_, b := testredis.URL(t)
	if a == b || !strings.HasPrefix(a, "lktest:") || !strings.HasSuffix(a, ":") {
		t.Fatalf("prefixes %q and %q: want two different lktest:<random>: prefixes", a, b)
	}
}
