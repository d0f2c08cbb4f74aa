package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/ssh"
)

// chain runs several docker argv in one round trip, joined by sep. Each
// argv is quoted by ssh.Join; the joined line is one argument of `sh -c`,
// which the transport quotes again. name becomes $0, which names the
// chain in error messages ("h2: drover-create: exit 1: ...").
func chain(name, sep string, argvs ...[]string) []string {
	parts := make([]string, len(argvs))
	for i, a := range argvs {
		parts[i] = ssh.Join(a)
	}
	return []string{"sh", "-c", strings.Join(parts, sep), name}
}

// Create creates and starts a container in one round trip and returns its ID.
func (e *Engine) Create(ctx context.Context, c Container) (string, error) {
	if e.API != nil {
		id, err := e.API.create(ctx, c)
		e.audit([]string{"create+start", c.Name}, err)
		return id, err
	}
	args, env, err := CreateArgs(c)
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.Name, err)
	}
	steps := [][]string{e.docker(args...)}
	for _, n := range ExtraNetworks(c) {
		steps = append(steps, e.docker(n...))
	}
	steps = append(steps, e.docker("start", c.Name))
	var stdin io.Reader
	if env != nil {
		stdin = bytes.NewReader(env)
	}
	res, err := e.run(ctx, opChange, 0, ssh.Cmd{Args: chain("drover-create", " && ", steps...), Stdin: stdin})
	if e.Audit != nil {
		e.Audit(e.Host, e.docker("create+start", c.Name), err)
	}
	if err != nil {
		return "", classify(err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(res.Stdout)), "\n")
	return id, nil
}

// Remove stops a container gracefully (within grace; 0 = docker's default)
// and removes it. A container that is already gone is not an error.
func (e *Engine) Remove(ctx context.Context, id string, grace time.Duration) error {
	if e.API != nil {
		err := e.API.remove(ctx, id, grace)
		e.audit([]string{"rm", id}, err)
		return err
	}
	stop := e.docker("stop", id)
	if grace > 0 {
		stop = e.docker("stop", "--time", strconv.Itoa(int((grace+time.Second-1)/time.Second)), id)
	}
	res, err := e.run(ctx, opChange, grace, ssh.Cmd{Args: chain("drover-remove", " ; ", stop, e.docker("rm", "--force", id))})
	if e.Audit != nil {
		e.Audit(e.Host, e.docker("rm", id), err)
	}
	if err != nil && strings.Contains(strings.ToLower(errText(err, res)), "no such container") {
		return nil
	}
	return classify(err)
}

func errText(err error, res ssh.Result) string { return err.Error() + string(res.Stderr) }

// CreateNetwork creates a bridge network labelled for the cluster and stack.
func (e *Engine) CreateNetwork(ctx context.Context, n cluster.Network, stack string) error {
	if e.API != nil {
		err := e.API.createNetwork(ctx, n, e.Cluster, stack)
		e.audit([]string{"network", "create", n.Name}, err)
		return err
	}
	args := []string{"network", "create", "--driver", "bridge"}
	if n.Internal {
		args = append(args, "--internal")
	}
	for _, k := range sortedKeys(n.Labels) {
		args = append(args, "--label", k+"="+n.Labels[k])
	}
	args = append(args, "--label", cluster.LabelCluster+"="+e.Cluster, "--label", cluster.LabelStack+"="+stack, n.Name)
	_, err := e.mutate(ctx, nil, args...)
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return classify(err)
}

// RemoveNetwork removes a network; a missing one is not an error.
func (e *Engine) RemoveNetwork(ctx context.Context, name string) error {
	if e.API != nil {
		err := e.API.removeNetwork(ctx, name)
		e.audit([]string{"network", "rm", name}, err)
		return err
	}
	_, err := e.mutate(ctx, nil, "network", "rm", name)
	if err != nil && (strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "No such network")) {
		return nil
	}
	return classify(err)
}

// CreateVolume creates a named volume labelled for the cluster and stack.
func (e *Engine) CreateVolume(ctx context.Context, v cluster.Volume, stack string) error {
	if e.API != nil {
		err := e.API.createVolume(ctx, v, e.Cluster, stack)
		e.audit([]string{"volume", "create", v.Name}, err)
		return err
	}
	args := []string{"volume", "create"}
	if v.Driver != "" {
		args = append(args, "--driver", v.Driver)
	}
	for _, k := range sortedKeys(v.DriverOpts) {
		args = append(args, "--opt", k+"="+v.DriverOpts[k])
	}
	for _, k := range sortedKeys(v.Labels) {
		args = append(args, "--label", k+"="+v.Labels[k])
	}
	args = append(args, "--label", cluster.LabelCluster+"="+e.Cluster, "--label", cluster.LabelStack+"="+stack, v.Name)
	_, err := e.mutate(ctx, nil, args...)
	return classify(err)
}

