package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/mail"
	"github.com/latchkey/latchkey/internal/mailtest"
)

// TestSendRecoveryLink delivers a recovery link mail to an in-process SMTP server: one message from
// the configured address to the person, multipart with a text and an HTML part, each with the link
// and the rules.
func TestSendRecoveryLink(t *testing.T) {
	srv := mailtest.Start(t)
	s := mail.New(config.SMTP{Host: srv.Host, Port: srv.Port, From: "login@example.com"}, "http://localhost:8080/")
	if err := s.SendRecoveryLink(context.Background(), "ada@example.com", "tok_EN-123"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs := srv.Wait(ctx, 1)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "login@example.com" || len(m.To) != 1 || m.To[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	if !strings.Contains(string(m.Data), "Subject: Your Latchkey recovery link") {
		t.Errorf("no subject in\n%s", m.Data)
	}
	text, html, ok := mailtest.Parts(m.Data)
	if !ok {
		t.Fatalf("not multipart/alternative with text and HTML:\n%s", m.Data)
	}
	wantText := "Someone, hopefully you, asked for a link to log in to your Latchkey account without a passkey.\n\n" +
		"Open this link to log in and add a new passkey:\nhttp://localhost:8080/recover/tok_EN-123\n\n" +
		"The link is valid for 15 minutes and works once.\n\n" +
		"If you did not ask for it, ignore this mail: nothing changes.\n"
	if strings.ReplaceAll(text, "\r\n", "\n") != wantText {
		t.Errorf("text part = %q, want %q", text, wantText)
	}
	for _, want := range []string{`href="http://localhost:8080/recover/tok_EN-123"`, "valid for 15 minutes and works once", "If you did not ask for it, ignore this mail"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
}

// TestSendFails: a server that is not there is an error naming it, never a hang.
func TestSendFails(t *testing.T) {
	s := mail.New(config.SMTP{Host: "127.0.0.1", Port: 1, From: "login@example.com"}, "http://localhost:8080")
	err := s.SendRecoveryLink(context.Background(), "ada@example.com", "tok")
	if err == nil || !strings.Contains(err.Error(), "mail: send to 127.0.0.1:1") || strings.Contains(err.Error(), "tok") && strings.Contains(err.Error(), "/recover/tok") {
		t.Errorf("err = %v", err)
	}
}

// TestSendConfirmLink: the sign-up confirmation mail carries its /confirm/ link in both parts.
func TestSendConfirmLink(t *testing.T) {
	srv := mailtest.Start(t)
	s := mail.New(config.SMTP{Host: srv.Host, Port: srv.Port, From: "login@example.com"}, "http://localhost:8080")
	if err := s.SendConfirmLink(context.Background(), "ada@example.com", "tok_C"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs := srv.Wait(ctx, 1)
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), "Subject: Confirm your email address for Latchkey") {
		t.Fatalf("%d messages, want 1 with the confirmation subject", len(msgs))
	}
	text, html, ok := mailtest.Parts(msgs[0].Data)
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if !ok || !strings.Contains(text, "\nhttp://localhost:8080/confirm/tok_C\n") || !strings.Contains(text, "valid for 24 hours and works once") ||
		!strings.Contains(html, `href="http://localhost:8080/confirm/tok_C"`) {
		t.Errorf("parts: ok %v\n%s\n%s", ok, text, html)
	}
}
