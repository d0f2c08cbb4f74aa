package sshtest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// NewKey returns a fresh ed25519 private key.
func NewKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// Signer wraps key for x/crypto/ssh.
func Signer(t testing.TB, key crypto.PrivateKey) gossh.Signer {
	t.Helper()
	s, err := gossh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// WriteKey writes key to path in OpenSSH format with mode 0600, encrypted
// if passphrase is non-empty, and returns path.
func WriteKey(t testing.TB, path string, key crypto.PrivateKey, passphrase []byte) string {
	t.Helper()
	var block *pem.Block
	var err error
	if len(passphrase) > 0 {
		block, err = gossh.MarshalPrivateKeyWithPassphrase(key, "sshtest", passphrase)
	} else {
		block, err = gossh.MarshalPrivateKey(key, "sshtest")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// KnownHostsLine returns the known_hosts line for key served at addr
// (host:port).
func KnownHostsLine(addr string, key gossh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
}
