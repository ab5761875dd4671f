package verify_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/latchkey/latchkey/internal/token"
	"github.com/latchkey/latchkey/internal/verify"
)

// BenchmarkVerifyES256 is the cost of verifying one session JWT — what a verify-on-every-request design
// (the seed's, and Corbado's tutorial's) pays per request, and what Latchkey pays once per login.
func BenchmarkVerifyES256(b *testing.B) {
	ctx := context.Background()
	m, err := token.NewMinter(ctx, &memKeys{}, token.Options{Issuer: issuer}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := m.Mint(ctx, token.Claims{Subject: "usr-1", Name: "A", Email: "a@example.com", SessionID: "ses-1"})
	if err != nil {
		b.Fatal(err)
	}
	v := verify.New(m, verify.Options{Issuers: []string{issuer}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMintES256 is the cost of issuing one session JWT.
func BenchmarkMintES256(b *testing.B) {
	ctx := context.Background()
	m, err := token.NewMinter(ctx, &memKeys{}, token.Options{Issuer: issuer}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Mint(ctx, token.Claims{Subject: "usr-1", Name: "A", Email: "a@example.com", SessionID: "ses-1"}); err != nil {
			b.Fatal(err)
		}
	}
}
