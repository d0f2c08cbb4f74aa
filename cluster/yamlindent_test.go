package cluster

import "testing"

func TestMisindented(t *testing.T) {
	cases := []struct {
		name      string
		doc       string
		line, col int
		ok        bool
	}{
		{"key under a key with a value", "cluster: c\nssh:\n  user: root\n   port: 22\n", 4, 4, true},
		{"key of a list item off by one", "cluster: c\nhosts:\n  - name: a\n    address: 1.1.1.1\n   role: manager\n", 5, 4, true},
		{"good document", "cluster: c\nssh:\n  user: root\n  port: 22\nhosts:\n  - name: a\n    labels:\n      zone: a\n  - {name: b, address: x}\n", 0, 0, false},
		{"block scalar", "a: |\n  text\n    more text\nb: 1\n", 0, 0, false},
		{"flow mapping over lines", "a: {x: 1,\n      y: 2}\nb: 1\n", 0, 0, false},
		{"nested lists", "a:\n  - - x\n    - y\n  - z\n", 0, 0, false},
		{"comments and blank lines", "a:\n  # note\n\n  b: 1\n", 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line, col, msg, ok := Misindented([]byte(c.doc))
			if ok != c.ok || line != c.line || col != c.col {
				t.Errorf("got %d:%d %v %q, want %d:%d %v", line, col, ok, msg, c.line, c.col, c.ok)
			}
		})
	}
}
