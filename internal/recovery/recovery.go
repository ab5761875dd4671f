// Package recovery is how a person who lost every passkey gets back in: single-use recovery codes
// (argon2id hashes, each with its own salt) and one-time recovery links an operator hands out
// (`latchkey users recover EMAIL`). It decides who may log in; the handlers start the session.
package recovery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/store"
)

// Errors callers branch on.
var (
	// ErrWrongCode is the one answer for an unknown email, a wrong code and a used code.
	ErrWrongCode = errors.New("recovery: wrong email or recovery code")
	// ErrTooMany means too many attempts for this account or from this client: try again later.
	ErrTooMany = errors.New("recovery: too many attempts")
	// ErrLinkUnknown, ErrLinkUsed and ErrLinkExpired say why a recovery link does not work.
	ErrLinkUnknown = errors.New("recovery: unknown recovery link")
	ErrLinkUsed    = errors.New("recovery: recovery link already used")
	ErrLinkExpired = errors.New("recovery: recovery link expired")
	// ErrNoMail means there is no mail server: links cannot be emailed.
	ErrNoMail = errors.New("recovery: no mail server configured")
)

// Code set and link parameters.
const (
	CodesPerSet = 10
	LinkTTL     = 15 * time.Minute
	// MailTimeout bounds the work behind one "Email me a link": looking the address up, making the
	// link and delivering the mail.
	MailTimeout = time.Minute
	// codeAlphabet is Crockford's base32 in lower case: no i, l, o or u, so nothing reads as something
	// else; 12 characters of it are 60 bits.
	codeAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	codeLength   = 12
)

