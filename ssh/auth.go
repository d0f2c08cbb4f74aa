package ssh

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// DefaultIdentityFiles returns those of OpenSSH's default identity files
// (~/.ssh/id_ed25519, id_ecdsa, id_rsa) that exist under home. Config does
// not add them implicitly: a file listed in Config.IdentityFiles must exist.
func DefaultIdentityFiles(home string) []string {
	var files []string
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		p := filepath.Join(home, ".ssh", name)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	return files
}

// credentials are the keys one dial offers to every hop.
type credentials struct {
	signers []gossh.Signer
	sources []string  // human-readable list, for "auth failed" messages
	agent   io.Closer // agent connection; nil without agent
}

func (c *credentials) close() {
	if c.agent != nil {
		c.agent.Close()
	}
}

func (c *credentials) authMethods() []gossh.AuthMethod {
	// One method with all signers: x/crypto tries each method name only
	// once, so a second "publickey" method would never run.
	return []gossh.AuthMethod{gossh.PublicKeys(c.signers...)}
}

// authFailed explains which keys the server refused.
func (c *credentials) authFailed() error {
	return fmt.Errorf("%w: server accepted none of our keys (offered %s)",
		ErrAuthFailed, strings.Join(c.sources, ", "))
}

// gatherCredentials collects agent keys first, then identity files, the
// order OpenSSH uses, skipping duplicates.
func gatherCredentials(cfg Config, keys *keyCache) (*credentials, error) {
	creds := &credentials{}
	seen := make(map[string]bool)
	addSigner := func(s gossh.Signer) bool {
		blob := string(s.PublicKey().Marshal())
		if seen[blob] {
			return false
		}
		seen[blob] = true
		creds.signers = append(creds.signers, s)
		return true
	}

	if cfg.AgentSocket != "" {
		// An unreachable agent is not an error: OpenSSH carries on
		// without it too, and the identity files may be enough.
		if conn, err := net.Dial("unix", cfg.AgentSocket); err == nil {
			signers, err := agent.NewClient(conn).Signers()
			if err != nil {
				conn.Close()
			} else {
				creds.agent = conn
				n := 0
				for _, s := range signers {
					if addSigner(s) {
						n++
					}
				}
				creds.sources = append(creds.sources, fmt.Sprintf("ssh-agent (%d keys)", n))
			}
		}
	}

	for _, path := range cfg.IdentityFiles {
		k := keys.load(path, cfg.Passphrase)
		switch {
		case k.err != nil:
			creds.close()
			return nil, k.err
		case k.encrypted && creds.agent != nil:
			// The agent probably holds the decrypted key; if not, the
			// auth failure message lists what we offered.
			creds.sources = append(creds.sources, tildePath(path)+" (encrypted, skipped)")
		case k.encrypted:
			creds.close()
			return nil, &IdentityError{Path: path, Encrypted: true}
		default:
			if addSigner(k.signer) {
				creds.sources = append(creds.sources, tildePath(path))
			}
		}
	}

	for _, ik := range cfg.IdentityKeys {
		k := keys.loadData(ik, cfg.Passphrase)
		switch {
		case k.err != nil:
			creds.close()
			return nil, k.err
		case k.encrypted:
			creds.close()
			return nil, &IdentityError{Path: ik.Name, Encrypted: true}
		default:
			if addSigner(k.signer) {
				creds.sources = append(creds.sources, ik.Name)
			}
		}
	}

	if len(creds.signers) == 0 {
		creds.close()
		return nil, fmt.Errorf("%w: no usable key: no identity file configured, no DROVER_SSH_KEY and no ssh-agent (SSH_AUTH_SOCK) keys", ErrAuthFailed)
	}
	return creds, nil
}

// keyCache parses each identity file once per Pool: decrypting a
// passphrase-protected key runs bcrypt, which takes ~100ms per call, and a
// fan-out to 200 hosts must not pay that 200 times.
type keyCache struct {
	mu      sync.Mutex
	entries map[keyCacheKey]*keyEntry
}

type keyCacheKey struct {
	path       string
	passphrase [sha256.Size]byte // digest, so the map doesn't hold a copy
}

type keyEntry struct {
	once      sync.Once
	signer    gossh.Signer
	encrypted bool // needs a passphrase we don't have
	err       error
}

func newKeyCache() *keyCache { return &keyCache{entries: make(map[keyCacheKey]*keyEntry)} }

func (c *keyCache) load(path string, passphrase []byte) *keyEntry {
	key := keyCacheKey{path: path, passphrase: sha256.Sum256(passphrase)}
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		e = &keyEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.signer, e.encrypted, e.err = parseIdentity(path, passphrase) })
	return e
}

// loadData is load for a key given by content, cached by its digest.
func (c *keyCache) loadData(ik IdentityKey, passphrase []byte) *keyEntry {
	key := keyCacheKey{path: ik.Name + "\x00" + string(digest(ik.PEM)), passphrase: sha256.Sum256(passphrase)}
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		e = &keyEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.signer, e.encrypted, e.err = parseIdentityData(ik.Name, ik.PEM, passphrase) })
	return e
}

func digest(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}

func parseIdentity(path string, passphrase []byte) (gossh.Signer, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, &IdentityError{Path: path, Err: err}
	}
	return parseIdentityData(path, data, passphrase)
}

// parseIdentityData parses a private key; path names it in errors.
func parseIdentityData(path string, data []byte, passphrase []byte) (gossh.Signer, bool, error) {
	signer, err := gossh.ParsePrivateKey(data)
	var missing *gossh.PassphraseMissingError
	if errors.As(err, &missing) {
		if len(passphrase) == 0 {
			return nil, true, nil
		}
		signer, err = gossh.ParsePrivateKeyWithPassphrase(data, passphrase)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, false, &IdentityError{Path: path, Err: errors.New("wrong passphrase (DROVER_SSH_PASSPHRASE)")}
		}
	}
	if err != nil {
		return nil, false, &IdentityError{Path: path, Err: err}
	}
	return signer, false, nil
}

// isAuthFailure recognises x/crypto's "no method left" handshake error,
// which has no type of its own.
func isAuthFailure(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unable to authenticate")
}
