package ssh

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/ssh/sshtest"
)

// A key given by content (DROVER_SSH_KEY) authenticates like a file, and
// an unusable one is named by its variable, never shown.
func TestAuthIdentityKeyByContent(t *testing.T) {
	env := newTestEnv(t)
	srv, cfg := env.server(t, "h1", echoHandler)
	pem, err := os.ReadFile(sshtest.WriteKey(t, filepath.Join(env.dir, "id_ci"), srv.ClientKey, nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.IdentityFiles = nil
	cfg.IdentityKeys = []IdentityKey{{Name: "$DROVER_SSH_KEY", PEM: pem}}
	dialT(t, cfg)

	cfg.IdentityKeys = []IdentityKey{{Name: "$DROVER_SSH_KEY", PEM: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n")}}
	_, err = Dial(t.Context(), cfg)
	var ide *IdentityError
	if !errors.As(err, &ide) || !strings.Contains(err.Error(), "the key in $DROVER_SSH_KEY") || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("got %v", err)
	}

	enc, _ := os.ReadFile(sshtest.WriteKey(t, filepath.Join(env.dir, "id_enc"), srv.ClientKey, []byte("pw")))
	cfg.IdentityKeys = []IdentityKey{{Name: "$DROVER_SSH_KEY", PEM: enc}}
	if _, err = Dial(t.Context(), cfg); !strings.Contains(fmtErr(err), "$DROVER_SSH_KEY is encrypted: add it to ssh-agent or set DROVER_SSH_PASSPHRASE") {
		t.Fatalf("got %v", err)
	}
	cfg.Passphrase = []byte("pw")
	dialT(t, cfg)
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// known_hosts given by content is strict: an unknown host is refused,
// named by the variable, and accept-new is refused outright.
func TestKnownHostsByName(t *testing.T) {
	env := newTestEnv(t)
	trusted, cfg := env.server(t, "h1", echoHandler)
	cfg.KnownHostsName = "$DROVER_KNOWN_HOSTS"
	dialT(t, cfg)

	other := sshtest.NewServer(t, echoHandler, sshtest.WithClientKey(trusted.ClientKey))
	cfg2 := env.config(t, "h2", other)
	cfg2.KnownHostsName = "$DROVER_KNOWN_HOSTS"
	_, err := Dial(t.Context(), cfg2)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown || !strings.Contains(err.Error(), "is not in $DROVER_KNOWN_HOSTS") || strings.Contains(err.Error(), env.knownHosts) {
		t.Fatalf("got %v", err)
	}
	cfg2.AcceptNewHostKeys = true
	if _, err := Dial(t.Context(), cfg2); err == nil || !strings.Contains(err.Error(), "--accept-new-host-keys cannot record keys in $DROVER_KNOWN_HOSTS") {
		t.Fatalf("got %v", err)
	}
	b, _ := os.ReadFile(env.knownHosts)
	if strings.Count(string(b), "\n") != 1 {
		t.Errorf("known_hosts changed:\n%s", b)
	}
}
