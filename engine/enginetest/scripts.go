package enginetest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// The fake does not interpret engine's scripts: it recognises each by its
// $0 and replays, invocation by invocation, the docker commands the script
// runs, with the script's control flow. To notice when engine's script
// changes, it checks that the script still holds exactly the docker
// invocations replayed here; otherwise the run fails with exit 127.

// dCall matches an invocation of the scripts' `d` (docker or sudo docker)
// function.
var dCall = regexp.MustCompile(`(?m)(?:^|[\s(])d [a-z]`)

var scriptInvocations = map[string][]string{
	"drover-observe": {
		`echo '##info'; d info --format '{{json .}}' || exit 3; exit 0`,
		`run info d info --format '{{json .}}'`,
		`ids=$(d ps -aq --no-trunc --filter "label=drover.cluster=$cluster") || return 1`,
		`if [ -n "$ids" ]; then d inspect $ids; else echo '[]'; fi`,
		`run networks d network ls --format '{{.Name}}'`,
		`run volumes d volume ls -q`,
		`run images d images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'`,
		`for n in info containers networks volumes images; do`,
		`if [ "${1:-full}" = info ]; then`,
	},
	"drover-cleanup": {
		`--filter "label=drover.cluster=$cluster" --filter "label=drover.stack=$stack")`,
		`d network rm "$n" >/dev/null && echo "network $n" || rc=1`,
		`$(d volume ls -q --filter "label=drover.cluster=$cluster" --filter "label=drover.stack=$stack")`,
		`d volume rm "$v" >/dev/null && echo "volume $v" || rc=1`,
		`if [ "$vols" = volumes ]; then`,
		`exit $rc`,
	},
}

var scriptCalls = map[string]int{"drover-observe": 7, "drover-cleanup": 4}

// checkedScripts remembers scripts already found to be the known ones.
var checkedScripts sync.Map // name + "\x00" + script → struct{}

func scriptUnknown(x *exec, name, script string) bool {
	key := name + "\x00" + script
	if _, ok := checkedScripts.Load(key); ok {
		return false
	}
	n := len(dCall.FindAllString(script, -1))
	ok := n == scriptCalls[name]
	for _, s := range scriptInvocations[name] {
		if !strings.Contains(script, s) {
			ok = false
		}
	}
	if !ok {
		x.errf("enginetest: the %s script is not the one the fake simulates (it runs %d docker commands): update engine/enginetest", name, n)
		return true
	}
	checkedScripts.Store(key, struct{}{})
	return false
}

// d builds the argv of the scripts' d function.
func d(mode string, args ...string) []string {
	if mode == "sudo" {
		return append([]string{"sudo", "-n", "docker"}, args...)
	}
	return append([]string{"docker"}, args...)
}

// capture runs a docker invocation with stdout captured, as $(...) does.
func (h *Host) capture(x *exec, argv []string) (string, int) {
	var out bytes.Buffer
	sub := *x
	sub.stdout = &out
	code := h.docker(&sub, argv)
	return out.String(), code
}

// observe replays engine's observe script: sh -c SCRIPT drover-observe
// CLUSTER MODE full|info.
func (h *Host) observe(x *exec, script string, params []string) int {
	if scriptUnknown(x, "drover-observe", script) {
		return 127
	}
	if len(params) < 2 {
		x.errf("drover-observe: 2: %d: parameter not set", len(params)+1)
		return 2
	}
	cluster, mode, what := params[0], params[1], "full"
	if len(params) > 2 && params[2] != "" {
		what = params[2]
	}
	io.WriteString(x.stdout, "##info\n")
	if h.docker(x, d(mode, "info", "--format", "{{json .}}")) != 0 {
		return 3
	}
	if what == "info" {
		return 0
	}
	io.WriteString(x.stdout, "##containers\n")
	ids, code := h.capture(x, d(mode, "ps", "-aq", "--no-trunc", "--filter", "label=drover.cluster="+cluster))
	if code != 0 {
		return 4
	}
	if f := strings.Fields(ids); len(f) > 0 {
		if h.docker(x, d(mode, append([]string{"inspect"}, f...)...)) != 0 {
			return 4
		}
	} else {
		io.WriteString(x.stdout, "[]\n")
	}
	io.WriteString(x.stdout, "##networks\n")
	if h.docker(x, d(mode, "network", "ls", "--format", "{{.Name}}")) != 0 {
		return 4
	}
	io.WriteString(x.stdout, "##volumes\n")
	if h.docker(x, d(mode, "volume", "ls", "-q")) != 0 {
		return 4
	}
	io.WriteString(x.stdout, "##images\n")
	if h.docker(x, d(mode, "images", "--no-trunc", "--format", imagesFormat)) != 0 {
		return 4
	}
	return 0
}

// cleanup replays engine's cleanup script: sh -c SCRIPT drover-cleanup
// CLUSTER STACK MODE keep|volumes.
func (h *Host) cleanup(x *exec, script string, params []string) int {
	if scriptUnknown(x, "drover-cleanup", script) {
		return 127
	}
	if len(params) < 4 {
		x.errf("drover-cleanup: 1: %d: parameter not set", len(params)+1)
		return 2
	}
	cluster, stack, mode, vols := params[0], params[1], params[2], params[3]
	rc := 0
	filters := []string{"--filter", "label=drover.cluster=" + cluster, "--filter", "label=drover.stack=" + stack}
	// Networks are listed by ID (-q) or by name (--format '{{.Name}}').
	netList := []string{"-q"}
	switch {
	case strings.Contains(script, `$(d network ls --format '{{.Name}}' --filter`):
		netList = []string{"--format", "{{.Name}}"}
	case !strings.Contains(script, `$(d network ls -q --filter`):
		x.errf("enginetest: the drover-cleanup script lists networks in a way the fake does not simulate: update engine/enginetest")
		return 127
	}
	remove := func(kind string) {
		list := []string{"-q"}
		if kind == "network" {
			list = netList
		}
		out, _ := h.capture(x, d(mode, append(append([]string{kind, "ls"}, list...), filters...)...))
		for _, n := range strings.Fields(out) {
			if _, code := h.capture(x, d(mode, kind, "rm", n)); code == 0 {
				fmt.Fprintf(x.stdout, "%s %s\n", kind, n)
			} else {
				rc = 1
			}
		}
	}
	remove("network")
	if vols == "volumes" {
		remove("volume")
	}
	return rc
}

// load replays engine's load script: gzip -dc | [sudo -n] docker load.
func (h *Host) load(x *exec, script string, params []string) int {
	if !strings.Contains(script, "gzip -dc | sudo -n docker load") || !strings.Contains(script, "gzip -dc | docker load") {
		x.errf("enginetest: the drover-load script is not the one the fake simulates: update engine/enginetest")
		return 127
	}
	mode := ""
	if len(params) > 0 {
		mode = params[0]
	}
	var tarStream io.Reader = bytes.NewReader(nil)
	if x.stdin != nil {
		zr, err := gzip.NewReader(x.stdin)
		if err != nil {
			x.errf("gzip: stdin: not in gzip format")
		} else {
			defer zr.Close()
			tarStream = zr
		}
	}
	sub := *x
	sub.stdin = tarStream
	return h.docker(&sub, d(mode, "load"))
}
