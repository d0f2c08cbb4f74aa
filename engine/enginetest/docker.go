package enginetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drover-sh/drover/engine"
)

// Messages docker prints for an unusable engine.
const (
	msgDaemonDown = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	msgPermission = `permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.47/info": dial unix /var/run/docker.sock: connect: permission denied`
)

// docker runs one docker invocation ("docker ARGS" or "sudo -n docker
// ARGS") and returns its exit status.
func (h *Host) docker(x *exec, argv []string) int {
	sudo := false
	var args []string
	switch {
	case len(argv) >= 3 && argv[0] == "sudo" && argv[1] == "-n" && argv[2] == "docker":
		sudo, args = true, argv[3:]
	case argv[0] == "docker":
		args = argv[1:]
	default:
		x.errf("enginetest: command %q not simulated", strings.Join(argv, " "))
		return 127
	}
	h.mu.Lock()
	locked := true
	defer func() {
		if locked {
			h.mu.Unlock()
		}
	}()
	switch {
	case sudo && h.sudoPass:
		x.errf("sudo: a password is required")
		return 1
	case h.noDocker && sudo:
		x.errf("sudo: docker: command not found")
		return 1
	case h.noDocker:
		x.errf("sh: 1: docker: not found")
		return 127
	}
	if len(args) == 0 {
		x.errf("enginetest: bare docker not simulated")
		return 127
	}
	// The CLI answers without the daemon for `info --format`: the error
	// goes to stderr, the JSON (with ServerErrors) to stdout, exit 0.
	var unusable string
	switch {
	case h.needSudo && !sudo:
		unusable = msgPermission
	case h.daemonDown:
		unusable = msgDaemonDown
	}
	if unusable != "" {
		if args[0] == "info" {
			x.errf("%s", unusable)
			b, _ := json.Marshal(map[string]any{"ID": "", "ServerVersion": "", "ServerErrors": []string{unusable}})
			fmt.Fprintf(x.stdout, "%s\n", b)
			return 0
		}
		x.errf("%s", unusable)
		return 1
	}
	var text string
	if len(h.fail) > 0 {
		text = "docker " + strings.Join(args, " ")
	}
	for i, r := range h.fail {
		if strings.Contains(text, r.pattern) {
			h.fail = append(h.fail[:i:i], h.fail[i+1:]...)
			x.errf("%s", r.stderr)
			return r.code
		}
	}
	switch args[0] {
	case "create":
		return h.create(x, args)
	case "start":
		return h.start(x, args)
	case "stop":
		return h.stop(x, args)
	case "rm":
		return h.rm(x, args)
	case "inspect":
		return h.inspect(x, args)
	case "ps":
		return h.ps(x, args)
	case "info":
		return h.info(x, args)
	case "images":
		return h.imagesCmd(x, args)
	case "image":
		if len(args) > 1 && args[1] == "inspect" {
			return h.imageInspect(x, args[1:])
		}
	case "network":
		if len(args) > 1 {
			switch args[1] {
			case "create":
				return h.networkCreate(x, args[1:])
			case "rm", "remove":
				return h.networkRm(x, args[1:])
			case "ls", "list":
				return h.networkLs(x, args[1:])
			case "connect":
				return h.networkConnect(x, args[1:])
			}
		}
	case "volume":
		if len(args) > 1 {
			switch args[1] {
			case "create":
				return h.volumeCreate(x, args[1:])
			case "rm", "remove":
				return h.volumeRm(x, args[1:])
			case "ls", "list":
				return h.volumeLs(x, args[1:])
			}
		}
	case "pull":
		return h.pull(x, args)
	case "load":
		return h.loadImages(x, args)
	case "logs":
		wait, code := h.logs(x, args)
		if wait != "" {
			h.mu.Unlock()
			locked = false
			h.follow(x, wait)
		}
		return code
	}
	return h.notSimulated(x, args)
}

func (h *Host) notSimulated(x *exec, args []string) int {
	x.errf("enginetest: docker %s not simulated", strings.Join(args, " "))
	return 127
}

// record logs a successful mutation. Called with h.mu held.
func (h *Host) record(args []string, container string) {
	m := Mutation{Host: h.Name, Args: append([]string(nil), args...), Container: container}
	if h.journal != nil {
		m.Seq = h.journal.add(m)
	} else {
		m.Seq = len(h.mutations) + 1
	}
	h.mutations = append(h.mutations, m)
}

// flags is a parsed docker command line.
type flags struct {
	set map[string][]string // canonical flag name → values ("" for booleans)
	pos []string
}

func (f *flags) has(name string) bool { _, ok := f.set[name]; return ok }

