// Package mail sends Latchkey's mail (one-time recovery links and email confirmation links) through the configured SMTP server
// with github.com/wneessen/go-mail: plain text plus HTML, both rendered from templ components.
package mail

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/a-h/templ"
	gomail "github.com/wneessen/go-mail"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/config"
)

// Timeout bounds one delivery, from connecting to the last reply.
const Timeout = 30 * time.Second

// Sender mails through one SMTP server.
type Sender struct {
	smtp   config.SMTP
	origin string // the public URL links start with
}

// New returns a Sender for the server c; links start with origin (config.Config.Origin()).
func New(c config.SMTP, origin string) *Sender {
	return &Sender{smtp: c, origin: strings.TrimSuffix(origin, "/")}
}

// SendRecoveryLink mails the one-time recovery link of token to the address to.
func (s *Sender) SendRecoveryLink(ctx context.Context, to, token string) error {
	v := components.RecoveryMailView{Link: s.origin + "/recover/" + token}
	return s.send(ctx, to, components.RecoveryMailSubject, components.RecoveryMailText(v), components.RecoveryMailHTML(v))
}

// SendConfirmLink mails the one-time email confirmation link of token to the address to.
func (s *Sender) SendConfirmLink(ctx context.Context, to, token string) error {
	v := components.RecoveryMailView{Link: s.origin + "/confirm/" + token}
	return s.send(ctx, to, components.ConfirmMailSubject, components.ConfirmMailText(v), components.ConfirmMailHTML(v))
}

func (s *Sender) send(ctx context.Context, to, subject string, text, htmlPart templ.Component) error {
	plain, err := renderText(ctx, text)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	if err := htmlPart.Render(ctx, &body); err != nil {
		return fmt.Errorf("mail: render: %w", err)
	}
	m := gomail.NewMsg()
	if err := m.From(s.smtp.From); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := m.To(to); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	m.Subject(subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(gomail.TypeTextPlain, plain)
	m.AddAlternativeString(gomail.TypeTextHTML, body.String())

	opts := []gomail.Option{gomail.WithPort(s.smtp.Port), gomail.WithTimeout(Timeout)}
	if s.smtp.TLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic)) // STARTTLS when offered
	}
	if s.smtp.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.smtp.Username), gomail.WithPassword(string(s.smtp.Password)))
	}
	c, err := gomail.NewClient(s.smtp.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail: client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("mail: send to %s:%d: %w", s.smtp.Host, s.smtp.Port, err)
	}
	return nil
}

// renderText renders a plain text component: templ escapes text as HTML and puts a space between
// expressions, so unescape and trim each line.
func renderText(ctx context.Context, c templ.Component) (string, error) {
	var b strings.Builder
	if err := c.Render(ctx, &b); err != nil {
		return "", fmt.Errorf("mail: render: %w", err)
	}
	lines := strings.Split(html.UnescapeString(b.String()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.TrimSpace(strings.Join(lines, "\n")) + "\n", nil
}
