package ssh

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// SSHConfig is a parsed ssh_config file (usually ~/.ssh/config), used to
// fill in what the inventory leaves out.
type SSHConfig struct {
	cfg *ssh_config.Config
	// Home replaces "~" and %d in IdentityFile values. LoadSSHConfig sets
	// it to the user's home directory.
	Home string
}

// Resolved is what an ssh_config says about one host alias. Fields the
// file does not set are empty or zero; no OpenSSH defaults (port 22, local
// user) are filled in, so the caller can tell "unset" from "set".
type Resolved struct {
	HostName      string
	User          string
	Port          int
	IdentityFiles []string // expanded: ~, %d, %h, %r, %%
	ProxyJump     string   // raw value for ParseJump; "" also for "none"
}

// LoadSSHConfig parses an ssh_config file.
func LoadSSHConfig(r io.Reader) (*SSHConfig, error) {
	cfg, err := ssh_config.Decode(r)
	if err != nil {
		return nil, err
	}
	if err := checkPorts(cfg); err != nil {
		return nil, err
	}
	home, _ := os.UserHomeDir()
	return &SSHConfig{cfg: cfg, Home: home}, nil
}

// checkPorts rejects non-numeric Port values up front, which the parser
// accepts, so that Resolve never has to drop one silently.
func checkPorts(cfg *ssh_config.Config) error {
	for _, h := range cfg.Hosts {
		for _, n := range h.Nodes {
			kv, ok := n.(*ssh_config.KV)
			if !ok || !strings.EqualFold(kv.Key, "Port") {
				continue
			}
			if p, err := strconv.Atoi(kv.Value); err != nil || p < 1 || p > 65535 {
				return fmt.Errorf("ssh config line %d: bad Port %q", kv.Pos().Line, kv.Value)
			}
		}
	}
	return nil
}

// Resolve looks alias up. As in OpenSSH, the first value found for a
// keyword wins, and IdentityFile accumulates over all matching blocks.
func (c *SSHConfig) Resolve(alias string) Resolved {
	get := func(key string) string {
		v, _ := c.cfg.Get(alias, key) // errors only for malformed Include
		return v
	}
	var r Resolved
	r.HostName = strings.ReplaceAll(get("HostName"), "%h", alias)
	r.User = get("User")
	r.Port, _ = strconv.Atoi(get("Port")) // validated by LoadSSHConfig
	if pj := get("ProxyJump"); !strings.EqualFold(pj, "none") {
		r.ProxyJump = pj
	}
	host := r.HostName
	if host == "" {
		host = alias
	}
	ids, _ := c.cfg.GetAll(alias, "IdentityFile")
	for _, id := range ids {
		if strings.EqualFold(id, "none") {
			continue
		}
		r.IdentityFiles = append(r.IdentityFiles, c.expand(id, host, r.User))
	}
	return r
}

// expand handles the tokens of IdentityFile that matter in practice.
// Unknown %-tokens are left as they are.
func (c *SSHConfig) expand(p, host, user string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = filepath.Join(c.Home, p[1:])
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(c.Home)
		case 'h':
			b.WriteString(host)
		case 'r':
			b.WriteString(user)
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}
