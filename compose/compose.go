// Package compose loads compose files written for `docker stack deploy` into
// drover's domain types (cluster.Stack).
//
// Parsing, merging of several files, ${VAR} interpolation, .env, env_file,
// extends and include are compose-go's (github.com/compose-spec/compose-go/v2);
// this package reads and decodes the files itself (UTF-8 with or without BOM,
// UTF-16 with BOM, CRLF line ends), maps compose-go's model onto
// cluster.Service, and reports every key drover does not honour as one
// Warning, the way `docker stack deploy` prints "Ignoring unsupported
// options". Nothing is printed: compose-go's own log lines are captured and
// returned as warnings too (see logs.go).
package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover-sh/drover/cluster"
)

// Options says what to load.
type Options struct {
	// Files are the compose files (-c), merged in order. "-" reads standard input.
	Files []string
	// StackName is required: [a-zA-Z0-9][a-zA-Z0-9_.-]*, as docker validates it.
	StackName string
	// WorkingDir resolves relative paths (bind mounts, env_file, extends) and
	// holds the .env file. Default: the directory of the first file.
	WorkingDir string
	// Environ is the environment for ${VAR} interpolation, KEY=VALUE as
	// os.Environ() returns it. It takes precedence over WorkingDir/.env.
	Environ []string
	// Build maps the services' build: sections into Stack.Builds (stack
	// deploy --build). Without it a service with build: runs its image:
	// as it is, and one without image: is refused.
	Build bool
}

// Warning is something of the compose files that drover ignores or treats
// differently from Swarm. Loading goes on.
type Warning struct {
	File    string // the compose file the key comes from, when known
	Service string // compose service name, when the warning is about one
	Key     string // dotted compose key, e.g. "deploy.endpoint_mode"
	Message string
}

// String renders the warning for a terminal, e.g.
// "compose.yml: service web: key cpu_shares is not supported by drover (ignored)".
func (w Warning) String() string {
	var b strings.Builder
	if w.File != "" {
		b.WriteString(w.File)
		b.WriteString(": ")
	}
	if w.Service != "" {
		b.WriteString("service ")
		b.WriteString(w.Service)
		b.WriteString(": ")
	}
	b.WriteString(w.Message)
	return b.String()
}

// nameRE is what docker accepts as a stack name, and what drover accepts as a
// service name (both end up in container names, which docker restricts to it).
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Load reads, merges and interpolates the compose files and maps them onto a
// cluster.Stack. Warnings list what drover ignores; an error means the stack
// cannot be deployed as written.
func Load(ctx context.Context, opts Options) (*cluster.Stack, []Warning, error) {
	l, err := load(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	c := &converter{
		stack:     opts.StackName,
		project:   l.project,
		p:         l.p,
		raws:      l.raws,
		sources:   l.sources,
		withBuild: opts.Build,
		env:       l.env,
	}
	for _, msg := range l.logged {
		c.warnings = append(c.warnings, Warning{Message: msg})
	}
	st, err := c.convert()
	if err != nil {
		return nil, nil, err
	}
	return st, c.warnings, nil
}

// loaded is what compose-go made of the files.
type loaded struct {
	p       *types.Project
	project string        // the project name compose-go was given
	raws    []rawFile     // the files as plain YAML, to attribute warnings
	sources []sourceFile  // the files as text, to place problems
	logged  []string      // what compose-go logged
	env     types.Mapping // the environment the files were read with
}

func load(ctx context.Context, opts Options) (*loaded, error) {
	if opts.StackName == "" {
		return nil, errors.New("stack name is required")
	}
	if !nameRE.MatchString(opts.StackName) {
		return nil, fmt.Errorf("invalid stack name %q: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*", opts.StackName)
	}
	if len(opts.Files) == 0 {
		return nil, errors.New("no compose file given")
	}

	files := make([]types.ConfigFile, len(opts.Files))
	l := &loaded{raws: make([]rawFile, len(opts.Files)), sources: make([]sourceFile, len(opts.Files))}
	for i, name := range opts.Files {
		content, err := readComposeFile(name)
		if err != nil {
			return nil, err
		}
		files[i] = types.ConfigFile{Filename: name, Content: content}
		l.raws[i] = parseRaw(name, content)
		l.sources[i] = sourceFile{name: name, content: content}
	}

	workingDir := opts.WorkingDir
	if workingDir == "" {
		if opts.Files[0] == "-" {
			workingDir = "."
		} else {
			workingDir = filepath.Dir(opts.Files[0])
		}
	}
	workingDir, err := filepath.Abs(workingDir)
	if err != nil {
		return nil, err
	}

	env, err := environment(opts.Environ, workingDir)
	if err != nil {
		return nil, err
	}
	l.env = env

	// compose-go wants a project name it considers normalised (lowercase, no
	// dots). It is only used to name resources (see resourceName) and as
	// ${COMPOSE_PROJECT_NAME}, which is therefore this lowercased form.
	l.project = loader.NormalizeProjectName(opts.StackName)

	l.logged = captureLogrus(func() {
		l.p, err = loader.LoadWithContext(ctx, types.ConfigDetails{
			WorkingDir:  workingDir,
			ConfigFiles: files,
			Environment: env,
		}, func(o *loader.Options) {
			o.SetProjectName(l.project, true)
			o.Profiles = nil // none active: services with profiles are left out, like docker stack
		})
	})
	if err != nil {
		return nil, explainAll(err, opts.Files, l.sources)
	}
	return l, nil
}

// explainAll turns compose-go's first error into every problem of the
// files, each at its line, when the error is one of structure (YAML or the
// compose schema) that a look at each file can find; other errors are
// reworded as they come.
func explainAll(err error, names []string, files []sourceFile) error {
	msg := err.Error()
	if validatingRE.MatchString(msg) || yamlRE.MatchString(msg) {
		if ps := diagnose(files); len(ps) > 0 {
			return &ProblemsError{Problems: ps, err: err}
		}
	}
	return explain(err, names)
}

// environment is Environ, completed by WorkingDir/.env (Environ wins, as in
// docker compose). The .env file is decoded like the compose files.
func environment(environ []string, workingDir string) (types.Mapping, error) {
	env := types.Mapping{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		env[k] = v
	}
	path := filepath.Join(workingDir, ".env")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return env, nil
	}
	if err != nil {
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			return env, nil
		}
		return nil, err
	}
	text, err := decodeText(path, b)
	if err != nil {
		return nil, err
	}
	dot, err := dotenv.ParseWithLookup(strings.NewReader(string(text)), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return env.Merge(dot), nil
}
