package compose

import (
	"io"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// compose-go logs its warnings ("The "FOO" variable is not set. Defaulting to
// a blank string.", "external.name is deprecated", …) through logrus's
// standard logger: the package-level logrus.Warnf and friends, with no way to
// hand it a logger of its own. Left alone they would go to drover's stderr.
//
// So, for the duration of a load only, captureLogrus points the standard
// logger at io.Discard and replaces its hooks with one that collects the
// messages, which Load returns as Warnings; it restores output, level and
// hooks afterwards. This is package state of logrus: loads are serialised by
// logrusMu, and anything else logging through the standard logrus logger at
// the same moment would be swallowed too. drover itself logs with zerolog, so
// nothing else does.
var logrusMu sync.Mutex

type logCollector struct {
	mu   sync.Mutex
	msgs []string
	seen map[string]bool
}

func (c *logCollector) Levels() []logrus.Level { return logrus.AllLevels }

func (c *logCollector) Fire(e *logrus.Entry) error {
	if e.Level > logrus.WarnLevel {
		return nil // info and debug chatter
	}
	msg := strings.TrimSpace(e.Message)
	// compose-go says this once per file per process, which would make
	// warnings depend on what was loaded before; docker stack does not
	// complain about `version` either.
	if strings.Contains(msg, "the attribute `version` is obsolete") {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen[msg] {
		c.seen[msg] = true
		c.msgs = append(c.msgs, msg)
	}
	return nil
}

// captureLogrus runs fn with the standard logrus logger silenced, and returns
// the warnings logged meanwhile, deduplicated, in order.
func captureLogrus(fn func()) []string {
	logrusMu.Lock()
	defer logrusMu.Unlock()

	std := logrus.StandardLogger()
	c := &logCollector{seen: map[string]bool{}}
	prevOut := std.Out
	prevLevel := std.GetLevel()
	prevHooks := std.ReplaceHooks(logrus.LevelHooks{})
	std.AddHook(c)
	std.SetOutput(io.Discard)
	if prevLevel < logrus.WarnLevel {
		std.SetLevel(logrus.WarnLevel)
	}
	defer func() {
		std.SetOutput(prevOut)
		std.SetLevel(prevLevel)
		std.ReplaceHooks(prevHooks)
	}()

	fn()

	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs
}