func (f *flags) last(name string) string {
	v := f.set[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// flagDef lists a command's flags: "name" or "name|alias"; value flags in
// values, booleans in bools.
type flagDef struct {
	values, bools []string
	// stopAtPositional ends flag parsing at the first positional argument
	// (create: what follows the image is the command).
	stopAtPositional bool
}

func (d flagDef) parse(args []string) (*flags, error) {
	canon := map[string]string{}
	isValue := map[string]bool{}
	add := func(spec string, value bool) {
		names := strings.Split(spec, "|")
		for _, n := range names {
			canon[n] = names[0]
			isValue[n] = value
		}
	}
	for _, s := range d.values {
		add(s, true)
	}
	for _, s := range d.bools {
		add(s, false)
	}
	f := &flags{set: map[string][]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			f.pos = append(f.pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			f.pos = append(f.pos, a)
			if d.stopAtPositional {
				f.pos = append(f.pos, args[i+1:]...)
				break
			}
			continue
		}
		if !strings.HasPrefix(a, "--") && len(a) > 2 && !strings.Contains(a, "=") {
			// Combined boolean shorthands, as pflag allows: -aq = -a -q.
			all := true
			for _, r := range a[1:] {
				n := "-" + string(r)
				if _, ok := canon[n]; !ok || isValue[n] {
					all = false
				}
			}
			if all {
				for _, r := range a[1:] {
					c := canon["-"+string(r)]
					f.set[c] = append(f.set[c], "")
				}
				continue
			}
		}
		name, val, hasVal := strings.Cut(a, "=")
		c, ok := canon[name]
		if !ok {
			return nil, fmt.Errorf("unknown flag: %s", name)
		}
		switch {
		case isValue[name] && hasVal:
			f.set[c] = append(f.set[c], val)
		case isValue[name]:
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag needs an argument: %s", name)
			}
			i++
			f.set[c] = append(f.set[c], args[i])
		case hasVal:
			f.set[c] = append(f.set[c], val)
		default:
			f.set[c] = append(f.set[c], "")
		}
	}
	return f, nil
}

var createFlags = flagDef{
	values: []string{"--name", "--label|-l", "--env-file", "--env|-e", "--publish|-p", "--mount", "--network|--net",
		"--network-alias", "--health-cmd", "--health-interval", "--health-timeout", "--health-start-period",
		"--health-retries", "--restart", "--cpus", "--memory|-m", "--pids-limit", "--user|-u", "--workdir|-w",
		"--hostname|-h", "--stop-timeout", "--stop-signal", "--cap-add", "--cap-drop", "--ulimit", "--sysctl",
		"--add-host", "--log-driver", "--log-opt", "--tmpfs", "--shm-size", "--security-opt", "--device",
		"--entrypoint", "--platform", "--pull"},
	bools:            []string{"--read-only", "--init", "--privileged", "--no-healthcheck"},
	stopAtPositional: true,
}

// create simulates `docker create`.
func (h *Host) create(x *exec, args []string) int {
	f, err := createFlags.parse(args[1:])
	if err != nil {
		x.errf("%s\nSee 'docker create --help'.", err)
		return 125
	}
	if len(f.pos) == 0 {
		x.errf("\"docker create\" requires at least 1 argument.\nSee 'docker create --help'.")
		return 125
	}
	ref := f.pos[0]
	name := f.last("--name")
	if name == "" {
		name = "fake_" + h.newID("name")[:8]
	}
	if old := h.lookupName(name); old != nil {
		x.errf("Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, old.ID)
		return 125
	}
	for _, net := range f.set["--network"] {
		if h.findNetwork(net) == nil {
			x.errf("Error response from daemon: network %s not found", net)
			return 125
		}
	}
	c := &ctr{Container: Container{
		Name: name, Image: ref, Labels: map[string]string{}, State: "created",
		Restart: f.last("--restart"), Ports: map[string][]PortBinding{}, Networks: map[string][]string{},
		Cmd: append([]string(nil), f.pos[1:]...), Entrypoint: f.last("--entrypoint"), StopTimeout: f.last("--stop-timeout"),
	}}
	for _, l := range f.set["--label"] {
		k, v, _ := strings.Cut(l, "=")
		c.Labels[k] = v
	}
	if v := f.last("--cpus"); v != "" {
		cpus, err := strconv.ParseFloat(v, 64)
		if err != nil || cpus < 0 {
			x.errf("invalid argument %q for \"--cpus\" flag: failed to parse %s as a rational number", v, v)
			return 125
		}
		c.NanoCPUs = int64(cpus*1e9 + 0.5)
	}
	if v := f.last("--memory"); v != "" {
		n, err := parseBytes(v)
		if err != nil {
			x.errf("invalid argument %q for \"-m, --memory\" flag: invalid size: '%s'", v, v)
			return 125
		}
		c.Memory = n
	}
	if v := f.last("--pids-limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			x.errf("invalid argument %q for \"--pids-limit\" flag: strconv.ParseInt: parsing %q: invalid syntax", v, v)
			return 125
		}
		c.PidsLimit = n
	}
	if r := c.Restart; r != "" && r != "no" && r != "always" && r != "unless-stopped" && r != "on-failure" && !strings.HasPrefix(r, "on-failure:") {
		x.errf("docker: invalid restart policy '%s'", r)
		return 125
	}
	for _, path := range f.set["--env-file"] {
		if path != "/dev/stdin" {
			x.errf("open %s: no such file or directory", path)
			return 125
		}
		if x.stdin == nil {
			continue // an empty stdin is an empty env file
		}
		sc := bufio.NewScanner(x.stdin)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimLeft(sc.Text(), " \t")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if !strings.Contains(line, "=") {
				continue // "NAME" alone takes the CLI's environment: empty here
			}
			c.Env = append(c.Env, line)
		}
	}
	c.Env = append(c.Env, f.set["--env"]...)
	for _, p := range f.set["--publish"] {
		key, b, err := parsePublish(p)
		if err != nil {
			x.errf("invalid argument %q for \"-p, --publish\" flag: %s", p, err)
			return 125
		}
		c.Ports[key] = append(c.Ports[key], b)
	}
	for _, m := range f.set["--mount"] {
		fields, err := csv.NewReader(strings.NewReader(m)).Read()
		if err != nil {
			x.errf("invalid argument %q for \"--mount\" flag: %s", m, err)
			return 125
		}
		kv := map[string]string{}
		for _, fl := range fields {
			k, v, _ := strings.Cut(fl, "=")
			kv[strings.ToLower(k)] = v
		}
		src := kv["source"]
		if src == "" {
			src = kv["src"]
		}
		if kv["type"] == "volume" && src != "" && h.volumes[src] == nil {
			h.volumes[src] = &Volume{Name: src, Driver: "local", Labels: map[string]string{}, Options: map[string]string{}}
		}
		c.Mounts = append(c.Mounts, m)
	}
	if nets := f.set["--network"]; len(nets) > 0 {
		c.Networks[h.findNetwork(nets[0]).Name] = append([]string(nil), f.set["--network-alias"]...)
	} else {
		c.Networks["bridge"] = nil
	}
	if !h.ensureImage(x, ref, true) {
		return 125
	}
	c.ImageID = h.images[engine.NormalizeRef(ref)]
	c.behaviour = h.behaviour[engine.NormalizeRef(ref)]
	c.HasHealthcheck = (f.has("--health-cmd") || c.behaviour.Health != "") && !f.has("--no-healthcheck")
	c.ID = h.newID("container/" + name)
	c.seq, c.rev = h.seq, 1
	c.Created = h.now()
	h.containers[c.ID] = c
	fmt.Fprintln(x.stdout, c.ID)
	h.record(args, name)
	return 0
}

