package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// ciEnv is the runEnv of a job with the given variables and home ("" for
// none), for the inventory text.
func ciEnv(t *testing.T, home, inventory string, vars map[string]string, accept bool) (*runEnv, error) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(p, []byte(inventory), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := cluster.LoadInventory(p, home)
	if err != nil {
		t.Fatal(err)
	}
	e := &runEnv{inv: inv, home: home, accept: accept, stdio: IO{Environ: func(k string) string { return vars[k] }}}
	t.Cleanup(e.close)
	return e, e.secretsFromEnv()
}

const ciInventory = "cluster: c\nssh: {user: deploy}\nhosts:\n  - {name: h1, address: 10.0.0.1}\n"

func TestSSHConfigFromCIVariables(t *testing.T) {
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
	inv := strings.Replace(ciInventory, "{user: deploy}", "{user: deploy, identity_file: /nonexistent/id}", 1)
	e, err := ciEnv(t, "", inv, map[string]string{
		"DROVER_SSH_KEY": key + "\n\n", "DROVER_KNOWN_HOSTS": "10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK",
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := e.sshConfigFor("h1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.IdentityFiles) != 0 || len(cfg.IdentityKeys) != 1 || cfg.IdentityKeys[0].Name != "$DROVER_SSH_KEY" || string(cfg.IdentityKeys[0].PEM) != key+"\n" {
		t.Errorf("identity files %v, keys %+v: want only the variable's key", cfg.IdentityFiles, cfg.IdentityKeys)
	}
	b, err := os.ReadFile(cfg.KnownHostsFile)
	if err != nil || string(b) != "10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK\n" || cfg.KnownHostsName != "$DROVER_KNOWN_HOSTS" || cfg.AcceptNewHostKeys {
		t.Errorf("known_hosts %s %q (%v) name %q accept %v", cfg.KnownHostsFile, b, err, cfg.KnownHostsName, cfg.AcceptNewHostKeys)
	}
	if fi, err := os.Stat(cfg.KnownHostsFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("temp known_hosts mode %v, %v", fi.Mode(), err)
	}
	e.close()
	if _, err := os.Stat(cfg.KnownHostsFile); !os.IsNotExist(err) {
		t.Errorf("temp known_hosts left behind after close: %v", err)
	}
}

// Without HOME nothing falls back on a ~/.ssh relative to the working
// directory: each missing piece is an error naming what to set.
func TestSSHConfigMissingPiecesWithoutHome(t *testing.T) {
	cases := []struct {
		name   string
		vars   map[string]string
		accept bool
		want   string
	}{
		{"no known_hosts", map[string]string{"DROVER_SSH_KEY": "k"}, false, "no known_hosts: set DROVER_KNOWN_HOSTS"},
		{"no key", map[string]string{"DROVER_KNOWN_HOSTS": "x"}, false, "no SSH key: set DROVER_SSH_KEY"},
		{"accept-new with the variable", map[string]string{"DROVER_KNOWN_HOSTS": "x"}, true, "cannot record keys in DROVER_KNOWN_HOSTS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := ciEnv(t, "", ciInventory, c.vars, c.accept)
			if err == nil {
				_, err = e.sshConfigFor("h1")
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want %q", err, c.want)
			}
		})
	}
	// The state key: no generated file in the working directory.
	e, _ := ciEnv(t, "", ciInventory, map[string]string{}, false)
	wd, _ := os.Getwd()
	if _, err := e.stateKey(true); err == nil || !strings.Contains(err.Error(), "set DROVER_STATE_KEY") {
		t.Errorf("state key without HOME: %v", err)
	}
	if _, err := os.Stat(filepath.Join(wd, ".config")); !os.IsNotExist(err) {
		t.Errorf("a .config was created in the working directory")
	}
}
