package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/internal/secretbox"
)

// Errors of a database whose keys are encrypted at rest. Their words are meant for the operator; they
// never contain a key.
var (
	ErrSecretKeyRequired = errors.New("the database's keys are encrypted; set LATCHKEY_SECRET_KEY (or LATCHKEY_SECRET_KEY_FILE) to the key they were encrypted with")
	ErrWrongSecretKey    = errors.New("the database's keys do not decrypt with this LATCHKEY_SECRET_KEY: set the key they were encrypted with (or a stored key was altered or copied from another row)")
)

// keyRow names a row holding a key: what it is for messages, table and id for the AEAD's additional
// data, which binds an encrypted value to its row.
type keyRow struct {
	what, table, id string
}

func signingKeyRow(kid string) keyRow { return keyRow{"signing key", "signing_keys", kid} }
func secretRow(name string) keyRow    { return keyRow{"secret", "secrets", name} }

func (r keyRow) aad() []byte { return []byte(r.table + "\x00" + r.id) }

// seal is value as it is stored in row r: encrypted when a secret key is in use, as is otherwise.
func (s *Store) seal(r keyRow, value []byte) []byte {
	box := s.box.Load()
	if box == nil {
		return value
	}
	return box.Seal(value, r.aad())
}

// open is the plain value of row r stored as stored. Once a secret key is in use every value must be
// encrypted: ApplySecretKey encrypted those stored before, so a plain one was written since, by someone
// without the key.
func (s *Store) open(r keyRow, stored []byte) ([]byte, error) {
	box := s.box.Load()
	switch sealed := secretbox.Sealed(stored); {
	case sealed && box == nil:
		return nil, ErrSecretKeyRequired
	case sealed:
		plain, err := box.Open(stored, r.aad())
		if err != nil {
			return nil, fmt.Errorf("%w (%s %q)", ErrWrongSecretKey, r.what, r.id)
		}
		return plain, nil
	case box != nil:
		return nil, fmt.Errorf("store: %s %q is stored unencrypted although LATCHKEY_SECRET_KEY is set; restart Latchkey to encrypt it", r.what, r.id)
	}
	return stored, nil
}

// ApplySecretKey makes the store encrypt keys with box (nil: store them unencrypted) and checks the
// database against it, in one transaction:
//
//   - with box, every encrypted value must decrypt (else ErrWrongSecretKey), and the values stored
//     unencrypted so far are encrypted in place; encrypted is how many;
//   - without box, the database must hold no encrypted value (else ErrSecretKeyRequired).
//
// Call it once, after Open and before the keys are used.
func (s *Store) ApplySecretKey(ctx context.Context, box *secretbox.Box) (encrypted int, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		encrypted = 0
		rows, err := s.keyRows(ctx, tx)
		if err != nil {
			return err
		}
		for _, kr := range rows {
			if secretbox.Sealed(kr.value) {
				if box == nil {
					return ErrSecretKeyRequired
				}
				if _, err := box.Open(kr.value, kr.aad()); err != nil {
					return fmt.Errorf("%w (%s %q)", ErrWrongSecretKey, kr.what, kr.id)
				}
				continue
			}
			if box == nil {
				continue
			}
			// Compare-and-set: another instance encrypting the same row at the same time keeps its value.
			query := `UPDATE signing_keys SET private_jwk = ? WHERE kid = ? AND private_jwk = ?`
			if kr.table == "secrets" {
				query = `UPDATE secrets SET value = ? WHERE name = ? AND value = ?`
			}
			if _, err := s.exec(ctx, tx, query, box.Seal(kr.value, kr.aad()), kr.id, kr.value); err != nil {
				return fmt.Errorf("store: encrypt %s %q: %w", kr.what, kr.id, err)
			}
			encrypted++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.box.Store(box)
	return encrypted, nil
}

// storedKey is a row holding a key, with its value as stored.
type storedKey struct {
	keyRow
	value []byte
}

// keyRows reads every stored key: signing keys and secrets.
func (s *Store) keyRows(ctx context.Context, q querier) ([]storedKey, error) {
	var out []storedKey
	for _, src := range []struct {
		query string
		row   func(id string) keyRow
	}{
		{`SELECT kid, private_jwk FROM signing_keys ORDER BY kid`, signingKeyRow},
		{`SELECT name, value FROM secrets ORDER BY name`, secretRow},
	} {
		rows, err := s.query(ctx, q, src.query)
		if err != nil {
			return nil, fmt.Errorf("store: read keys: %w", err)
		}
		for rows.Next() {
			var id string
			var value []byte
			if err := rows.Scan(&id, &value); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("store: read keys: %w", err)
			}
			out = append(out, storedKey{keyRow: src.row(id), value: value})
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: read keys: %w", err)
		}
	}
	return out, nil
}