// parseBytes parses a docker memory size: bytes, or a number with a
// b, k, m or g suffix.
func parseBytes(v string) (int64, error) {
	mult := int64(1)
	switch strings.ToLower(v[len(v)-1:]) {
	case "b":
		v = v[:len(v)-1]
	case "k":
		mult, v = 1<<10, v[:len(v)-1]
	case "m":
		mult, v = 1<<20, v[:len(v)-1]
	case "g":
		mult, v = 1<<30, v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("invalid size")
	}
	return n * mult, nil
}

// ensureImage makes ref present, pulling it from the registry as docker
// create does. Called with h.mu held.
func (h *Host) ensureImage(x *exec, ref string, implicit bool) bool {
	norm := engine.NormalizeRef(ref)
	if _, ok := h.images[norm]; ok {
		return true
	}
	if implicit {
		x.errf("Unable to find image '%s' locally", norm)
	}
	id, ok, repoKnown := h.Registry.lookup(ref)
	if !ok {
		prefix := "Error response from daemon: "
		if implicit {
			prefix = "docker: " + prefix
		}
		if repoKnown {
			x.errf("%smanifest for %s not found: manifest unknown: manifest unknown", prefix, norm)
		} else {
			repo, _, _ := strings.Cut(norm, ":")
			if i := strings.LastIndexByte(norm, ':'); i > strings.LastIndexByte(norm, '/') {
				repo = norm[:i]
			}
			x.errf("%spull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", prefix, repo)
		}
		return false
	}
	h.images[norm] = id
	return true
}