// RemoveVolume removes a volume; a missing one is not an error.
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	if e.API != nil {
		err := e.API.removeVolume(ctx, name)
		e.audit([]string{"volume", "rm", name}, err)
		return err
	}
	_, err := e.mutate(ctx, nil, "volume", "rm", name)
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "no such volume") {
		return nil
	}
	return classify(err)
}

// Pull pulls an image.
func (e *Engine) Pull(ctx context.Context, ref string) error {
	if e.API != nil {
		err := e.API.pull(ctx, ref)
		e.audit([]string{"pull", ref}, err)
		return err
	}
	_, err := e.mutateKind(ctx, opTransfer, nil, "pull", "--quiet", ref)
	return classify(err)
}

// Inspect reads the current state of some containers.
func (e *Engine) Inspect(ctx context.Context, ids ...string) ([]cluster.Replica, error) {
	if e.API != nil {
		return e.API.inspect(ctx, ids, false)
	}
	out, err := e.read(ctx, append([]string{"inspect"}, ids...)...)
	if err != nil {
		return nil, classify(err)
	}
	return ParseInspect(e.Host, out)
}

// LogOptions are `docker logs` options.
type LogOptions struct {
	Follow     bool
	Tail       string
	Since      string
	Timestamps bool
}

// Logs streams a container's logs into stdout and stderr.
func (e *Engine) Logs(ctx context.Context, id string, o LogOptions, stdout, stderr io.Writer) error {
	if e.API != nil {
		return e.API.logs(ctx, id, o, stdout, stderr)
	}
	args := []string{"logs"}
	if o.Follow {
		args = append(args, "--follow")
	}
	if o.Tail != "" {
		args = append(args, "--tail", o.Tail)
	}
	if o.Since != "" {
		args = append(args, "--since", o.Since)
	}
	if o.Timestamps {
		args = append(args, "--timestamps")
	}
	args = append(args, id)
	kind := opTransfer
	if o.Follow {
		kind = opFollow // ended by the caller (Ctrl-C)
	}
	_, err := e.run(ctx, kind, 0, ssh.Cmd{Args: e.docker(args...), Stdout: stdout, Stderr: stderr})
	return classify(err)
}

// loadScript decompresses a gzip'd `docker save` stream into `docker load`.
const loadScript = `if [ "$1" = sudo ]; then gzip -dc | sudo -n docker load; else gzip -dc | docker load; fi`

// Load streams a gzip-compressed `docker save` archive into the engine.
func (e *Engine) Load(ctx context.Context, gz io.Reader) (string, error) {
	if e.API != nil {
		out, err := e.API.load(ctx, gz)
		e.audit([]string{"load"}, err)
		return out, err
	}
	res, err := e.run(ctx, opTransfer, 0, ssh.Cmd{Args: []string{"sh", "-c", loadScript, "drover-load", e.mode()}, Stdin: gz})
	if e.Audit != nil {
		e.Audit(e.Host, e.docker("load"), err)
	}
	return strings.TrimSpace(string(res.Stdout)), classify(err)
}

// ImageID returns the ID of an image on the host, "" when absent.
func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	if e.API != nil {
		return e.API.imageID(ctx, ref)
	}
	out, err := e.read(ctx, "image", "inspect", "--format", "{{.Id}}", ref)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "no such image") {
			return "", nil
		}
		return "", classify(err)
	}
	return strings.TrimSpace(string(out)), nil
}

// cleanupScript removes a stack's networks (and with "volumes", its
// volumes) labelled for this cluster, in one round trip. Names are read
// from docker itself, never spliced into the script.
const cleanupScript = `cluster=$1; stack=$2; mode=$3; vols=$4
d() { if [ "$mode" = sudo ]; then sudo -n docker "$@"; else docker "$@"; fi; }
rc=0
for n in $(d network ls --format '{{.Name}}' --filter "label=drover.cluster=$cluster" --filter "label=drover.stack=$stack"); do
  d network rm "$n" >/dev/null && echo "network $n" || rc=1
done
if [ "$vols" = volumes ]; then
  for v in $(d volume ls -q --filter "label=drover.cluster=$cluster" --filter "label=drover.stack=$stack"); do
    d volume rm "$v" >/dev/null && echo "volume $v" || rc=1
  done
fi
exit $rc
`

// RemoveStackResources removes a stack's networks and, if volumes is set,
// its named volumes, and returns what it removed.
func (e *Engine) RemoveStackResources(ctx context.Context, stack string, volumes bool) ([]string, error) {
	if e.API != nil {
		out, err := e.API.removeStackResources(ctx, e.Cluster, stack, volumes)
		e.audit([]string{"network", "rm", "(stack " + stack + ")"}, err)
		return out, err
	}
	v := "keep"
	if volumes {
		v = "volumes"
	}
	res, err := e.run(ctx, opChange, 0, ssh.Cmd{Args: []string{"sh", "-c", cleanupScript, "drover-cleanup", e.Cluster, stack, e.mode(), v}})
	if e.Audit != nil {
		e.Audit(e.Host, e.docker("network", "rm", "(stack "+stack+")"), err)
	}
	return lines(res.Stdout), classify(err)
}
