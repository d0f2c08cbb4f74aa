package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"

	"github.com/drover-sh/drover/cluster"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const fixtures = "../testdata/compose"

// load is Load with a fixed environment, failing the test on error.
func mustLoad(t *testing.T, opts Options) (*cluster.Stack, []Warning) {
	t.Helper()
	if opts.StackName == "" {
		opts.StackName = "demo"
	}
	st, warnings, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatalf("Load(%v): %v", opts.Files, err)
	}
	return st, warnings
}

// writeCompose writes content as compose.yml in a new temporary directory.
func writeCompose(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadString(t *testing.T, content string) (*cluster.Stack, []Warning) {
	t.Helper()
	return mustLoad(t, Options{Files: []string{writeCompose(t, content)}})
}

func loadStringErr(t *testing.T, content string) error {
	t.Helper()
	_, _, err := Load(context.Background(), Options{Files: []string{writeCompose(t, content)}, StackName: "demo"})
	if err == nil {
		t.Fatalf("Load succeeded, want an error for:\n%s", content)
	}
	return err
}

func warningKeys(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Service+"/"+w.Key)
	}
	return out
}

func TestGoldenFull(t *testing.T) {
	file := filepath.Join(fixtures, "full.yml")
	st, warnings := mustLoad(t, Options{Files: []string{file}, Environ: []string{"FROM_ENVIRON=from-environ"}})

	got, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// Bind mounts resolve to absolute paths: keep the golden file portable.
	abs, err := filepath.Abs(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	got = bytes.ReplaceAll(got, []byte(abs), []byte("$FIXTURES"))
	got = append(got, '\n')

	golden := filepath.Join("testdata", "full.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./compose/ -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("stack differs from %s (rerun with -update if intended):\n%s", golden, got)
	}

	wantWarnings := []string{
		file + ": service cache: key restart is ignored: deploy.restart_policy takes precedence",
		file + ": network front: " + overlayWarning,
	}
	var gotWarnings []string
	for _, w := range warnings {
		gotWarnings = append(gotWarnings, w.String())
	}
	if !slices.Equal(gotWarnings, wantWarnings) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(gotWarnings, "\n"), strings.Join(wantWarnings, "\n"))
	}

	// Same input, same output: no map order leaks into slices.
	for range 5 {
		again, againWarnings := mustLoad(t, Options{Files: []string{file}, Environ: []string{"FROM_ENVIRON=from-environ"}})
		if !reflect.DeepEqual(st, again) || !reflect.DeepEqual(warnings, againWarnings) {
			t.Fatal("loading the same file twice gave different results")
		}
	}
}

// TestFullExercisesEveryHonouredKey keeps full.yml (and so the golden file)
// covering every key the rules say drover maps.
func TestFullExercisesEveryHonouredKey(t *testing.T) {
	l, err := load(context.Background(), Options{Files: []string{filepath.Join(fixtures, "full.yml")}, StackName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, s := range l.p.Services {
		setKeys(reflect.ValueOf(s), "", set)
	}
	netSet, volSet := map[string]bool{}, map[string]bool{}
	for _, n := range l.p.Networks {
		setKeys(reflect.ValueOf(n), "", netSet)
	}
	for _, v := range l.p.Volumes {
		setKeys(reflect.ValueOf(v), "", volSet)
	}
	// Keys that cannot show in a loaded active service: compose-go consumes
	// extends, and services with profiles are not loaded.
	exempt := map[string]bool{"extends": true, "profiles": true}
	check := func(what string, rules map[string]rule, set map[string]bool) {
		for key, r := range rules {
			if (r.kind == mapped || r.kind == descend) && !exempt[key] && !set[key] {
				t.Errorf("full.yml sets no %s key %s, which drover maps: add it to the fixture", what, key)
			}
		}
	}
	check("service", serviceRules, set)
	check("network", networkRules, netSet)
	check("volume", volumeRules, volSet)
}

// setKeys records the dotted paths of the non-zero fields under v.
func setKeys(v reflect.Value, path string, set map[string]bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, inline := yamlKey(f)
			if !f.IsExported() || name == "-" || strings.HasPrefix(name, "#") {
				continue
			}
			if inline {
				setKeys(v.Field(i), path, set)
				continue
			}
			if isZero(v.Field(i)) {
				continue
			}
			key := strings.TrimPrefix(path+"."+name, ".")
			set[key] = true
			setKeys(v.Field(i), key, set)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			setKeys(v.MapIndex(k), path, set)
		}
	case reflect.Slice:
		for i := range v.Len() {
			setKeys(v.Index(i), path, set)
		}
	}
}