func (h *Host) lookupName(name string) *ctr {
	for _, c := range h.containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// findNetwork finds a network by name, ID or unique ID prefix.
func (h *Host) findNetwork(ref string) *Network {
	if n, ok := h.networks[ref]; ok {
		return n
	}
	var found *Network
	for _, n := range h.networks {
		if strings.HasPrefix(n.ID, ref) {
			if found != nil {
				return nil
			}
			found = n
		}
	}
	return found
}

// parsePublish parses a --publish value into its PortBindings key and
// binding: [ip:][hostPort:]containerPort[/proto], IPv6 in brackets.
func parsePublish(p string) (string, PortBinding, error) {
	spec, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	var ip string
	if strings.HasPrefix(spec, "[") {
		end := strings.IndexByte(spec, ']')
		if end < 0 || end+1 >= len(spec) || spec[end+1] != ':' {
			return "", PortBinding{}, errors.New("invalid IPv6 address")
		}
		ip, spec = spec[1:end], spec[end+2:]
	}
	parts := strings.Split(spec, ":")
	var b PortBinding
	var target string
	switch len(parts) {
	case 1:
		target = parts[0]
	case 2:
		b.HostPort, target = parts[0], parts[1]
	case 3:
		if ip != "" {
			return "", PortBinding{}, errors.New("too many colons")
		}
		ip, b.HostPort, target = parts[0], parts[1], parts[2]
	default:
		return "", PortBinding{}, errors.New("too many colons")
	}
	b.HostIP = ip
	if _, err := strconv.ParseUint(target, 10, 16); err != nil {
		return "", PortBinding{}, fmt.Errorf("invalid containerPort: %s", target)
	}
	if b.HostPort != "" {
		if _, err := strconv.ParseUint(b.HostPort, 10, 16); err != nil {
			return "", PortBinding{}, fmt.Errorf("invalid hostPort: %s", b.HostPort)
		}
	}
	return target + "/" + proto, b, nil
}

// start simulates `docker start`.
func (h *Host) start(x *exec, args []string) int {
	f, err := flagDef{bools: []string{"--attach|-a", "--interactive|-i"}}.parse(args[1:])
	if err != nil || len(f.pos) == 0 {
		x.errf("\"docker start\" requires at least 1 argument.")
		return 1
	}
	status := 0
	var failed []string
	for _, ref := range f.pos {
		c := h.lookup(ref)
		if c == nil {
			x.errf("Error response from daemon: No such container: %s", ref)
			failed = append(failed, ref)
			continue
		}
		if c.State == "running" || c.State == "restarting" {
			fmt.Fprintln(x.stdout, ref)
			continue
		}
		if msg := h.portConflict(c); msg != "" {
			x.errf("Error response from daemon: driver failed programming external connectivity on endpoint %s (%s): %s", c.Name, c.ID[:12], msg)
			failed = append(failed, ref)
			continue
		}
		now := h.now()
		c.rev++
		c.StartedAt, c.FinishedAt, c.ExitCode = now, time.Time{}, 0
		c.State = "running"
		if b := c.behaviour; b.ExitImmediately {
			c.ExitCode, c.FinishedAt = b.ExitCode, now
			if restarts(c.Restart, b.ExitCode) {
				c.State, c.RestartCount = "restarting", c.RestartCount+1
			} else {
				c.State = "exited"
			}
		}
		fmt.Fprintln(x.stdout, ref)
		h.record(append([]string{"start"}, ref), c.Name)
	}
	if len(failed) > 0 {
		x.errf("Error: failed to start containers: %s", strings.Join(failed, ", "))
		status = 1
	}
	return status
}

// restarts reports whether docker's restart policy restarts a process
// that exited with code.
func restarts(policy string, code int) bool {
	switch {
	case policy == "always", policy == "unless-stopped":
		return true
	case strings.HasPrefix(policy, "on-failure"):
		return code != 0
	}
	return false
}

// portConflict says why c cannot bind its published ports. Called with
// h.mu held.
func (h *Host) portConflict(c *ctr) string {
	for key, binds := range c.Ports {
		_, proto, _ := strings.Cut(key, "/")
		for _, b := range binds {
			if b.HostPort == "" {
				continue
			}
			for _, o := range h.containers {
				if o == c || (o.State != "running" && o.State != "restarting") {
					continue
				}
				for okey, obinds := range o.Ports {
					_, oproto, _ := strings.Cut(okey, "/")
					if oproto != proto {
						continue
					}
					for _, ob := range obinds {
						if ob.HostPort == b.HostPort && ipOverlap(ob.HostIP, b.HostIP) {
							ip := b.HostIP
							if ip == "" {
								ip = "0.0.0.0"
							}
							return fmt.Sprintf("Bind for %s:%s failed: port is already allocated", ip, b.HostPort)
						}
					}
				}
			}
		}
	}
	return ""
}

func ipOverlap(a, b string) bool {
	any := func(s string) bool { return s == "" || s == "0.0.0.0" || s == "::" }
	return any(a) || any(b) || a == b
}

// stop simulates `docker stop`.
func (h *Host) stop(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--time|-t", "--signal|-s"}}.parse(args[1:])
	if err != nil || len(f.pos) == 0 {
		x.errf("\"docker stop\" requires at least 1 argument.")
		return 1
	}
	if t := f.last("--time"); t != "" {
		if _, err := strconv.Atoi(t); err != nil {
			x.errf("invalid argument %q for \"-t, --time\" flag: strconv.ParseInt: parsing %q: invalid syntax", t, t)
			return 125
		}
	}
	status := 0
	for _, ref := range f.pos {
		c := h.lookup(ref)
		if c == nil {
			x.errf("Error response from daemon: No such container: %s", ref)
			status = 1
			continue
		}
		if c.State == "running" || c.State == "restarting" {
			c.State, c.ExitCode, c.FinishedAt = "exited", 0, h.now()
			c.rev++
		}
		fmt.Fprintln(x.stdout, ref)
		h.record(append(append([]string(nil), args[:len(args)-len(f.pos)]...), ref), c.Name)
	}
	return status
}

// rm simulates `docker rm`.
func (h *Host) rm(x *exec, args []string) int {
	f, err := flagDef{bools: []string{"--force|-f", "--volumes|-v", "--link|-l"}}.parse(args[1:])
	if err != nil || len(f.pos) == 0 {
		x.errf("\"docker rm\" requires at least 1 argument.")
		return 1
	}
	status := 0
	for _, ref := range f.pos {
		c := h.lookup(ref)
		if c == nil {
			x.errf("Error response from daemon: No such container: %s", ref)
			status = 1
			continue
		}
		if (c.State == "running" || c.State == "restarting") && !f.has("--force") {
			x.errf("Error response from daemon: cannot remove container \"/%s\": container is running: stop the container before removing or force remove", c.Name)
			status = 1
			continue
		}
		delete(h.containers, c.ID)
		fmt.Fprintln(x.stdout, ref)
		h.record(append(append([]string(nil), args[:len(args)-len(f.pos)]...), ref), c.Name)
	}
	return status
}

// inspectJSON is the part of docker's container inspect output the fake
// fills in, with docker's field names.
type inspectJSON struct {
	ID              string          `json:"Id"`
	Created         string          `json:"Created"`
	Path            string          `json:"Path"`
	Args            []string        `json:"Args"`
	State           stateJSON       `json:"State"`
	Image           string          `json:"Image"`
	Name            string          `json:"Name"`
	RestartCount    int             `json:"RestartCount"`
	HostConfig      hostConfigJSON  `json:"HostConfig"`
	Config          configJSON      `json:"Config"`
	NetworkSettings networkSettings `json:"NetworkSettings"`
}

type stateJSON struct {
	Status     string      `json:"Status"`
	Running    bool        `json:"Running"`
	Paused     bool        `json:"Paused"`
	Restarting bool        `json:"Restarting"`
	OOMKilled  bool        `json:"OOMKilled"`
	Dead       bool        `json:"Dead"`
	Pid        int         `json:"Pid"`
	ExitCode   int         `json:"ExitCode"`
	Error      string      `json:"Error"`
	StartedAt  string      `json:"StartedAt"`
	FinishedAt string      `json:"FinishedAt"`
	Health     *healthJSON `json:"Health,omitempty"`
}

type healthJSON struct {
	Status        string          `json:"Status"`
	FailingStreak int             `json:"FailingStreak"`
	Log           []healthLogJSON `json:"Log"`
}

type healthLogJSON struct {
	Start    string `json:"Start"`
	End      string `json:"End"`
	ExitCode int    `json:"ExitCode"`
	Output   string `json:"Output"`
}

type hostConfigJSON struct {
	PortBindings  map[string][]portBindingJSON `json:"PortBindings"`
	RestartPolicy struct {
		Name              string `json:"Name"`
		MaximumRetryCount int    `json:"MaximumRetryCount"`
	} `json:"RestartPolicy"`
	NetworkMode string `json:"NetworkMode"`
	NanoCpus    int64  `json:"NanoCpus"`
	Memory      int64  `json:"Memory"`
	PidsLimit   *int64 `json:"PidsLimit"`
}

type portBindingJSON struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

type configJSON struct {
	Hostname   string            `json:"Hostname"`
	Env        []string          `json:"Env"`
	Cmd        []string          `json:"Cmd"`
	Image      string            `json:"Image"`
	Entrypoint []string          `json:"Entrypoint"`
	Labels     map[string]string `json:"Labels"`
}

type networkSettings struct {
	Networks map[string]struct {
		Aliases []string `json:"Aliases"`
	} `json:"Networks"`
}

func dockerTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (c *ctr) inspect(now time.Time) inspectJSON {
	out := inspectJSON{
		ID: c.ID, Created: dockerTime(c.Created), Path: "/app", Args: c.Cmd, Image: c.ImageID, Name: "/" + c.Name,
		RestartCount: c.RestartCount,
	}
	status := c.State
	if c.Paused && c.State == "running" {
		status = "paused"
	}
	out.State = stateJSON{
		Status: status, Running: c.State == "running" || c.State == "restarting", Restarting: c.State == "restarting",
		Paused: c.Paused && c.State == "running", ExitCode: c.ExitCode, StartedAt: dockerTime(c.StartedAt), FinishedAt: dockerTime(c.FinishedAt),
	}
	if out.State.Running {
		out.State.Pid = 4242
	}
	if c.HasHealthcheck && !c.StartedAt.IsZero() {
		hs := c.health(now)
		out.State.Health = &healthJSON{Status: hs, Log: []healthLogJSON{}}
		// One probe record: when the health settled, with its outcome.
		if hs != "starting" {
			at := c.StartedAt.Add(c.behaviour.HealthAfter)
			code := 0
			if hs == "unhealthy" {
				code, out.State.Health.FailingStreak = 1, 1
			}
			out.State.Health.Log = append(out.State.Health.Log, healthLogJSON{Start: dockerTime(at), End: dockerTime(at), ExitCode: code})
		}
	}
	out.HostConfig.PortBindings = map[string][]portBindingJSON{}
	for k, bs := range c.Ports {
		for _, b := range bs {
			out.HostConfig.PortBindings[k] = append(out.HostConfig.PortBindings[k], portBindingJSON(b))
		}
	}
	name, retries, _ := strings.Cut(c.Restart, ":")
	if name == "" {
		name = "no"
	}
	out.HostConfig.RestartPolicy.Name = name
	out.HostConfig.RestartPolicy.MaximumRetryCount, _ = strconv.Atoi(retries)
	out.HostConfig.NanoCpus, out.HostConfig.Memory = c.NanoCPUs, c.Memory
	if c.PidsLimit != 0 {
		pl := c.PidsLimit
		out.HostConfig.PidsLimit = &pl
	}
	out.HostConfig.NetworkMode = "bridge"
	out.Config = configJSON{Hostname: c.ID[:12], Env: c.Env, Cmd: c.Cmd, Image: c.Image, Labels: c.Labels}
	if out.Config.Env == nil {
		out.Config.Env = []string{}
	}
	if c.Entrypoint != "" {
		out.Config.Entrypoint = []string{c.Entrypoint}
	}
	out.NetworkSettings.Networks = map[string]struct {
		Aliases []string `json:"Aliases"`
	}{}
	for n, al := range c.Networks {
		out.NetworkSettings.Networks[n] = struct {
			Aliases []string `json:"Aliases"`
		}{al}
	}
	return out
}

// inspect simulates `docker inspect` of containers.
func (h *Host) inspect(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--type", "--format|-f"}, bools: []string{"--size|-s"}}.parse(args[1:])
	if err != nil || len(f.pos) == 0 {
		x.errf("\"docker inspect\" requires at least 1 argument.")
		return 1
	}
	if t := f.last("--type"); t == "image" {
		return h.imageInspect(x, append([]string{"inspect"}, args[1:]...))
	} else if t != "" && t != "container" {
		return h.notSimulated(x, args)
	}
	if f.has("--format") {
		return h.notSimulated(x, args)
	}
	now := h.now()
	var parts [][]byte
	status := 0
	for _, ref := range f.pos {
		c := h.lookup(ref)
		if c == nil {
			x.errf("Error: No such object: %s", ref)
			status = 1
			continue
		}
		parts = append(parts, c.inspectBytes(now))
	}
	// docker prints the array indented by four spaces.
	if len(parts) == 0 {
		io.WriteString(x.stdout, "[]\n")
		return status
	}
	size := 4
	for _, p := range parts {
		size += len(p) + 6
	}
	var buf bytes.Buffer
	buf.Grow(size)
	buf.WriteString("[\n")
	for i, p := range parts {
		buf.WriteString("    ")
		buf.Write(p)
		if i < len(parts)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("]\n")
	x.stdout.Write(buf.Bytes())
	return status
}

// inspectBytes renders the container as one element of docker inspect's
// array, reusing the last rendering while nothing changed.
func (c *ctr) inspectBytes(now time.Time) []byte {
	health := c.health(now)
	if c.cached != nil && c.cachedRev == c.rev && c.cachedHealth == health {
		return c.cached
	}
	b, _ := json.MarshalIndent(c.inspect(now), "    ", "    ")
	c.cached, c.cachedRev, c.cachedHealth = b, c.rev, health
	return b
}

// labelFilters parses --filter label=K[=V] values; other filters are not
// simulated.
func labelFilters(fs []string) (func(map[string]string) bool, error) {
	type cond struct {
		k, v string
		hasV bool
	}
	var conds []cond
	for _, f := range fs {
		kind, val, _ := strings.Cut(f, "=")
		if kind != "label" {
			return nil, fmt.Errorf("filter %q not simulated", f)
		}
		k, v, hasV := strings.Cut(val, "=")
		conds = append(conds, cond{k, v, hasV})
	}
	return func(labels map[string]string) bool {
		for _, c := range conds {
			got, ok := labels[c.k]
			if !ok || c.hasV && got != c.v {
				return false
			}
		}
		return true
	}, nil
}

// ps simulates `docker ps -q`.
func (h *Host) ps(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--filter|-f", "--format"}, bools: []string{"--all|-a", "--quiet|-q", "--no-trunc"}}.parse(args[1:])
	if err != nil {
		x.errf("%s", err)
		return 125
	}
	if !f.has("--quiet") || f.has("--format") || len(f.pos) > 0 {
		return h.notSimulated(x, args)
	}
	match, err := labelFilters(f.set["--filter"])
	if err != nil {
		return h.notSimulated(x, args)
	}
	var list []*ctr
	for _, c := range h.containers {
		if (f.has("--all") || c.State == "running" || c.State == "restarting") && match(c.Labels) {
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq > list[j].seq }) // newest first
	for _, c := range list {
		id := c.ID
		if !f.has("--no-trunc") {
			id = id[:12]
		}
		fmt.Fprintln(x.stdout, id)
	}
	return 0
}

// info simulates `docker info --format '{{json .}}'`.
func (h *Host) info(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--format|-f"}}.parse(args[1:])
	if err != nil || (f.last("--format") != "{{json .}}" && f.last("--format") != "json") {
		return h.notSimulated(x, args)
	}
	running := 0
	for _, c := range h.containers {
		if c.State == "running" {
			running++
		}
	}
	b, _ := json.Marshal(map[string]any{
		"ID": "FAKE:" + h.Name, "Containers": len(h.containers), "ContainersRunning": running,
		"Images": len(h.images), "Driver": "overlay2", "KernelVersion": "6.8.0-enginetest",
		"OperatingSystem": "Enginetest Linux", "OSType": h.Facts.OSType, "Architecture": h.Facts.Architecture,
		"NCPU": h.Facts.NCPU, "MemTotal": h.Facts.MemTotal, "Name": h.Facts.Name,
		"ServerVersion": h.Facts.ServerVersion, "Swarm": map[string]any{"LocalNodeState": "inactive"},
	})
	fmt.Fprintf(x.stdout, "%s\n", b)
	return 0
}

const imagesFormat = "{{.Repository}}:{{.Tag}} {{.ID}}"

// imagesCmd simulates `docker images --no-trunc --format ...`.
func (h *Host) imagesCmd(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--format"}, bools: []string{"--no-trunc", "--quiet|-q", "--all|-a", "--digests"}}.parse(args[1:])
	if err != nil || f.last("--format") != imagesFormat || !f.has("--no-trunc") || len(f.pos) > 0 {
		return h.notSimulated(x, args)
	}
	for _, ref := range sortedNames(h.images) {
		repo, tag := ref, "<none>"
		if !strings.Contains(ref, "@") {
			i := strings.LastIndexByte(ref, ':')
			repo, tag = ref[:i], ref[i+1:]
		} else {
			repo, _, _ = strings.Cut(ref, "@")
		}
		fmt.Fprintf(x.stdout, "%s:%s %s\n", repo, tag, h.images[ref])
	}
	return 0
}

// imageInspect simulates `docker image inspect --format {{.Id}} REF...`.
func (h *Host) imageInspect(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--format|-f", "--type"}}.parse(args[1:])
	if err != nil || len(f.pos) == 0 || f.last("--format") != "{{.Id}}" {
		return h.notSimulated(x, append([]string{"image"}, args...))
	}
	status := 0
	for _, ref := range f.pos {
		id, ok := h.images[engine.NormalizeRef(ref)]
		if !ok && strings.HasPrefix(ref, "sha256:") {
			for _, v := range h.images {
				if v == ref {
					id, ok = v, true
				}
			}
		}
		if !ok {
			x.errf("Error response from daemon: No such image: %s", ref)
			status = 1
			continue
		}
		fmt.Fprintln(x.stdout, id)
	}
	return status
}

// networkCreate simulates `docker network create`.
func (h *Host) networkCreate(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--driver|-d", "--label", "--subnet", "--opt|-o"}, bools: []string{"--internal", "--attachable"}}.parse(args[1:])
	if err != nil || len(f.pos) != 1 {
		x.errf("\"docker network create\" requires exactly 1 argument.")
		return 1
	}
	name := f.pos[0]
	if _, ok := h.networks[name]; ok {
		x.errf("Error response from daemon: network with name %s already exists", name)
		return 1
	}
	n := &Network{ID: h.newID("network/" + name), Name: name, Driver: f.last("--driver"), Internal: f.has("--internal"), Labels: map[string]string{}}
	if n.Driver == "" {
		n.Driver = "bridge"
	}
	for _, l := range f.set["--label"] {
		k, v, _ := strings.Cut(l, "=")
		n.Labels[k] = v
	}
	h.networks[name] = n
	fmt.Fprintln(x.stdout, n.ID)
	h.record(append([]string{"network"}, args...), "")
	return 0
}

// networkRm simulates `docker network rm`.
func (h *Host) networkRm(x *exec, args []string) int {
	f, err := flagDef{bools: []string{"--force|-f"}}.parse(args[1:])
	if err != nil || len(f.pos) == 0 {
		x.errf("\"docker network rm\" requires at least 1 argument.")
		return 1
	}
	status := 0
	for _, ref := range f.pos {
		n := h.findNetwork(ref)
		switch {
		case n == nil:
			x.errf("Error response from daemon: network %s not found", ref)
			status = 1
			continue
		case n.Name == "bridge" || n.Name == "host" || n.Name == "none":
			x.errf("Error response from daemon: %s is a pre-defined network and cannot be removed", n.Name)
			status = 1
			continue
		}
		busy := false
		for _, c := range h.containers {
			if _, ok := c.Networks[n.Name]; ok && (c.State == "running" || c.State == "restarting") {
				busy = true
			}
		}
		if busy {
			x.errf("Error response from daemon: error while removing network: network %s id %s has active endpoints", n.Name, n.ID)
			status = 1
			continue
		}
		delete(h.networks, n.Name)
		fmt.Fprintln(x.stdout, ref)
		h.record([]string{"network", "rm", ref}, "")
	}
	return status
}

// networkLs simulates `docker network ls` with -q or --format {{.Name}}.
func (h *Host) networkLs(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--filter|-f", "--format"}, bools: []string{"--quiet|-q", "--no-trunc"}}.parse(args[1:])
	if err != nil || len(f.pos) > 0 {
		return h.notSimulated(x, append([]string{"network"}, args...))
	}
	format := f.last("--format")
	if !f.has("--quiet") && format != "{{.Name}}" && format != "{{.ID}}" {
		return h.notSimulated(x, append([]string{"network"}, args...))
	}
	match, err := labelFilters(f.set["--filter"])
	if err != nil {
		return h.notSimulated(x, append([]string{"network"}, args...))
	}
	for _, name := range sortedNames(h.networks) {
		n := h.networks[name]
		if !match(n.Labels) {
			continue
		}
		switch {
		case format == "{{.Name}}":
			fmt.Fprintln(x.stdout, n.Name)
		case f.has("--no-trunc"):
			fmt.Fprintln(x.stdout, n.ID)
		default: // -q and {{.ID}} print short IDs
			fmt.Fprintln(x.stdout, n.ID[:12])
		}
	}
	return 0
}

// networkConnect simulates `docker network connect [--alias A] NET CTR`.
func (h *Host) networkConnect(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--alias", "--ip", "--ip6"}}.parse(args[1:])
	if err != nil || len(f.pos) != 2 {
		x.errf("\"docker network connect\" requires exactly 2 arguments.")
		return 1
	}
	n := h.findNetwork(f.pos[0])
	if n == nil {
		x.errf("Error response from daemon: network %s not found", f.pos[0])
		return 1
	}
	c := h.lookup(f.pos[1])
	if c == nil {
		x.errf("Error response from daemon: No such container: %s", f.pos[1])
		return 1
	}
	if _, ok := c.Networks[n.Name]; ok {
		x.errf("Error response from daemon: endpoint with name %s already exists in network %s", c.Name, n.Name)
		return 1
	}
	c.Networks[n.Name] = append([]string(nil), f.set["--alias"]...)
	c.rev++
	h.record(append([]string{"network"}, args...), c.Name)
	return 0
}

// volumeCreate simulates `docker volume create`.
func (h *Host) volumeCreate(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--driver|-d", "--opt|-o", "--label", "--name"}}.parse(args[1:])
	if err != nil || len(f.pos) > 1 {
		x.errf("\"docker volume create\" requires at most 1 argument.")
		return 1
	}
	name := f.last("--name")
	if len(f.pos) == 1 {
		name = f.pos[0]
	}
	if name == "" {
		name = h.newID("volume")
	}
	v := &Volume{Name: name, Driver: f.last("--driver"), Options: map[string]string{}, Labels: map[string]string{}}
	if v.Driver == "" {
		v.Driver = "local"
	}
	for _, o := range f.set["--opt"] {
		k, val, _ := strings.Cut(o, "=")
		v.Options[k] = val
	}
	for _, l := range f.set["--label"] {
		k, val, _ := strings.Cut(l, "=")
		v.Labels[k] = val
	}
	if old, ok := h.volumes[name]; ok {
		// docker returns the existing volume when the driver agrees.
		if old.Driver != v.Driver {
			x.errf("Error response from daemon: create %s: volume name %s already in use with driver %s", name, name, old.Driver)
			return 1
		}
		fmt.Fprintln(x.stdout, name)
		return 0
	}
	h.volumes[name] = v
	fmt.Fprintln(x.stdout, name)
	h.record(append([]string{"volume"}, args...), "")
	return 0
}

// volumeRm simulates `docker volume rm`.
func (h *Host) volumeRm(x *exec, args []string) int {
	f, err := flagDef{bools: []string{"--force|-f"}}.parse(args[1:])
	if err != nil || len(f.pos) == 0 {
		x.errf("\"docker volume rm\" requires at least 1 argument.")
		return 1
	}
	status := 0
	for _, name := range f.pos {
		if _, ok := h.volumes[name]; !ok {
			if !f.has("--force") {
				x.errf("Error response from daemon: get %s: no such volume", name)
				status = 1
			}
			continue
		}
		var users []string
		for _, c := range h.containers {
			for _, m := range c.Mounts {
				if strings.Contains(m, "source="+name+",") || strings.Contains(m, "src="+name+",") {
					users = append(users, c.ID)
				}
			}
		}
		if len(users) > 0 {
			x.errf("Error response from daemon: remove %s: volume is in use - [%s]", name, strings.Join(users, ", "))
			status = 1
			continue
		}
		delete(h.volumes, name)
		fmt.Fprintln(x.stdout, name)
		h.record([]string{"volume", "rm", name}, "")
	}
	return status
}

// volumeLs simulates `docker volume ls -q`.
func (h *Host) volumeLs(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--filter|-f", "--format"}, bools: []string{"--quiet|-q"}}.parse(args[1:])
	if err != nil || len(f.pos) > 0 || (!f.has("--quiet") && f.last("--format") != "{{.Name}}") {
		return h.notSimulated(x, append([]string{"volume"}, args...))
	}
	match, err := labelFilters(f.set["--filter"])
	if err != nil {
		return h.notSimulated(x, append([]string{"volume"}, args...))
	}
	for _, name := range sortedNames(h.volumes) {
		if match(h.volumes[name].Labels) {
			fmt.Fprintln(x.stdout, name)
		}
	}
	return 0
}

// pull simulates `docker pull`.
func (h *Host) pull(x *exec, args []string) int {
	f, err := flagDef{values: []string{"--platform"}, bools: []string{"--quiet|-q", "--all-tags|-a"}}.parse(args[1:])
	if err != nil || len(f.pos) != 1 {
		x.errf("\"docker pull\" requires exactly 1 argument.")
		return 1
	}
	ref := f.pos[0]
	if !h.ensureImage(x, ref, false) {
		return 1
	}
	norm := engine.NormalizeRef(ref)
	if !f.has("--quiet") {
		fmt.Fprintf(x.stdout, "Status: Downloaded newer image for %s\n", norm)
	}
	fmt.Fprintln(x.stdout, "docker.io/"+strings.TrimPrefix(norm, "docker.io/"))
	h.record(args, "")
	return 0
}

// loadImages simulates `docker load` of a `docker save` tar on stdin.
func (h *Host) loadImages(x *exec, args []string) int {
	if len(args) > 1 {
		return h.notSimulated(x, args)
	}
	if x.stdin == nil {
		x.errf("requested load from stdin, but stdin is empty")
		return 1
	}
	type entry struct {
		Config   string
		RepoTags []string
	}
	var manifest []entry
	tr := tar.NewReader(x.stdin)
	n := 0
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if n == 0 {
				x.errf("requested load from stdin, but stdin is empty")
			} else {
				x.errf("Error processing tar file(exit status 1): unexpected EOF")
			}
			return 1
		}
		n++
		if hd.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				x.errf("Error processing tar file: invalid manifest.json: %s", err)
				return 1
			}
		}
	}
	if n == 0 {
		x.errf("requested load from stdin, but stdin is empty")
		return 1
	}
	if manifest == nil {
		x.errf("open /var/lib/docker/tmp/docker-import/repositories: no such file or directory")
		return 1
	}
	for _, m := range manifest {
		hex := strings.TrimSuffix(m.Config, ".json")
		hex = hex[strings.LastIndexByte(hex, '/')+1:]
		id := "sha256:" + hex
		if len(m.RepoTags) == 0 {
			fmt.Fprintf(x.stdout, "Loaded image ID: %s\n", id)
		}
		for _, t := range m.RepoTags {
			h.images[engine.NormalizeRef(t)] = id
			fmt.Fprintf(x.stdout, "Loaded image: %s\n", t)
		}
	}
	h.record(args, "")
	return 0
}

