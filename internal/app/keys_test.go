package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/latchkey/latchkey/internal/token"
)

// TestKeysReloadedInTheBackground: a rotation stored by someone else (`latchkey keys rotate`) becomes the
// key a running app signs with at its next periodic reread, without a restart.
func TestKeysReloadedInTheBackground(t *testing.T) {
	a, _ := mustStart(t, sqliteURL(t), nil)
	kidOf := func() string {
		tok, _, err := a.Minter().Mint(t.Context(), token.Claims{Subject: "usr-1", SessionID: "ps-1"})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := jws.Parse([]byte(tok))
		if err != nil {
			t.Fatal(err)
		}
		return msg.Signatures()[0].ProtectedHeaders().KeyID()
	}
	old := kidOf()
	rotated, err := token.Rotate(t.Context(), a.Store(), token.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := kidOf(); got != old {
		t.Fatalf("signing with %q before any reread; this test needs the old key %q", got, old)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.ReloadKeys(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for kidOf() != rotated.KID {
		if time.Now().After(deadline) {
			t.Fatalf("still signing with %q 5 s after the rotation, want %q", kidOf(), rotated.KID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
