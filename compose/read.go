package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf16"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// readComposeFile reads one compose file ("-" is standard input) and returns
// its text as UTF-8 with LF line ends.
func readComposeFile(name string) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		if st, serr := os.Stat(name); serr == nil && st.IsDir() {
			return nil, fmt.Errorf("%s is a directory, not a compose file", name)
		}
		return nil, err
	}
	return decodeText(name, b)
}

// decodeText turns UTF-8 (with or without BOM) or UTF-16 LE/BE with BOM into
// UTF-8 without BOM, and CRLF (or lone CR) line ends into LF.
func decodeText(name string, b []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		s, err := decodeUTF16(b[2:], false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b = s
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		s, err := decodeUTF16(b[2:], true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b = s
	}
	if !utf8.Valid(b) {
		if bytes.IndexByte(b, 0) >= 0 {
			return nil, fmt.Errorf("%s: looks like UTF-16 without a byte order mark: save it as UTF-8", name)
		}
		return nil, fmt.Errorf("%s: not valid UTF-8: save it as UTF-8", name)
	}
	if bytes.IndexByte(b, '\r') >= 0 {
		b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	}
	return b, nil
}

func decodeUTF16(b []byte, bigEndian bool) ([]byte, error) {
	if len(b)%2 != 0 {
		return nil, errors.New("truncated UTF-16 text (odd number of bytes)")
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			units[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	runes := utf16.Decode(units)
	out := make([]byte, 0, len(runes))
	for _, r := range runes {
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}

// rawFile is one compose file as plain YAML, kept to tell which file a
// warning's key comes from.
type rawFile struct {
	name string
	docs []map[string]any
}

// parseRaw parses content leniently: a file that does not parse here is
// reported by compose-go, with its line.
func parseRaw(name string, content []byte) rawFile {
	rf := rawFile{name: name}
	dec := yaml.NewDecoder(bytes.NewReader(content))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		rf.docs = append(rf.docs, doc)
	}
	return rf
}

// has reports whether the file sets path (map keys from the top).
func (rf rawFile) has(path ...string) bool {
	for _, doc := range rf.docs {
		var cur any = doc
		found := true
		for _, k := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				found = false
				break
			}
			if cur, ok = m[k]; !ok {
				found = false
				break
			}
		}
		if found {
			return true
		}
	}
	return false
}

// fileOf names the file that sets path: the last one in merge order (its
// value wins), else the first one. Keys that come from extends or include
// files are attributed to the first file.
func fileOf(raws []rawFile, path ...string) string {
	for i := len(raws) - 1; i >= 0; i-- {
		if raws[i].has(path...) {
			return raws[i].name
		}
	}
	if len(raws) > 0 {
		return raws[0].name
	}
	return ""
}
