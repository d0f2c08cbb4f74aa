package compose

import (
	"fmt"
	"regexp"
	"strings"
)

// loadError is a compose-go error reworded for drover's users; Unwrap gives
// the original.
type loadError struct {
	msg string
	err error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() error { return e.err }

var (
	// "validating compose.yml: services.web.imagee false schema": the JSON
	// schema's additionalProperties: false, reported by compose-go as the
	// path of the offending key and the failed sub-schema ("false schema").
	unknownKeyRE = regexp.MustCompile(`^validating (.+?): (\S+) false schema$`)
	// "validating compose.yml: services.web.deploy additional properties 'replicass' not allowed"
	unknownKeysRE = regexp.MustCompile(`^validating (.+?): (\S*) ?additional properties (.+) not allowed$`)
	validatingRE  = regexp.MustCompile(`(?s)^validating (.+?): (.*)$`)
	// "failed to parse compose.yml: yaml: line 4, column 11: mapping values are not allowed in this context"
	yamlRE    = regexp.MustCompile(`(?s)^failed to parse (.+?): (?:yaml: )?(.*)$`)
	noImageRE = regexp.MustCompile(`^service "([^"]+)" has neither an image nor a build context specified`)
)

// explain rewords the errors of compose-go that users meet most often so
// that they name the file, the service and the key, and prefixes the others
// with the file names when they name none.
func explain(err error, files []string) error {
	msg := err.Error()
	if m := unknownKeyRE.FindStringSubmatch(msg); m != nil {
		file, path := m[1], m[2]
		parent, key := "top level", path
		if i := strings.LastIndexByte(path, '.'); i >= 0 {
			parent, key = path[:i], path[i+1:]
		}
		return &loadError{unknownKey(file, parent, key), err}
	}
	if m := unknownKeysRE.FindStringSubmatch(msg); m != nil {
		file, parent := m[1], m[2]
		if parent == "" {
			parent = "top level"
		}
		var keys []string
		for _, k := range strings.Split(m[3], ",") {
			keys = append(keys, strings.Trim(strings.TrimSpace(k), "'"))
		}
		return &loadError{unknownKey(file, parent, keys...), err}
	}
	if m := validatingRE.FindStringSubmatch(msg); m != nil {
		return &loadError{fmt.Sprintf("%s: %s", m[1], m[2]), err}
	}
	if m := yamlRE.FindStringSubmatch(msg); m != nil {
		return &loadError{fmt.Sprintf("%s: invalid YAML: %s", m[1], m[2]), err}
	}
	if m := noImageRE.FindStringSubmatch(msg); m != nil {
		return &loadError{noImage(m[1]), err}
	}
	for _, f := range files {
		if strings.Contains(msg, f) {
			return err
		}
	}
	return &loadError{fmt.Sprintf("%s: %s", strings.Join(files, ", "), msg), err}
}

func unknownKey(file, parent string, keys ...string) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", k)
	}
	what := "additional property " + b.String() + " is"
	if len(keys) > 1 {
		what = "additional properties " + b.String() + " are"
	}
	return fmt.Sprintf("%s: %s: %s not allowed (unknown key: misspelt, or not in the compose specification)", file, parent, what)
}

func noImage(service string) string {
	return fmt.Sprintf("service %s: no image (set image:, or build: and deploy with --build)", service)
}
