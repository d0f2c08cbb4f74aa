package state

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Environment values can be secrets (passwords, tokens): the state file
// holds them sealed with AES-256-GCM, never in clear text. Sealing happens
// at the edge, in the Sealed store (sealed.go) around the backend, so the
// rest of drover works with plain values and spec hashes stay those of the
// plain spec.

// sealPrefix marks a sealed value: drover-sealed:v1:KEYID:BASE64.
const sealPrefix = "drover-sealed:v1:"

// Key seals and opens environment values.
type Key struct {
	aead cipher.AEAD
	id   string
	// mac keys the version digests of secrets; derived from the key, so
	// that it never serves two purposes.
	mac []byte
}

// ErrWrongKey means a value was sealed with another key.
var ErrWrongKey = errors.New("state was sealed with another key")

// NewKey makes a Key from 32 random bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("state key must be 32 bytes, got %d", len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("drover secret version digest v1"))
	return &Key{aead: aead, id: hex.EncodeToString(sum[:4]), mac: m.Sum(nil)}, nil
}

// digest is a keyed digest of a secret's content (16 hex digits): it
// names a version without telling anything about the value.
func (k *Key) digest(data []byte) string {
	m := hmac.New(sha256.New, k.mac)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// ParseKey decodes a key written by EncodeKey (base64).
func ParseKey(s string) (*Key, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("state key is not base64: %w", err)
	}
	return NewKey(raw)
}

// GenerateKey returns a new random key, base64-encoded.
func GenerateKey() string {
	raw := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// ID names the key without revealing it.
func (k *Key) ID() string { return k.id }

func (k *Key) seal(plain string) string {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		panic(err)
	}
	ct := k.aead.Seal(nonce, nonce, []byte(plain), []byte(k.id))
	return sealPrefix + k.id + ":" + base64.RawStdEncoding.EncodeToString(ct)
}

// A value is stored sealed if, and only if, it is a well-formed sealed
// value: the prefix, an 8-hex-digit key ID, a colon and the base64 of at
// least a nonce and a GCM tag. Since this drover seals every value, a plain
// value that happens to look like one (even "drover-sealed:v1:…") is sealed
// like any other and round-trips. Before, values already carrying the
// prefix were stored as they were: those that are not well-formed sealed
// values can only be such plain values, and are read as plain.
func (k *Key) open(v string) (string, error) {
	id, data, ok := sealedParts(v)
	if !ok {
		return v, nil // plain: written before sealing existed, or never a sealed value
	}
	if k == nil {
		return "", fmt.Errorf("%w (key %s): set DROVER_STATE_KEY or state.key_file", ErrWrongKey, id)
	}
	if id != k.id {
		return "", fmt.Errorf("%w: sealed with key %s, this key is %s", ErrWrongKey, id, k.id)
	}
	plain, err := k.aead.Open(nil, data[:k.aead.NonceSize()], data[k.aead.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("sealed value does not open with key %s: %w", k.id, err)
	}
	return string(plain), nil
}

// GCM's standard nonce and tag sizes: the shortest sealed value holds both.
const (
	sealNonceSize = 12
	sealTagSize   = 16
)

// sealedParts splits a well-formed sealed value into its key ID and the
// decoded nonce+ciphertext; false for anything else.
func sealedParts(v string) (id string, data []byte, ok bool) {
	rest, found := strings.CutPrefix(v, sealPrefix)
	if !found {
		return "", nil, false
	}
	id, enc, found := strings.Cut(rest, ":")
	if !found || len(id) != 8 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", nil, false
	}
	data, err := base64.RawStdEncoding.Strict().DecodeString(enc)
	if err != nil || len(data) < sealNonceSize+sealTagSize {
		return "", nil, false
	}
	return id, data, true
}

// SealEnv returns a copy of s whose environment values and secret
// contents are all sealed with k. s must hold plain values (as OpenEnv
// leaves them): a value that looks sealed is sealed again, so that it
// reads back exactly as it was.
func SealEnv(s *State, k *Key) (*State, error) {
	cp, err := clone(s)
	if err != nil {
		return nil, err
	}
	// Every write passes here: the document says which version it needs.
	cp.Format = cp.documentFormat()
	err = eachEnv(cp, func(v string) (string, error) {
		return k.seal(v), nil
	})
	if err != nil {
		return nil, err
	}
	for _, o := range cp.Secrets {
		for i := range o.Versions {
			v := &o.Versions[i]
			if v.Sealed == "" {
				if k == nil {
					return nil, fmt.Errorf("secret %s: sealing needs the state key", o.Name)
				}
				v.Sealed = k.seal(string(v.Data))
			}
			v.Data = nil
		}
	}
	return cp, nil
}

// OpenEnv opens every sealed environment value and secret content of s in
// place. Plain environment values (from a state written before sealing)
// pass through.
func OpenEnv(s *State, k *Key) error {
	if err := eachEnv(s, k.open); err != nil {
		return err
	}
	for _, o := range s.Secrets {
		for i := range o.Versions {
			v := &o.Versions[i]
			if v.Sealed == "" {
				continue
			}
			if _, _, ok := sealedParts(v.Sealed); !ok {
				return fmt.Errorf("secret %s, version %s: the sealed content is damaged", o.Name, v.ID)
			}
			plain, err := k.open(v.Sealed)
			if err != nil {
				return fmt.Errorf("secret %s, version %s: %w", o.Name, v.ID, err)
			}
			v.Data, v.Sealed = []byte(plain), ""
		}
	}
	return nil
}

// HasSealed reports whether s holds sealed values.
func HasSealed(s *State) bool {
	found := false
	eachEnv(s, func(v string) (string, error) {
		_, _, ok := sealedParts(v)
		found = found || ok
		return v, nil
	})
	for _, o := range s.Secrets {
		for _, v := range o.Versions {
			found = found || v.Sealed != ""
		}
	}
	return found
}

func eachEnv(s *State, fn func(string) (string, error)) error {
	for _, st := range s.Stacks {
		for name, svc := range st.Services {
			all := []map[string]string{}
			if svc.Current != nil {
				all = append(all, svc.Current.Container.Env)
			}
			for _, g := range svc.Previous {
				if g.Spec != nil {
					all = append(all, g.Spec.Container.Env)
				}
			}
			for _, env := range all {
				for k, v := range env {
					nv, err := fn(v)
					if err != nil {
						return fmt.Errorf("stack %s, service %s, env %s: %w", st.Name, name, k, err)
					}
					env[k] = nv
				}
			}
		}
	}
	return nil
}

func clone(s *State) (*State, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var cp State
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}