// TestRulesNameRealKeys catches misspelt keys in the rules tables, which
// would make the walker warn about a key drover does map.
func TestRulesNameRealKeys(t *testing.T) {
	for _, tc := range []struct {
		root  reflect.Type
		rules map[string]rule
	}{
		{reflect.TypeFor[types.ServiceConfig](), serviceRules},
		{reflect.TypeFor[types.NetworkConfig](), networkRules},
		{reflect.TypeFor[types.VolumeConfig](), volumeRules},
		{reflect.TypeFor[types.BuildConfig](), buildRules},
		{reflect.TypeFor[types.FileObjectConfig](), objectRules},
	} {
		known := map[string]bool{}
		typeKeys(tc.root, "", known, 0)
		for key := range tc.rules {
			if !known[key] {
				t.Errorf("rule %q (%s) names no field of compose-go's model", key, tc.root)
			}
		}
	}
}

func typeKeys(t reflect.Type, path string, known map[string]bool, depth int) {
	if depth > 8 {
		return
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline := yamlKey(f)
		if !f.IsExported() || name == "-" || strings.HasPrefix(name, "#") {
			continue
		}
		if inline {
			typeKeys(f.Type, path, known, depth+1)
			continue
		}
		key := strings.TrimPrefix(path+"."+name, ".")
		known[key] = true
		typeKeys(f.Type, key, known, depth+1)
	}
}

func TestMultipleFilesEnvAndExtends(t *testing.T) {
	dir := filepath.Join(fixtures, "multi")
	st, warnings := mustLoad(t, Options{
		Files:   []string{filepath.Join(dir, "compose.yml"), filepath.Join(dir, "override.yml")},
		Environ: []string{"FROM_ENVIRON=environ"},
	})
	if len(warnings) != 0 {
		t.Errorf("unexpected warnings: %v", warnings)
	}

	web := st.Services["web"]
	if web.Container.Image != "example/web:1.0-patched" {
		t.Errorf("web image %q: want the override's, with TAG from .env", web.Container.Image)
	}
	if web.Replicas != 4 {
		t.Errorf("web replicas %d, want the override's 4", web.Replicas)
	}
	wantEnv := map[string]string{
		"A": "override",      // override.yml beats compose.yml, which beats env_file
		"B": "dotenv",        // ${FROM_DOTENV} from .env
		"C": "environ",       // Environ beats .env
		"D": "1.0-ref",       // .env values may refer to earlier ones
		"E": "from-env-file", // env_file
	}
	if !reflect.DeepEqual(web.Container.Env, wantEnv) {
		t.Errorf("web env %v, want %v", web.Container.Env, wantEnv)
	}

	worker := st.Services["worker"]
	if worker.Container.Image != "example/worker:1.0" ||
		!slices.Equal(worker.Container.Command, []string{"work", "--queue", "default"}) ||
		!reflect.DeepEqual(worker.Container.Env, map[string]string{"ROLE": "worker", "BASE_ONLY": "yes"}) ||
		!reflect.DeepEqual(worker.Container.Labels, map[string]string{"from": "base"}) {
		t.Errorf("worker (extends base.yml) = %+v", worker.Container)
	}

	// extends within the file: local gets web as compose.yml has it.
	local := st.Services["local"]
	if local.Container.Image != "example/web:1.0" || local.Container.Env["A"] != "local" || local.Container.Env["E"] != "from-env-file" {
		t.Errorf("local (extends web) = %+v", local.Container)
	}

	if _, ok := st.Services["worker-base"]; ok {
		t.Error("the base service of another file must not be part of the stack")
	}
}

