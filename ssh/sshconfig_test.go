package ssh

import (
	"reflect"
	"strings"
	"testing"
)

const sampleSSHConfig = `
Host web*
    HostName %h.internal.example
    User deploy
    IdentityFile ~/.ssh/id_web
    ProxyJump bastion

Host db1
    HostName 10.0.0.5
    Port 2222
    IdentityFile %d/keys/%r@%h
    IdentityFile /etc/100%%.key
    User postgres

Host direct
    ProxyJump none

Host *
    IdentityFile ~/.ssh/id_common
    User fallback
`

func TestSSHConfigResolve(t *testing.T) {
	cfg, err := LoadSSHConfig(strings.NewReader(sampleSSHConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Home = "/home/me"
	for alias, want := range map[string]Resolved{
		"web1": {
			HostName:      "web1.internal.example",
			User:          "deploy",
			IdentityFiles: []string{"/home/me/.ssh/id_web", "/home/me/.ssh/id_common"},
			ProxyJump:     "bastion",
		},
		"db1": {
			HostName:      "10.0.0.5",
			User:          "postgres",
			Port:          2222,
			IdentityFiles: []string{"/home/me/keys/postgres@10.0.0.5", "/etc/100%.key", "/home/me/.ssh/id_common"},
		},
		"direct": {User: "fallback", IdentityFiles: []string{"/home/me/.ssh/id_common"}},
	} {
		if got := cfg.Resolve(alias); !reflect.DeepEqual(got, want) {
			t.Errorf("Resolve(%q) =\n %+v\nwant\n %+v", alias, got, want)
		}
	}

	// Nothing set: no built-in defaults leak through.
	empty, err := LoadSSHConfig(strings.NewReader("Host other\n  Port 2200\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := empty.Resolve("x"); !reflect.DeepEqual(got, Resolved{}) {
		t.Errorf("Resolve on unrelated config = %+v, want zero", got)
	}

	if _, err := LoadSSHConfig(strings.NewReader("Host x\n  Port notanumber\n")); err == nil {
		t.Error("invalid port must be an error")
	}
}

func TestParseJump(t *testing.T) {
	for in, want := range map[string][]Endpoint{
		"":                     nil,
		"none":                 nil,
		"bastion":              {{User: "me", Host: "bastion"}},
		"ops@bastion:2222":     {{User: "ops", Host: "bastion", Port: 2222}},
		"a@j1,j2:22, b@j3":     {{User: "a", Host: "j1"}, {User: "me", Host: "j2", Port: 22}, {User: "b", Host: "j3"}},
		"[fe80::1]:2200":       {{User: "me", Host: "fe80::1", Port: 2200}},
		"root@[2001:db8::2]":   {{User: "root", Host: "2001:db8::2"}},
		"2001:db8::3":          {{User: "me", Host: "2001:db8::3"}},
		"ssh://ops@10.0.0.1:7": {{User: "ops", Host: "10.0.0.1", Port: 7}},
	} {
		got, err := ParseJump(in, "me")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseJump(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"host:", "host:99999", "host:x", "[::1", "[::1]x", "@host", "a,,b", ":22"} {
		if _, err := ParseJump(bad, "me"); err == nil {
			t.Errorf("ParseJump(%q) should fail", bad)
		}
	}
}
