package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"gopkg.in/yaml.v3"
)

// The inventory is the one file drover writes besides the state: `node
// add`, `node rm` and `state migrate` change it through the typed edits
// below. Each goes through the file's YAML node tree, so comments and key
// order survive, validates the result as LoadInventory would, and replaces
// the file atomically (a refused edit leaves it as it was).

// AddHost appends a host's entry: name, address, role, and the labels and
// SSH user and port when set.
func AddHost(path, home string, h Host) error {
	return editInventory(path, home, func(root *yaml.Node) error {
		hosts := mapGet(root, "hosts")
		if hosts == nil || hosts.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: no hosts list to add %s to", path, h.Name)
		}
		n := &yaml.Node{Kind: yaml.MappingNode}
		mapSet(n, "name", scalar(h.Name))
		mapSet(n, "address", scalar(h.Address))
		mapSet(n, "role", scalar(string(h.Role)))
		if len(h.Labels) > 0 {
			lm := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			keys := make([]string, 0, len(h.Labels))
			for k := range h.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				mapSet(lm, k, scalar(h.Labels[k]))
			}
			mapSet(n, "labels", lm)
		}
		if h.SSH.User != "" || h.SSH.Port != 0 {
			sm := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			if h.SSH.User != "" {
				mapSet(sm, "user", scalar(h.SSH.User))
			}
			if h.SSH.Port != 0 {
				mapSet(sm, "port", scalar(strconv.Itoa(h.SSH.Port)))
			}
			mapSet(n, "ssh", sm)
		}
		hosts.Content = append(hosts.Content, n)
		return nil
	})
}

// RemoveHost removes the named host's entry.
func RemoveHost(path, home, name string) error {
	return editInventory(path, home, func(root *yaml.Node) error {
		hosts := mapGet(root, "hosts")
		if hosts == nil {
			return fmt.Errorf("%s: no hosts list", path)
		}
		var keep []*yaml.Node
		for _, h := range hosts.Content {
			if n := mapGet(h, "name"); n == nil || n.Value != name {
				keep = append(keep, h)
			}
		}
		hosts.Content = keep
		return nil
	})
}

// StateLocation is where an inventory's state section points: the backend
// and, when not empty, its folder on the managers or its local file.
type StateLocation struct {
	Backend string // "local" or "managers"
	Dir     string // managers: state.dir; "" leaves it as it is
	Path    string // local: state.path; "" leaves it as it is
}

// SetStateLocation points the inventory's state section at loc, adding
// the section when missing.
func SetStateLocation(path, home string, loc StateLocation) error {
	return editInventory(path, home, func(root *yaml.Node) error {
		st := mapGet(root, "state")
		if st == nil {
			st = &yaml.Node{Kind: yaml.MappingNode}
			mapSet(root, "state", st)
		}
		mapSet(st, "backend", scalar(loc.Backend))
		if loc.Dir != "" {
			mapSet(st, "dir", scalar(loc.Dir))
		}
		if loc.Path != "" {
			mapSet(st, "path", scalar(loc.Path))
		}
		return nil
	})
}

// editInventory changes an inventory file through its YAML node tree,
// validates the result and replaces the file atomically.
func editInventory(path, home string, edit func(root *yaml.Node) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("%s: not an inventory mapping", path)
	}
	if err := edit(doc.Content[0]); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	enc.Close()
	if _, err := ParseInventory(path, buf.Bytes(), home); err != nil {
		return fmt.Errorf("the edited inventory would not load: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	tmp.Chmod(fi.Mode().Perm())
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	tmp.Close()
	return os.Rename(tmp.Name(), path)
}

// mapGet returns the value node of key in a mapping node, or nil.
func mapGet(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mapSet sets key to value in a mapping node, adding the key at the end
// when missing.
func mapSet(m *yaml.Node, key string, value *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			// Keep a comment written beside the old value.
			value.LineComment = m.Content[i+1].LineComment
			m.Content[i+1] = value
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, value)
}

// scalar makes a string scalar node.
func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
