// Package mailtest is an in-process SMTP server for tests (github.com/emersion/go-smtp) that keeps
// every delivered message in memory. Only tests import it.
package mailtest

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one delivered mail.
type Message struct {
	From string
	To   []string
	Data []byte // the message as delivered: headers and body
}

// Server is a running in-process SMTP server.
type Server struct {
	Host string
	Port int

	mu   sync.Mutex
	msgs []Message
	got  chan struct{}
}

// Start starts a server on 127.0.0.1 that accepts mail without authentication; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{got: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	host, port, _ := net.SplitHostPort(l.Addr().String())
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	return s
}

// Messages returns the messages delivered so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits until at least n messages have arrived, or ctx ends; it returns them.
func (s *Server) Wait(ctx context.Context, n int) []Message {
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-ctx.Done():
			return s.Messages()
		}
	}
}

type session struct {
	s    *Server
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *session) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, Message{From: x.from, To: x.to, Data: b.Bytes()})
	x.s.mu.Unlock()
	select {
	case x.s.got <- struct{}{}:
	default:
	}
	return nil
}

// Parts returns the text/plain and text/html parts of a delivered multipart/alternative message,
// decoded; ok is false when it is not one.
func Parts(data []byte) (text, html string, ok bool) {
	return parts(data)
}
