// Package command wires drover's commands: flags, the logger, the run's
// dependencies (inventory, SSH pool, state store) and rendering. A changing
// command builds a run.Request and calls run.Execute (run.go); the packages
// below never print, and this one decides between people and JSON
// (report.go).
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
)

// Version is set at build time with -ldflags "-X ...command.Version=…".
var Version = "dev"

// Exit codes. CI pipelines branch on them.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2 // --detailed-exitcode: changes were planned or made
	// ExitPending: the run did what it could, but some replicas have no
	// node to go to now (down, drained or paused nodes, ports in use); they
	// are pending and every later run tries them again.
	ExitPending     = 3
	ExitInterrupted = 130
)

// ExitCoder lets a command choose its exit code with or without an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// IO are the process's streams.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Environ        func(string) string
}

// Main runs drover with args and returns the exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	app := NewApp(stdio)
	err := app.RunContext(ctx, interspersed(app, args))
	if err == nil {
		return ExitOK
	}
	code := exitCode(ctx, err)
	if code == ExitInterrupted {
		fmt.Fprintln(stdio.Stderr, "drover: interrupted")
		return ExitInterrupted
	}
	// The whole message, with what callers wrapped around a coded error.
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(stdio.Stderr, "drover: %s\n", msg)
	}
	return code
}

// exitCode is the process's exit code for a command's error.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ExitInterrupted
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitError
}

// jsonOutcome makes a change command print one JSON document on stdout
// with --output json whatever happens: runChange prints the run's result,
// and an error before it (compose files, inventory, flags) gets a document
// with only error and exit_code.
func jsonOutcome(stdio IO, action func(*cli.Context, IO) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		w := &watchWriter{w: stdio.Stdout}
		inner := stdio
		inner.Stdout = w
		err := action(c, inner)
		if err != nil && !w.wrote && c.String("output") == "json" {
			writeJSON(stdio.Stdout, runResult{Error: err.Error(), ExitCode: exitCode(c.Context, err)})
		}
		return err
	}
}

// watchWriter remembers whether anything was written through it.
type watchWriter struct {
	w     io.Writer
	wrote bool
}

func (w *watchWriter) Write(b []byte) (int, error) {
	w.wrote = w.wrote || len(b) > 0
	return w.w.Write(b)
}

// NewApp builds the command tree.
func NewApp(stdio IO) *cli.App {
	app := &cli.App{
		Name:                 "drover",
		Usage:                "agentless, SSH-driven cluster manager for docker",
		Version:              Version,
		HideVersion:          true,
		Reader:               stdio.Stdin,
		Writer:               stdio.Stdout,
		ErrWriter:            stdio.Stderr,
		EnableBashCompletion: true,
		Flags:                globalFlags(),
		ExitErrHandler:       func(*cli.Context, error) {}, // Main decides the exit code
		Commands: []*cli.Command{
			nodeCommand(stdio),
			versionCommand(stdio),
			completionCommand(stdio),
		},
	}
	app.Commands = append(app.Commands, extraCommands(stdio)...)
	return app
}

// extraCommands is where later command groups register; kept as a
// function so the tree is built in one place.
func extraCommands(stdio IO) []*cli.Command {
	return []*cli.Command{
		stackCommand(stdio),
		planCommand(stdio),
		serviceCommand(stdio),
		objectCommand(stdio, cluster.KindConfig),
		objectCommand(stdio, cluster.KindSecret),
		imageCommand(stdio),
		buildCommand(stdio),
		stateCommand(stdio),
		lockCommand(stdio),
		reconcileCommand(stdio),
		applyCommand(stdio),
		ingressCommand(stdio),
		proxyCommand(stdio),
	}
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, Value: "inventory.yaml", EnvVars: []string{"DROVER_INVENTORY"}, Usage: "inventory `FILE`"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", EnvVars: []string{"DROVER_OUTPUT"}, Usage: "result format: table or json"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"DROVER_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "console", EnvVars: []string{"DROVER_LOG_FORMAT"}, Usage: "console (for people) or json (for cron and CI); logs go to stderr"},
		&cli.BoolFlag{Name: "accept-new-host-keys", EnvVars: []string{"DROVER_ACCEPT_NEW_HOST_KEYS"}, Usage: "record keys of hosts not yet in known_hosts (a changed key is always refused)"},
		&cli.IntFlag{Name: "parallel", Value: 32, EnvVars: []string{"DROVER_PARALLEL"}, Usage: "hosts contacted at once"},
		&cli.StringFlag{Name: "ssh-config", EnvVars: []string{"DROVER_SSH_CONFIG"}, Usage: "OpenSSH client config `FILE` (default ~/.ssh/config)"},
		&cli.DurationFlag{Name: "lock-timeout", Value: 0, EnvVars: []string{"DROVER_LOCK_TIMEOUT"}, Usage: "wait this long for the state lock (0: fail at once if held)"},
	}
}

func versionCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print drover's version",
		Action: func(c *cli.Context) error {
			fmt.Fprintln(stdio.Stdout, versionLine())
			return nil
		},
	}
}

// versionLine is `drover version`: the release, the commit it was built
// from (with "+dirty" for uncommitted changes) and the Go toolchain.
func versionLine() string {
	commit, dirty, goVersion := "unknown", "", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	return fmt.Sprintf("drover %s (commit %s%s, %s, %s/%s)", Version, commit, dirty, goVersion, runtime.GOOS, runtime.GOARCH)
}

// newLogger builds the zerolog logger on stderr. Colours only on a
// terminal, and never with NO_COLOR set (no-color.org).
func newLogger(c *cli.Context, w io.Writer, noColor bool) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(c.String("log-level")))
	if err != nil || lvl == zerolog.NoLevel {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: use debug, info, warn or error", c.String("log-level"))
	}
	var out io.Writer
	switch c.String("log-format") {
	case "json":
		out = w
	case "console":
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: noColor || !isTerminal(w)}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: use console or json", c.String("log-format"))
	}
	// Nanoseconds in the JSON (batches of a rolling update are timed from
	// the log), written by a hook rather than by setting zerolog's
	// package-level TimeFieldFormat on every run; the console writer parses
	// the fraction and shows milliseconds.
	return zerolog.New(out).Level(lvl).Hook(timestampHook{}), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// outputFormat validates --output.
func outputFormat(c *cli.Context) (string, error) {
	switch o := c.String("output"); o {
	case "table", "json":
		return o, nil
	default:
		return "", fmt.Errorf("--output %q: use table or json", o)
	}
}

// whoami is user@machine for the audit trail and locks.
func whoami() (string, string) {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host, host
}

// timestampHook stamps every event with the time in RFC 3339 with
// nanoseconds, in the local zone (with its offset) as zerolog stamps it.
type timestampHook struct{}

func (timestampHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().Format(time.RFC3339Nano))
}