func TestEncodings(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join(fixtures, "encoding.yml"))
	if err != nil {
		t.Fatal(err)
	}
	crlf := bytes.ReplaceAll(plain, []byte("\n"), []byte("\r\n"))
	utf16le := []byte{0xFF, 0xFE}
	utf16be := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(string(crlf))) {
		utf16le = append(utf16le, byte(u), byte(u>>8))
		utf16be = append(utf16be, byte(u>>8), byte(u))
	}
	variants := map[string][]byte{
		"utf8-bom.yml":           append([]byte{0xEF, 0xBB, 0xBF}, plain...),
		"utf8-crlf.yml":          crlf,
		"utf8-bom-crlf.yml":      append([]byte{0xEF, 0xBB, 0xBF}, crlf...),
		"utf16le-bom-crlf.yml":   utf16le,
		"utf16be-bom-crlf.yml":   utf16be,
		"utf16le-bom-lf.yml":     append([]byte{0xFF, 0xFE}, utf16LE(string(plain))...),
		"utf16le-bom-crlf-2.yml": utf16le, // same again: nothing is cached by name
	}

	want, _ := mustLoad(t, Options{Files: []string{filepath.Join(fixtures, "encoding.yml")}, WorkingDir: fixtures})
	if got := want.Services["cafe"].Container.Labels["description"]; got != "Ünïcödé — 日本語" {
		t.Fatalf("plain fixture: label %q", got)
	}
	dir := t.TempDir()
	for name, content := range variants {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			got, _ := mustLoad(t, Options{Files: []string{path}, WorkingDir: fixtures})
			if !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(want, "", " ")
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func utf16LE(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

func TestBadEncodings(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"latin1.yml":       []byte("services:\n  web:\n    image: caf\xe9\n"),
		"utf16-nobom.yml":  utf16LE("services:\n  web:\n    image: x\n"),
		"utf16-odd.yml":    append([]byte{0xFF, 0xFE}, 's', 0, 'e'),
		"utf16be-odd.yml":  {0xFE, 0xFF, 0},
		"utf8-invalid.yml": []byte("services:\n  web:\n    image: \xff\xfe\n"),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(context.Background(), Options{Files: []string{path}, StackName: "demo"})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		compose string
		want    []string // substrings of the error
	}{
		{"broken yaml", "services:\n  web:\n    image: nginx\n     ports: [80]\n",
			[]string{"compose.yml", "line 4", "invalid YAML"}},
		{"tab indentation", "services:\n\tweb:\n    image: nginx\n",
			[]string{"compose.yml", "line 2"}},
		{"typo in service key", "services:\n  web:\n    imagee: nginx\n    image: x\n",
			[]string{`compose.yml:3:5: services.web: unknown key "imagee" (did you mean "image"?)`}},
		{"typo in deploy key", "services:\n  web:\n    image: x\n    deploy:\n      replicass: 2\n",
			[]string{`compose.yml:5:7: services.web.deploy: unknown key "replicass" (did you mean "replicas"?)`}},
		{"typo at top level", "servicess:\n  web:\n    image: x\n",
			[]string{`compose.yml:1:1: top level: unknown key "servicess" (did you mean "services"?)`}},
		{"wrong type", "services:\n  web:\n    image: x\n    ports: 80\n",
			[]string{"compose.yml:4:12: services.web.ports must be a list, not number"}},
		{"no image", "services:\n  web:\n    command: [x]\n",
			[]string{"service web: no image (set image:, or build: and deploy with --build)"}},
		{"build but no image", "services:\n  web:\n    build: .\n",
			[]string{"compose.yml:3:5: service web: no image: its build: is only used with --build"}},
		{"replicated-job", "services:\n  web:\n    image: x\n    deploy: {mode: replicated-job}\n",
			[]string{"service web", "replicated-job", "not supported"}},
		{"global-job", "services:\n  web:\n    image: x\n    deploy: {mode: global-job}\n",
			[]string{"service web", "global-job", "not supported"}},
		{"unknown mode", "services:\n  web:\n    image: x\n    deploy: {mode: everywhere}\n",
			[]string{"compose.yml:4:20: service web", `deploy.mode: unknown mode "everywhere"`}},
		{"negative replicas", "services:\n  web:\n    image: x\n    deploy: {replicas: -1}\n",
			[]string{"services.web.deploy.replicas", "greater than or equal to 0"}},
		{"replicas with global", "services:\n  web:\n    image: x\n    deploy: {mode: global, replicas: 2}\n",
			[]string{"service web", "replicas can only be used with mode replicated"}},
		{"port conflict", "services:\n  web:\n    image: x\n    ports: [\"8080:80\"]\n  api:\n    image: y\n    ports: [\"127.0.0.1:8080:8080\"]\n",
			[]string{"services api and web both publish port 8080/tcp"}},
		{"port conflict, long syntax", "services:\n  web:\n    image: x\n    ports: [{target: 53, published: \"53\", protocol: udp, mode: host}]\n  dns:\n    image: y\n    ports: [\"53:5353/udp\"]\n",
			[]string{"services dns and web both publish port 53/udp"}},
		{"port twice in one service", "services:\n  web:\n    image: x\n    ports: [\"8080:80\", \"8080:81\"]\n",
			[]string{"service web publishes port 8080/tcp twice"}},
		{"published range for one target", "services:\n  web:\n    image: x\n    ports: [\"8000-8002:80\"]\n",
			[]string{"service web", "published range 8000-8002"}},
		{"invalid service name", "services:\n  _web:\n    image: x\n",
			[]string{`invalid service name "_web"`}},
		{"x-drover unknown key", "services:\n  web:\n    image: x\n    x-drover: {update_timeout: 1m, update_timout: 2m}\n",
			[]string{"service web", `x-drover: unknown key "update_timout"`}},
		{"x-drover bad duration", "services:\n  web:\n    image: x\n    x-drover: {update_timeout: soon}\n",
			[]string{"service web", "x-drover.update_timeout"}},
		{"x-drover not a mapping", "services:\n  web:\n    image: x\n    x-drover: 10m\n",
			[]string{"service web", "x-drover must be a mapping"}},
		{"unknown restart", "services:\n  web:\n    image: x\n    restart: sometimes\n",
			[]string{"service web", `restart: unknown policy "sometimes"`}},
		{"unknown restart condition", "services:\n  web:\n    image: x\n    deploy: {restart_policy: {condition: often}}\n",
			[]string{"service web", `unknown condition "often"`}},
		{"bad failure_action", "services:\n  web:\n    image: x\n    deploy: {rollback_config: {failure_action: rollback}}\n",
			[]string{"service web", "deploy.rollback_config.failure_action"}},
		{"bad healthcheck", "services:\n  web:\n    image: x\n    healthcheck: {test: [curl, x]}\n",
			[]string{"compose.yml", "healthcheck.test must start"}},
		{"undefined network", "services:\n  web:\n    image: x\n    networks: [nope]\n",
			[]string{"compose.yml", "undefined network nope"}},
		{"required variable", "services:\n  web:\n    image: \"x:${TAG:?TAG must be set}\"\n",
			[]string{"compose.yml", "TAG must be set"}},
		{"empty file", "",
			[]string{"compose.yml", "empty"}},
		{"every schema mistake at once", "services:\n  web:\n    image: x\n    enviroment: {A: b}\n    deploy:\n      replcas: 3\n  db:\n    image: y\n    ports: 80\n",
			[]string{"3 problems in the compose files:\n",
				`compose.yml:4:5: services.web: unknown key "enviroment" (did you mean "environment"?)`,
				`compose.yml:6:7: services.web.deploy: unknown key "replcas" (did you mean "replicas"?)`,
				"compose.yml:9:12: services.db.ports must be a list, not number"}},
		{"every service's mistake at once", "services:\n  web:\n    image: x\n    deploy:\n      update_config: {failure_action: rollbak}\n  db:\n    image: y\n    deploy: {mode: replicatd}\n",
			[]string{"2 problems in the compose files:\n",
				`compose.yml:5:39: service web: deploy.update_config.failure_action: unknown action "rollbak" (pause, continue or rollback) (did you mean "rollback"?)`,
				`compose.yml:8:20: service db: deploy.mode: unknown mode "replicatd" (replicated or global) (did you mean "replicated"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := loadStringErr(t, tc.compose)
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	file := writeCompose(t, "services:\n  web:\n    image: x\n")
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Files: []string{file}}, "stack name is required"},
		{Options{Files: []string{file}, StackName: "-x"}, "invalid stack name"},
		{Options{Files: []string{file}, StackName: "a b"}, "invalid stack name"},
		{Options{Files: []string{file}, StackName: "café"}, "invalid stack name"},
		{Options{StackName: "demo"}, "no compose file"},
		{Options{Files: []string{filepath.Join(t.TempDir(), "missing.yml")}, StackName: "demo"}, "missing.yml"},
		{Options{Files: []string{t.TempDir()}, StackName: "demo"}, "is a directory"},
	} {
		_, _, err := Load(context.Background(), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%+v) error %v, want %q", tc.opts, err, tc.want)
		}
	}
}

func TestStackNames(t *testing.T) {
	file := writeCompose(t, `
services:
  web:
    image: x
    networks: [front, default]
    volumes: [data:/data, named:/named]
networks:
  front: {}
volumes:
  data: {}
  named: {name: "${COMPOSE_PROJECT_NAME}-named"}
`)
	for _, tc := range []struct{ stack, project string }{
		{"demo", "demo"},
		{"My.Stack-1", "mystack-1"}, // compose-go's project name is normalised
		{"9lives", "9lives"},
	} {
		st, _ := mustLoad(t, Options{Files: []string{file}, StackName: tc.stack})
		if st.Name != tc.stack || st.Services["web"].Stack != tc.stack {
			t.Errorf("%s: stack name %q / %q", tc.stack, st.Name, st.Services["web"].Stack)
		}
		nets := st.Services["web"].Container.Networks
		if len(nets) != 2 || nets[0].Name != tc.stack+"_default" || nets[1].Name != tc.stack+"_front" {
			t.Errorf("%s: networks %+v", tc.stack, nets)
		}
		if st.Networks["default"].Name != tc.stack+"_default" || st.Networks["front"].Name != tc.stack+"_front" {
			t.Errorf("%s: stack networks %+v", tc.stack, st.Networks)
		}
		if st.Volumes["data"].Name != tc.stack+"_data" || st.Volumes["named"].Name != tc.project+"-named" {
			t.Errorf("%s: volumes %+v", tc.stack, st.Volumes)
		}
	}
}

func TestDefaultNetwork(t *testing.T) {
	st, warnings := loadString(t, `
services:
  plain:
    image: x
  host:
    image: x
    network_mode: host
  other:
    image: x
    networks: [back]
networks:
  back: {}
`)
	for _, name := range []string{"plain", "host"} {
		nets := st.Services[name].Container.Networks
		if len(nets) != 1 || nets[0].Name != "demo_default" || !reflect.DeepEqual(nets[0].Aliases, []string{name}) {
			t.Errorf("%s: networks %+v, want demo_default with the service name as alias", name, nets)
		}
	}
	if got := st.Networks["default"]; !reflect.DeepEqual(got, cluster.Network{Name: "demo_default"}) {
		t.Errorf("default network %+v", got)
	}
	if !slices.Contains(warningKeys(warnings), "host/network_mode") {
		t.Errorf("no network_mode warning: %v", warnings)
	}

	// Not used by any service: not part of the stack, like docker stack.
	st, _ = loadString(t, "services:\n  web:\n    image: x\n    networks: [back]\nnetworks:\n  back: {}\n  spare: {}\nvolumes:\n  spare: {}\n")
	if _, ok := st.Networks["default"]; ok {
		t.Error("default network created though no service is on it")
	}
	if _, ok := st.Networks["spare"]; ok || st.Volumes != nil {
		t.Errorf("unused networks or volumes kept: %+v %+v", st.Networks, st.Volumes)
	}
}

func TestUnsupportedKeys(t *testing.T) {
	file := filepath.Join(fixtures, "unsupported.yml")
	_, warnings := mustLoad(t, Options{Files: []string{file}})
	want := []string{
		"a/deploy.resources.reservations.devices",
		"a/deploy.resources.reservations.generic_resources",
		"a/deploy.restart_policy.delay",
		"a/deploy.restart_policy.window",
		"a/deploy.endpoint_mode",
		"a/attach",
		"a/container_name",
		"a/external_links",
		"a/links",
		"a/annotations",
		"a/blkio_config",
		"a/cgroup_parent",
		"a/cgroup",
		"a/cpu_count",
		"a/cpu_percent",
		"a/cpu_period",
		"a/cpu_quota",
		"a/cpu_rt_period",
		"a/cpu_rt_runtime",
		"a/cpuset",
		"a/cpu_shares",
		"a/device_cgroup_rules",
		"a/dns",
		"a/dns_opt",
		"a/dns_search",
		"a/domainname",
		"a/group_add",
		"a/gpus",
		"a/ipc",
		"a/isolation",
		"a/memswap_limit",
		"a/mem_swappiness",
		"a/mac_address",
		"a/networks.driver_opts",
		"a/networks.gw_priority",
		"a/networks.interface_name",
		"a/networks.ipv4_address",
		"a/networks.ipv6_address",
		"a/networks.link_local_ips",
		"a/networks.mac_address",
		"a/oom_kill_disable",
		"a/oom_score_adj",
		"a/pid",
		"a/platform",
		"a/pull_policy",
		"a/runtime",
		"a/storage_opt",
		"a/userns_mode",
		"a/uts",
		"a/volumes.consistency",
		"a/volumes.bind.selinux",
		"a/volumes_from",
		"a/expose",
		"a/ports.name",
		"a/ports.app_protocol",
		"a/stdin_open",
		"a/tty",
		"a/build",   // without --build: reported by convert, after the walk
		"a/volumes", // type npipe
		"b/network_mode",
		"/secrets.token.driver",
		"/secrets.token.template_driver",
		"b/restart",
		"b/deploy.restart_policy.max_attempts",
		"/networks.front.driver_opts",
		"/networks.front.ipam",
		"/networks.front.enable_ipv6",
	}
	got := warningKeys(warnings)
	if !slices.Equal(got, want) {
		t.Errorf("warnings (service/key):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range warnings {
		if w.File != file {
			t.Errorf("warning %q: file %q, want %q", w, w.File, file)
		}
		if w.Service != "" && !strings.HasPrefix(w.String(), file+": service "+w.Service+": key "+w.Key+" ") {
			t.Errorf("warning renders as %q", w)
		}
	}
	if w := warnings[slices.Index(got, "a/build")]; !strings.Contains(w.Message, "without --build") {
		t.Errorf("build warning %q does not point at --build", w)
	}
}

func TestWarningString(t *testing.T) {
	for _, tc := range []struct {
		w    Warning
		want string
	}{
		{Warning{File: "compose.yml", Service: "web", Key: "cpu_shares", Message: "key cpu_shares is not supported by drover (ignored)"},
			"compose.yml: service web: key cpu_shares is not supported by drover (ignored)"},
		{Warning{File: "compose.yml", Message: "network x: y"}, "compose.yml: network x: y"},
		{Warning{Message: "just this"}, "just this"},
	} {
		if got := tc.w.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// TestWarningFiles: a key is blamed on the file that sets it.
func TestWarningFiles(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yml")
	over := filepath.Join(dir, "over.yml")
	os.WriteFile(base, []byte("services:\n  web:\n    image: x\n    container_name: web-1\n    networks: [n]\nnetworks:\n  n: {}\n"), 0o644)
	os.WriteFile(over, []byte("services:\n  web:\n    cpu_shares: 10\n    networks:\n      n: {ipv4_address: 10.0.0.2}\nnetworks:\n  n: {driver: overlay}\n"), 0o644)
	_, warnings := mustLoad(t, Options{Files: []string{base, over}})
	want := map[string]string{
		"web/container_name":        base,
		"web/cpu_shares":            over,
		"web/networks.ipv4_address": over,
		"/networks.n.driver":        over,
	}
	for _, w := range warnings {
		if f, ok := want[w.Service+"/"+w.Key]; ok && w.File != f {
			t.Errorf("%s/%s blamed on %s, want %s", w.Service, w.Key, w.File, f)
		}
		delete(want, w.Service+"/"+w.Key)
	}
	if len(want) > 0 {
		t.Errorf("missing warnings: %v (got %v)", want, warnings)
	}
}

// TestIngressNoWarning: ingress ports are served by the routing mesh, as
// compose means them; nothing to warn about.
func TestIngressNoWarning(t *testing.T) {
	_, ws := loadString(t, "services:\n  a:\n    image: x\n    ports: [\"80:80\", \"443:443\"]\n  b:\n    image: x\n    ports: [\"81:80\"]\n")
	for _, w := range ws {
		if strings.Contains(w.Message, "ingress") {
			t.Errorf("warning about ingress ports: %s", w)
		}
	}
}

func TestXDrover(t *testing.T) {
	st, _ := loadString(t, "services:\n  a:\n    image: x\n    x-drover:\n      update_timeout: 10m\n  b:\n    image: x\n  c:\n    image: x\n    x-drover: {}\n")
	if got := st.Services["a"].UpdateTimeout; got != 10*time.Minute {
		t.Errorf("a: UpdateTimeout %v, want 10m", got)
	}
	if st.Services["b"].UpdateTimeout != 0 || st.Services["c"].UpdateTimeout != 0 {
		t.Error("UpdateTimeout set without x-drover.update_timeout")
	}
}

func TestRestartMapping(t *testing.T) {
	for _, tc := range []struct {
		service string // YAML under the service, after image
		want    string
		warn    string // a warning key expected
	}{
		{"", "unless-stopped", ""},
		{"restart: always", "always", ""},
		{"restart: \"no\"", "no", ""},
		{"restart: unless-stopped", "unless-stopped", ""},
		{"restart: on-failure", "on-failure", ""},
		{"restart: on-failure:3", "on-failure:3", ""},
		{"deploy: {restart_policy: {}}", "unless-stopped", ""},
		{"deploy: {restart_policy: {condition: any}}", "unless-stopped", ""},
		{"deploy: {restart_policy: {condition: any, max_attempts: 2}}", "unless-stopped", "deploy.restart_policy.max_attempts"},
		{"deploy: {restart_policy: {condition: on-failure}}", "on-failure", ""},
		{"deploy: {restart_policy: {condition: on-failure, max_attempts: 0}}", "on-failure", ""},
		{"deploy: {restart_policy: {condition: on-failure, max_attempts: 5}}", "on-failure:5", ""},
		{"deploy: {restart_policy: {condition: none}}", "no", ""},
		{"deploy: {replicas: 2}", "unless-stopped", ""},
		{"restart: always\n    deploy: {restart_policy: {condition: none}}", "no", "restart"},
	} {
		st, ws := loadString(t, "services:\n  web:\n    image: x\n    "+tc.service+"\n")
		if got := st.Services["web"].Container.Restart; got != tc.want {
			t.Errorf("%q: restart %q, want %q", tc.service, got, tc.want)
		}
		keys := warningKeys(ws)
		if tc.warn == "" && len(ws) != 0 {
			t.Errorf("%q: unexpected warnings %v", tc.service, keys)
		}
		if tc.warn != "" && !slices.Equal(keys, []string{"web/" + tc.warn}) {
			t.Errorf("%q: warnings %v, want one for %s", tc.service, keys, tc.warn)
		}
	}
}

func TestUpdatePolicies(t *testing.T) {
	st, _ := loadString(t, `
services:
  unset:
    image: x
  empty:
    image: x
    deploy: {update_config: {}, rollback_config: {}}
  zero:
    image: x
    deploy: {update_config: {parallelism: 0}, rollback_config: {parallelism: 0}}
  three:
    image: x
    deploy: {update_config: {parallelism: 3, delay: 5s, monitor: 1m, order: start-first, failure_action: continue, max_failure_ratio: 0.25}}
`)
	def := cluster.DefaultUpdatePolicy()
	for _, name := range []string{"unset", "empty"} {
		if s := st.Services[name]; s.Update != def || s.Rollback != cluster.DefaultRollbackPolicy() {
			t.Errorf("%s: update %+v rollback %+v, want Swarm's defaults", name, s.Update, s.Rollback)
		}
	}
	zero := def
	zero.Parallelism = 0
	if s := st.Services["zero"]; s.Update != zero || s.Rollback != zero {
		t.Errorf("parallelism: 0 must mean all at once: %+v %+v", s.Update, s.Rollback)
	}
	want := cluster.UpdatePolicy{Parallelism: 3, Delay: 5 * time.Second, Monitor: time.Minute, Order: "start-first", FailureAction: "continue", MaxFailureRatio: 0.25}
	if s := st.Services["three"]; s.Update != want || s.Rollback != cluster.DefaultRollbackPolicy() {
		t.Errorf("three: %+v / %+v", s.Update, s.Rollback)
	}
}

func TestCommandAndEntrypoint(t *testing.T) {
	st, _ := loadString(t, `
services:
  unset:
    image: x
  cleared:
    image: x
    entrypoint: []
    command: []
  shell:
    image: x
    entrypoint: /bin/run --fast
    command: echo "a b"
`)
	if c := st.Services["unset"].Container; c.Command != nil || c.Entrypoint != nil {
		t.Errorf("unset: command %#v entrypoint %#v, want nil (image default)", c.Command, c.Entrypoint)
	}
	if c := st.Services["cleared"].Container; c.Command == nil || len(c.Command) != 0 || c.Entrypoint == nil || len(c.Entrypoint) != 0 {
		t.Errorf("cleared: command %#v entrypoint %#v, want empty non-nil", c.Command, c.Entrypoint)
	}
	if c := st.Services["shell"].Container; !slices.Equal(c.Entrypoint, []string{"/bin/run", "--fast"}) || !slices.Equal(c.Command, []string{"echo", "a b"}) {
		t.Errorf("shell: command %#v entrypoint %#v", c.Command, c.Entrypoint)
	}
}

func TestEnvironment(t *testing.T) {
	path := writeCompose(t, `
services:
  web:
    image: x
    environment:
      - SET=1
      - FROM_ENVIRON
      - FROM_DOTENV
      - MISSING
      - EMPTY=
`)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), ".env"), []byte("\ufeffFROM_DOTENV=dot\r\nFROM_ENVIRON=dot-loses\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := mustLoad(t, Options{Files: []string{path}, Environ: []string{"FROM_ENVIRON=environ", "NOEQUALS", "=bad"}})
	want := map[string]string{"SET": "1", "FROM_ENVIRON": "environ", "FROM_DOTENV": "dot", "EMPTY": ""}
	if got := st.Services["web"].Container.Env; !reflect.DeepEqual(got, want) {
		t.Errorf("env %v, want %v (MISSING dropped, as docker does)", got, want)
	}
}

func TestProfilesExcluded(t *testing.T) {
	st, ws := loadString(t, "services:\n  web:\n    image: x\n  debug:\n    image: y\n    profiles: [debug]\n    cpu_shares: 3\n")
	if _, ok := st.Services["debug"]; ok || len(st.Services) != 1 {
		t.Errorf("services %v: those with profiles must be left out", slices.Sorted(maps.Keys(st.Services)))
	}
	if len(ws) != 0 {
		t.Errorf("warnings about a service left out: %v", ws)
	}
}

func TestHealthcheck(t *testing.T) {
	st, _ := loadString(t, `
services:
  none-string:
    image: x
    healthcheck: {test: NONE}
  none-list:
    image: x
    healthcheck: {test: ["NONE"]}
  disabled:
    image: x
    healthcheck: {disable: true}
  cmd:
    image: x
    healthcheck: {test: ["CMD", "a", "b c"], retries: 2}
  shell:
    image: x
    healthcheck: {test: "curl -f localhost || exit 1"}
  timing-only:
    image: x
    healthcheck: {interval: 2s}
`)
	for _, name := range []string{"none-string", "none-list", "disabled"} {
		if h := st.Services[name].Container.Healthcheck; h == nil || !h.Disable || h.Test != nil {
			t.Errorf("%s: %+v, want Disable", name, h)
		}
	}
	if h := st.Services["cmd"].Container.Healthcheck; !slices.Equal(h.Test, []string{"CMD", "a", "b c"}) || h.Retries != 2 {
		t.Errorf("cmd: %+v", h)
	}
	if h := st.Services["shell"].Container.Healthcheck; !slices.Equal(h.Test, []string{"CMD-SHELL", "curl -f localhost || exit 1"}) {
		t.Errorf("shell: %+v", h)
	}
	if h := st.Services["timing-only"].Container.Healthcheck; h.Test != nil || h.Interval != 2*time.Second {
		t.Errorf("timing-only: %+v", h)
	}
}

func TestFloatsAreExact(t *testing.T) {
	st, _ := loadString(t, "services:\n  web:\n    image: x\n    deploy:\n      resources: {limits: {cpus: '0.1'}, reservations: {cpus: '2.3'}}\n      update_config: {max_failure_ratio: 0.3}\n")
	s := st.Services["web"]
	if s.Container.Limits.NanoCPUs != 100_000_000 || s.Reservations.NanoCPUs != 2_300_000_000 || s.Update.MaxFailureRatio != 0.3 {
		t.Errorf("limits %+v reservations %+v ratio %v", s.Container.Limits, s.Reservations, s.Update.MaxFailureRatio)
	}
}

// TestNothingPrinted: compose-go logs through logrus; Load must keep
// drover's stdout and stderr clean and return those lines as warnings.
func TestNothingPrinted(t *testing.T) {
	path := writeCompose(t, "version: \"3.8\"\nservices:\n  web:\n    image: \"x:${UNSET_TAG}\"\n    environment: [\"A=${UNSET_TAG}\"]\n")

	stdout, stderr := os.Stdout, os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// logrus's standard logger took os.Stderr's value at init: point it at
	// the pipe too, as drover's main might point it anywhere.
	std := logrus.StandardLogger()
	prevOut := std.Out
	std.SetOutput(w)
	os.Stdout, os.Stderr = w, w
	_, warnings, loadErr := Load(context.Background(), Options{Files: []string{path}, StackName: "demo"})
	os.Stdout, os.Stderr = stdout, stderr
	if std.Out != w {
		t.Error("Load did not restore logrus's output")
	}
	std.SetOutput(prevOut)
	w.Close()
	printed, _ := readAll(r)
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	if len(printed) > 0 {
		t.Errorf("Load printed %q", printed)
	}
	want := []string{`The "UNSET_TAG" variable is not set. Defaulting to a blank string.`}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
}

func readAll(r *os.File) ([]byte, error) {
	defer r.Close()
	var b bytes.Buffer
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

func TestTopLevelUnsupported(t *testing.T) {
	_, ws := loadString(t, `
services:
  web:
    image: x
    models: [llm]
jobs:
  backup:
    image: y
    triggers: {manual: true}
models:
  llm:
    model: ai/smollm2
`)
	want := []string{"/jobs", "/models", "web/models"}
	if got := warningKeys(ws); !slices.Equal(got, want) {
		t.Errorf("warnings %v, want %v", got, want)
	}
}

func TestObjectProblems(t *testing.T) {
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"undeclared", "services:\n  web:\n    image: x\n    secrets: [db]\n", "undefined secret db"},
		{"uid not a number", "services:\n  web:\n    image: x\n    secrets: [{source: db, uid: www-data}]\nsecrets:\n  db: {environment: HOME}\n", `uid "www-data" must be a number`},
		{"inline secret", "services:\n  web:\n    image: x\n    secrets: [db]\nsecrets:\n  db: {content: hunter2}\n", `unknown key "content"`},
		{"unset variable", "services:\n  web:\n    image: x\n    configs: [c]\nconfigs:\n  c: {environment: DROVER_TEST_SURELY_UNSET}\n", "DROVER_TEST_SURELY_UNSET is not set"},
		{"missing file", "services:\n  web:\n    image: x\n    configs: [c]\nconfigs:\n  c: {file: ./nope.txt}\n", "nope.txt"},
		{"bad name", "services:\n  web:\n    image: x\n    configs: [c]\nconfigs:\n  c: {content: x, name: ../etc}\n", "invalid config name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(context.Background(), Options{Files: []string{writeCompose(t, tc.yml)}, StackName: "st", Environ: []string{"HOME=/root"}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error holds the value: %v", err)
			}
		})
	}
}

func TestObjectRelativeTargets(t *testing.T) {
	yml := "services:\n  web:\n    image: x\n    secrets: [{source: s, target: token}]\n    configs: [{source: c, target: etc/app.conf, mode: 0600, gid: \"5\"}]\nsecrets:\n  s: {environment: HOME}\nconfigs:\n  c: {content: x}\n"
	st, _, err := Load(context.Background(), Options{Files: []string{writeCompose(t, yml)}, StackName: "st", Environ: []string{"HOME=/root"}})
	if err != nil {
		t.Fatal(err)
	}
	files := st.Services["web"].Container.Files
	if len(files) != 2 || files[0].Target != "/etc/app.conf" || files[0].Mode != 0o600 || files[0].GID != 5 || files[1].Target != "/run/secrets/token" {
		t.Errorf("files %+v", files)
	}
	if len(st.Objects) != 2 || string(st.Objects[1].Data) != "/root" || st.Objects[1].Name != "st_s" {
		t.Errorf("objects %+v", st.Objects)
	}
}
