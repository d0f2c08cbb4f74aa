package ssh

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseJump parses a ProxyJump value: comma-separated hops of the form
// [user@]host[:port], where host may be a bracketed IPv6 address
// ("[fe80::1]:2222") and ssh://[user@]host[:port] URIs are accepted too.
// Hops without a user get defaultUser; hops without a port get 0 (meaning
// DefaultPort), so the caller can still apply ssh_config to each hop.
// "none" and "" yield no hops.
func ParseJump(s string, defaultUser string) ([]Endpoint, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return nil, nil
	}
	var hops []Endpoint
	for _, part := range strings.Split(s, ",") {
		ep, err := parseHop(strings.TrimSpace(part), defaultUser)
		if err != nil {
			return nil, fmt.Errorf("ProxyJump %q: %w", s, err)
		}
		hops = append(hops, ep)
	}
	return hops, nil
}

func parseHop(s, defaultUser string) (Endpoint, error) {
	s = strings.TrimPrefix(s, "ssh://")
	s = strings.TrimSuffix(s, "/")
	ep := Endpoint{User: defaultUser}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		if at == 0 {
			return Endpoint{}, fmt.Errorf("empty user in %q", s)
		}
		ep.User, s = s[:at], s[at+1:]
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Endpoint{}, fmt.Errorf("missing ] in %q", s)
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port[0] != ':' || port == ":" {
				return Endpoint{}, fmt.Errorf("bad port %q after ]", port)
			}
			port = port[1:]
		}
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
		if port == "" {
			return Endpoint{}, fmt.Errorf("empty port in %q", s)
		}
	}
	// Several colons without brackets: a bare IPv6 address, no port.
	if host == "" {
		return Endpoint{}, fmt.Errorf("empty host in %q", s)
	}
	ep.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Endpoint{}, fmt.Errorf("bad port %q", port)
		}
		ep.Port = n
	}
	return ep, nil
}