// logs simulates `docker logs`; with --follow on a running container it
// returns the container to wait for.
func (h *Host) logs(x *exec, args []string) (follow string, code int) {
	f, err := flagDef{values: []string{"--tail|-n", "--since", "--until"}, bools: []string{"--follow|-f", "--timestamps|-t", "--details"}}.parse(args[1:])
	if err != nil || len(f.pos) != 1 {
		x.errf("\"docker logs\" requires exactly 1 argument.")
		return "", 1
	}
	c := h.lookup(f.pos[0])
	if c == nil {
		x.errf("Error response from daemon: No such container: %s", f.pos[0])
		return "", 1
	}
	lines := strings.SplitAfter(c.behaviour.Logs, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if t := f.last("--tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err == nil && n >= 0 && n < len(lines) {
			lines = lines[len(lines)-n:]
		}
	}
	for _, l := range lines {
		if f.has("--timestamps") {
			io.WriteString(x.stdout, dockerTime(c.StartedAt)+" ")
		}
		io.WriteString(x.stdout, l)
		if !strings.HasSuffix(l, "\n") {
			io.WriteString(x.stdout, "\n")
		}
	}
	if f.has("--follow") && (c.State == "running" || c.State == "restarting") {
		return c.ID, 0
	}
	return "", 0
}

// follow waits, without the lock, until the container stops running or
// the context ends.
func (h *Host) follow(x *exec, id string) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-x.ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		c, ok := h.containers[id]
		up := ok && (c.State == "running" || c.State == "restarting")
		h.mu.Unlock()
		if !up {
			return
		}
	}
}
