package imagebuild

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// InlineDockerfile is the name dockerfile_inline gets in a context sent
// to a host.
const InlineDockerfile = ".drover-inline.Dockerfile"

// ignorePattern is one line of a .dockerignore.
type ignorePattern struct {
	re     *regexp.Regexp
	negate bool
}

// readIgnore reads dir/.dockerignore (none: nothing is ignored).
func readIgnore(dir string) ([]ignorePattern, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ignorePattern
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if strings.HasPrefix(line, "!") {
			p.negate, line = true, strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		re, err := globRE(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", filepath.Join(dir, ".dockerignore"), n, err)
		}
		p.re = re
		out = append(out, p)
	}
	return out, sc.Err()
}

// globRE turns a .dockerignore pattern into a regexp of slash paths: "**"
// is any number of directories, "*" and "?" stay within one.
func globRE(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// ignored says whether rel (a slash path in the context) is left out: the
// last pattern matching it or one of its parent directories decides.
func ignored(ps []ignorePattern, rel string) bool {
	out := false
	for _, p := range ps {
		for cur := rel; ; {
			if p.re.MatchString(cur) {
				out = !p.negate
				break
			}
			i := strings.LastIndexByte(cur, '/')
			if i < 0 {
				break
			}
			cur = cur[:i]
		}
	}
	return out
}

// writeContext writes the build context dir as a tar to w, leaving out
// what .dockerignore names (never the Dockerfile), with the inline
// Dockerfile, when there is one, as InlineDockerfile. timeless leaves the
// files' times out (for a digest of the context: a touched file builds
// the same image).
func writeContext(w io.Writer, dir, dockerfile, inline string, timeless bool) error {
	ps, err := readIgnore(dir)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != dockerfile && rel != ".dockerignore" && ignored(ps, rel) {
			if d.IsDir() && !hasNegation(ps) {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		// Owners and times do not change what the build makes.
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if timeless {
			hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("build context %s: %w", dir, err)
	}
	if inline != "" {
		if err := tw.WriteHeader(&tar.Header{Name: InlineDockerfile, Mode: 0o644, Size: int64(len(inline)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, inline); err != nil {
			return err
		}
	}
	return tw.Close()
}

// hasNegation: a "!" pattern may bring back a file under an ignored
// directory, which must then be walked.
func hasNegation(ps []ignorePattern) bool {
	for _, p := range ps {
		if p.negate {
			return true
		}
	}
	return false
}