// Argon2id parameters of one code hash: 2 MiB, 1 pass, 1 lane, 32-byte key, 16-byte salt. An attempt
// always hashes CodesPerSet times (dummies stand in for used codes and unknown accounts): one hash is
// about 3 ms here, one attempt about 30–35 ms. Cheap per hash, but a code has 60 random bits, so an
// offline search of a stolen database would still take longer than the universe is old.
const (
	argonTime    = 1
	argonMemory  = 2 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// Store is what recovery reads and writes.
type Store interface {
	UserByEmail(ctx context.Context, email string) (store.User, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	HasRecoveryCodes(ctx context.Context, userID string) (bool, error)
	CreateFirstRecoveryCodes(ctx context.Context, userID string, codes []store.RecoveryCode, now time.Time) error
	ReplaceRecoveryCodes(ctx context.Context, userID string, codes []store.RecoveryCode, now time.Time) error
	UnusedRecoveryCodes(ctx context.Context, userID string) ([]store.RecoveryCode, error)
	UseRecoveryCode(ctx context.Context, userID, id string, now time.Time) error
	CreateRecoveryLink(ctx context.Context, l store.RecoveryLink) error
	RecoveryLinkUser(ctx context.Context, hash []byte, now time.Time) (string, error)
	UseRecoveryLink(ctx context.Context, hash []byte, now time.Time) (string, error)
	CreateEmailConfirmation(ctx context.Context, l store.RecoveryLink) error
	EmailConfirmationUser(ctx context.Context, hash []byte, now time.Time) (string, error)
	ConfirmEmail(ctx context.Context, hash []byte, now time.Time) (string, error)
	EmailConfirmed(ctx context.Context, userID string) (bool, error)
}

// Limiter is a rate limiter per class and client (internal/ratelimit).
type Limiter interface {
	Allow(class, client string) (ok bool, retryAfter time.Duration)
}

// Activity records what happened to an account.
type Activity interface {
	Record(ctx context.Context, userID, kind, detail string)
}

// Activity kinds, in the words the account page shows.
const (
	CodeUsed       = activity.RecoveryCodeUsed
	CodeFailed     = activity.RecoveryCodeRefused
	CodesCreated   = activity.RecoveryCodesCreated
	RecoveredLink  = activity.RecoveredWithLink
	LinkCreated    = activity.RecoveryLinkCreated
	LinkEmailed    = activity.RecoveryLinkEmailed
	classAccount   = "recovery-account"
	classClient    = "recovery-ip"
	classMailTo    = "recovery-mail-account"
	classMailFrom  = "recovery-mail-ip"
	dummyPlaceword = "0000-0000-0000"
)

// Mailer mails one-time recovery links and email confirmation links (internal/mail).
type Mailer interface {
	SendRecoveryLink(ctx context.Context, to, token string) error
	SendConfirmLink(ctx context.Context, to, token string) error
}

// Dependencies of a Service.
type Dependencies struct {
	Store    Store
	Accounts Limiter // per account (canonical email): wrong codes; nil = no limit
	Clients  Limiter // per client IP; nil = no limit
	Activity Activity
	Now      func() time.Time // nil: time.Now
	// Canonical turns a typed email into the form sign-up stored (provider.CleanSignup's).
	Canonical func(email string) (string, bool)
	// Mailer sends emailed recovery links; nil: no mail server, EmailLink answers ErrNoMail.
	Mailer Mailer
	Log    *slog.Logger // failures of emailed links; nil: discarded
}

// Service is account recovery.
type Service struct {
	d         Dependencies
	dummySalt []byte
	dummyHash []byte
	mailing   sync.WaitGroup // emailed links on their way

	// withCodes remembers accounts known to have recovery codes (a set is only ever replaced, never
	// removed), so the home page does not ask the database on every request; bounded, cleared when full.
	mu        sync.Mutex
	withCodes map[string]struct{}
}

// maxKnownWithCodes bounds Service.withCodes.
const maxKnownWithCodes = 100_000

func (s *Service) knownWithCodes(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.withCodes[userID]
	return ok
}

func (s *Service) rememberWithCodes(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.withCodes == nil || len(s.withCodes) >= maxKnownWithCodes {
		s.withCodes = map[string]struct{}{}
	}
	s.withCodes[userID] = struct{}{}
}

// New returns a Service.
func New(d Dependencies) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	return &Service{d: d, dummySalt: salt, dummyHash: hash(dummyPlaceword, salt)}
}

func hash(code string, salt []byte) []byte {
	return argon2.IDKey([]byte(code), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
}

// Normalize turns what a person typed into a code's canonical form: lower case, no spaces or dashes,
// Crockford's look-alikes mapped (o→0, i and l→1), dashed as xxxx-xxxx-xxxx. ok is false when it
// cannot be a code.
func Normalize(typed string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(typed) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		if !strings.ContainsRune(codeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	s := b.String()
	if len(s) != codeLength {
		return "", false
	}
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12], true
}

func newCode() (string, error) {
	b := make([]byte, codeLength)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	out := make([]byte, 0, codeLength+2)
	for i, c := range b {
		if i == 4 || i == 8 {
			out = append(out, '-')
		}
		out = append(out, codeAlphabet[c&31]) // 32 letters: 5 uniform bits of each byte
	}
	return string(out), nil
}

func randomID(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// newSet makes CodesPerSet codes for userID: the plaintext to show and the rows to store.
func (s *Service) newSet(userID string) ([]string, []store.RecoveryCode, error) {
	now := s.d.Now()
	plain := make([]string, 0, CodesPerSet)
	rows := make([]store.RecoveryCode, 0, CodesPerSet)
	for range CodesPerSet {
		code, err := newCode()
		if err != nil {
			return nil, nil, err
		}
		id, err := randomID("rc-", 12)
		if err != nil {
			return nil, nil, err
		}
		salt := make([]byte, saltLen)
		if _, err := rand.Read(salt); err != nil {
			return nil, nil, err
		}
		plain = append(plain, code)
		rows = append(rows, store.RecoveryCode{ID: id, UserID: userID, Salt: salt, Hash: hash(code, salt), CreatedAt: now})
	}
	return plain, rows, nil
}

// FirstCodes makes the first set of recovery codes of userID and returns them to show — exactly once:
// nil when the account already had a set.
func (s *Service) FirstCodes(ctx context.Context, userID string) ([]string, error) {
	if s.knownWithCodes(userID) {
		return nil, nil
	}
	has, err := s.d.Store.HasRecoveryCodes(ctx, userID)
	if err != nil {
		return nil, err
	}
	if has {
		s.rememberWithCodes(userID)
		return nil, nil
	}
	plain, rows, err := s.newSet(userID)
	if err != nil {
		return nil, fmt.Errorf("recovery: new codes: %w", err)
	}
	switch err := s.d.Store.CreateFirstRecoveryCodes(ctx, userID, rows, s.d.Now()); {
	case errors.Is(err, store.ErrRecoveryCodesExist):
		s.rememberWithCodes(userID)
		return nil, nil // another request made them first, and shows them
	case err != nil:
		return nil, err
	}
	s.rememberWithCodes(userID)
	s.record(ctx, userID, CodesCreated, "")
	return plain, nil
}

// NewCodes replaces the recovery codes of userID with a new set (the old set dies) and returns it.
func (s *Service) NewCodes(ctx context.Context, userID string) ([]string, error) {
	plain, rows, err := s.newSet(userID)
	if err != nil {
		return nil, fmt.Errorf("recovery: new codes: %w", err)
	}
	if err := s.d.Store.ReplaceRecoveryCodes(ctx, userID, rows, s.d.Now()); err != nil {
		return nil, err
	}
	s.record(ctx, userID, CodesCreated, "")
	return plain, nil
}

// Redeem checks email and one typed code for a person at client (an IP): on success the code is used
// up and the account returned. An unknown email, a wrong code and a used code all get ErrWrongCode
// after the same work (CodesPerSet argon2id hashes); too many attempts per account (by canonical email,
// so unknown addresses are limited alike) or per client get ErrTooMany before any hashing.
func (s *Service) Redeem(ctx context.Context, client, email, typed string) (store.User, error) {
	canonical, okEmail := s.canonical(email)
	if s.d.Clients != nil {
		if ok, _ := s.d.Clients.Allow(classClient, client); !ok {
			return store.User{}, ErrTooMany
		}
	}
	if s.d.Accounts != nil {
		if ok, _ := s.d.Accounts.Allow(classAccount, "email:"+canonical); !ok {
			if u, err := s.d.Store.UserByEmail(ctx, canonical); err == nil {
				s.record(ctx, u.ID, CodeFailed, "too many attempts")
			}
			return store.User{}, ErrTooMany
		}
	}
	code, okCode := Normalize(typed)
	if !okCode {
		code = dummyPlaceword
	}
	var u store.User
	var codes []store.RecoveryCode
	var err error
	known := false
	if okEmail {
		u, err = s.d.Store.UserByEmail(ctx, canonical)
		switch {
		case err == nil:
			known = true
			if codes, err = s.d.Store.UnusedRecoveryCodes(ctx, u.ID); err != nil {
				return store.User{}, err
			}
		case !errors.Is(err, store.ErrNotFound):
			return store.User{}, err
		}
	}
	// Always CodesPerSet hashes, whatever is stored, so the time says nothing.
	match := -1
	for i := range CodesPerSet {
		salt, want := s.dummySalt, s.dummyHash
		if i < len(codes) {
			salt, want = codes[i].Salt, codes[i].Hash
		}
		got := hash(code, salt)
		if subtle.ConstantTimeCompare(got, want) == 1 && i < len(codes) && okCode && match < 0 {
			match = i
		}
	}
	if !known {
		return store.User{}, ErrWrongCode
	}
	if match < 0 {
		s.record(ctx, u.ID, CodeFailed, "")
		return store.User{}, ErrWrongCode
	}
	switch err := s.d.Store.UseRecoveryCode(ctx, u.ID, codes[match].ID, s.d.Now()); {
	case errors.Is(err, store.ErrCodeUsed):
		s.record(ctx, u.ID, CodeFailed, "already used")
		return store.User{}, ErrWrongCode
	case err != nil:
		return store.User{}, err
	}
	left := len(codes) - 1
	s.record(ctx, u.ID, CodeUsed, fmt.Sprintf("%d left", left))
	return u, nil
}

func (s *Service) canonical(email string) (string, bool) {
	if s.d.Canonical != nil {
		return s.d.Canonical(email)
	}
	e := strings.ToLower(strings.TrimSpace(email))
	return e, e != ""
}

// CreateLink makes a one-time recovery link token for the account of email, valid LinkTTL. The token
// is returned once; only its SHA-256 is stored. store.ErrNotFound when there is no such account.
func (s *Service) CreateLink(ctx context.Context, email string) (token string, u store.User, err error) {
	if token, u, err = s.newLink(ctx, email); err != nil {
		return "", store.User{}, err
	}
	s.record(ctx, u.ID, LinkCreated, "by an operator")
	return token, u, nil
}

func (s *Service) newLink(ctx context.Context, email string) (token string, u store.User, err error) {
	canonical, ok := s.canonical(email)
	if !ok {
		return "", store.User{}, store.ErrNotFound
	}
	if u, err = s.d.Store.UserByEmail(ctx, canonical); err != nil {
		return "", store.User{}, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", store.User{}, err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	now := s.d.Now()
	sum := sha256.Sum256([]byte(token))
	if err := s.d.Store.CreateRecoveryLink(ctx, store.RecoveryLink{Hash: sum[:], UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(LinkTTL)}); err != nil {
		return "", store.User{}, err
	}
	return token, u, nil
}

// EmailLink mails a one-time recovery link to the account of email, if there is one. It answers at
// once, the same for every address: the look-up, the link and the mail happen in the background
// (bounded by MailTimeout), so neither the answer nor its time says whether the address is
// registered. Too many requests per address (canonical, so unknown ones are limited alike) or per
// client get ErrTooMany; without a mail server, ErrNoMail.
func (s *Service) EmailLink(ctx context.Context, client, email string) error {
	if s.d.Mailer == nil {
		return ErrNoMail
	}
	canonical, ok := s.canonical(email)
	if s.d.Clients != nil {
		if ok, _ := s.d.Clients.Allow(classMailFrom, client); !ok {
			return ErrTooMany
		}
	}
	if s.d.Accounts != nil {
		if ok, _ := s.d.Accounts.Allow(classMailTo, "email:"+canonical); !ok {
			return ErrTooMany
		}
	}
	if !ok {
		return nil
	}
	s.mailing.Add(1)
	go func() {
		defer s.mailing.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), MailTimeout)
		defer cancel()
		token, u, err := s.newLink(ctx, canonical)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return // nobody to mail; the person was told the same as everyone
		case err != nil:
			s.d.Log.ErrorContext(ctx, "emailed recovery link: could not create the link", "err", err)
			return
		}
		if err := s.d.Mailer.SendRecoveryLink(ctx, u.Email, token); err != nil {
			s.d.Log.ErrorContext(ctx, "emailed recovery link: could not send the mail", "user_id", u.ID, "err", err)
			return
		}
		s.d.Log.InfoContext(ctx, "recovery link emailed", "user_id", u.ID)
		s.record(ctx, u.ID, LinkEmailed, "")
	}()
	return nil
}

// Wait waits for the emailed links on their way (tests, and shutdown before the database closes).
func (s *Service) Wait() { s.mailing.Wait() }

// CheckLink says whether token is a usable link, without using it.
func (s *Service) CheckLink(ctx context.Context, token string) error {
	sum := sha256.Sum256([]byte(token))
	_, err := s.d.Store.RecoveryLinkUser(ctx, sum[:], s.d.Now())
	return linkError(err)
}

// UseLink uses token once and returns whose account it opens.
func (s *Service) UseLink(ctx context.Context, token string) (store.User, error) {
	sum := sha256.Sum256([]byte(token))
	id, err := s.d.Store.UseRecoveryLink(ctx, sum[:], s.d.Now())
	if err != nil {
		return store.User{}, linkError(err)
	}
	u, err := s.d.Store.UserByID(ctx, id)
	if err != nil {
		return store.User{}, err
	}
	s.record(ctx, u.ID, RecoveredLink, "")
	return u, nil
}

func linkError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrLinkUnknown
	case errors.Is(err, store.ErrLinkUsed):
		return ErrLinkUsed
	case errors.Is(err, store.ErrLinkExpired):
		return ErrLinkExpired
	}
	return err
}

func (s *Service) record(ctx context.Context, userID, kind, detail string) {
	if s.d.Activity != nil {
		s.d.Activity.Record(ctx, userID, kind, detail)
	}
}
