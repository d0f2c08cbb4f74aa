package ssh

import (
	"errors"
	"net"
	"slices"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Why this file exists: a server usually has several host keys (ed25519,
// ecdsa, rsa) and presents the one for the first algorithm in the client's
// list that it supports. x/crypto prefers ecdsa and rsa over ed25519, so a
// host we know by its ed25519 key would present rsa and look like a key
// *mismatch*. Like OpenSSH, we move the algorithms of the keys we know for
// the host to the front of the list.

// knownKeyTypes returns the key types known_hosts holds for addr, in file
// order. It asks the database about a key that cannot match: the "wrong
// key" answer lists the keys it would have accepted.
func knownKeyTypes(db gossh.HostKeyCallback, addr string) []string {
	err := db(addr, probeNetAddr(addr), probeKey{})
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		return nil
	}
	var types []string
	for _, w := range keyErr.Want {
		if !slices.Contains(types, w.Key.Type()) {
			types = append(types, w.Key.Type())
		}
	}
	return types
}

// hostKeyAlgorithms orders the host key algorithms so that those matching
// known key types come first. nil means "use the default order".
func hostKeyAlgorithms(knownTypes []string) []string {
	if len(knownTypes) == 0 {
		return nil
	}
	var algos []string
	for _, t := range knownTypes {
		algos = append(algos, algorithmsForKeyType(t)...)
	}
	// The remaining algorithms follow, so a host whose known key type is
	// gone still negotiates and is then reported as a mismatch.
	rest := append(gossh.SupportedAlgorithms().HostKeys, gossh.KeyAlgoRSA, gossh.CertAlgoRSAv01)
	for _, a := range rest {
		if !slices.Contains(algos, a) {
			algos = append(algos, a)
		}
	}
	return algos
}

// algorithmsForKeyType maps a key type to the signature algorithms that
// make a server present a key of that type.
func algorithmsForKeyType(t string) []string {
	switch t {
	case gossh.KeyAlgoRSA:
		return []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA}
	case gossh.CertAlgoRSAv01:
		return []string{gossh.CertAlgoRSASHA512v01, gossh.CertAlgoRSASHA256v01, gossh.CertAlgoRSAv01}
	}
	return []string{t}
}

// probeKey is a public key that matches no real key.
type probeKey struct{}

func (probeKey) Type() string                          { return "drover-probe" }
func (probeKey) Marshal() []byte                       { return []byte("drover-probe") }
func (probeKey) Verify([]byte, *gossh.Signature) error { return errors.New("probe key") }

// probeNetAddr stands in for the remote address during the probe.
type probeNetAddr string

var _ net.Addr = probeNetAddr("")

func (a probeNetAddr) Network() string { return "tcp" }
func (a probeNetAddr) String() string  { return string(a) }
