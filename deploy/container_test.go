package deploy_test

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const containerfile = "deploy/container/Containerfile"

// instruction is one Containerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
	line int
}

func parseContainerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for n, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n + 1
		}
		if body, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	return out
}

// shellWords splits a shell command line into words: quotes and
// backslashes as sh does, no expansion.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unclosed \" in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '&' || c == ';' || c == '|':
			return nil, fmt.Errorf("more than one command in %q: keep the go build on a RUN of its own", s)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// goBuild is the go build command of the Containerfile's RUN instruction.
type goBuild struct {
	env    map[string]string
	args   []string // after "go"
	output string   // the -o path
}

func containerfileGoBuild(insts []instruction) (goBuild, error) {
	var found []instruction
	for _, in := range insts {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			found = append(found, in)
		}
	}
	if len(found) != 1 {
		return goBuild{}, fmt.Errorf("want one RUN with go build, found %d", len(found))
	}
	words, err := shellWords(found[0].args)
	if err != nil {
		return goBuild{}, err
	}
	b := goBuild{env: map[string]string{}}
	for len(words) > 0 && strings.HasPrefix(words[0], "--mount=") {
		words = words[1:]
	}
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[0]) {
		k, v, _ := strings.Cut(words[0], "=")
		b.env[k] = v
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		return goBuild{}, fmt.Errorf("line %d: want [VAR=value ...] go build ..., got %q", found[0].line, found[0].args)
	}
	b.args = words[1:]
	for i, a := range b.args {
		if a == "-o" && i+1 < len(b.args) {
			b.output = b.args[i+1]
		}
	}
	if b.output == "" {
		return goBuild{}, fmt.Errorf("line %d: go build without -o", found[0].line)
	}
	return b, nil
}

// buildLikeContainerfile runs the Containerfile's go build in the
// repository, into out, for this machine's platform.
func buildLikeContainerfile(root, out string) (string, error) {
	text, err := os.ReadFile(filepath.Join(root, containerfile))
	if err != nil {
		return "", err
	}
	b, err := containerfileGoBuild(parseContainerfile(string(text)))
	if err != nil {
		return "", fmt.Errorf("%s: %w", containerfile, err)
	}
	args := slices.Clone(b.args)
	for i, a := range args {
		if a == "-o" {
			args[i+1] = out
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	platform := map[string]string{"$TARGETOS": runtime.GOOS, "${TARGETOS}": runtime.GOOS, "$TARGETARCH": runtime.GOARCH, "${TARGETARCH}": runtime.GOARCH}
	for k, v := range b.env {
		if p, ok := platform[v]; ok {
			v = p
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, o)
	}
	return out, nil
}

func TestContainerBuild(t *testing.T) {
	insts := parseContainerfile(readRepoFile(t, containerfile))
	b, err := containerfileGoBuild(insts)
	if err != nil {
		t.Fatal(err)
	}
	if b.env["CGO_ENABLED"] != "0" {
		t.Errorf("go build runs with CGO_ENABLED=%q, want 0 (a static binary for distroless/static)", b.env["CGO_ENABLED"])
	}
	if !slices.Contains(b.args, "-trimpath") {
		t.Errorf("go build %v: want -trimpath", b.args)
	}
	ldflags := ""
	for i, a := range b.args {
		if v, ok := strings.CutPrefix(a, "-ldflags="); ok {
			ldflags = v
		} else if a == "-ldflags" && i+1 < len(b.args) {
			ldflags = b.args[i+1]
		}
	}
	if f := strings.Fields(ldflags); !slices.Contains(f, "-s") || !slices.Contains(f, "-w") {
		t.Errorf("go build -ldflags %q: want -s -w", ldflags)
	}
	if last := b.args[len(b.args)-1]; last != "./cmd/liveorigin" {
		t.Errorf("go build builds %q, want ./cmd/liveorigin", last)
	}

	bin := daemon(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter (PT_INTERP): it is dynamically linked and will not run on distroless/static", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", bin, libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: -ldflags=-s did not apply", bin)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Usage: liveorigin") {
		t.Errorf("%s --help: %v\n%s", bin, err, out)
	}
}

// TestContainerfile checks the image the Containerfile describes: its
// stages, that it copies every package the daemon is built from, the user,
// the admin address and the ports.
func TestContainerfile(t *testing.T) {
	root := repoRoot(t)
	insts := parseContainerfile(readRepoFile(t, containerfile))
	b, err := containerfileGoBuild(insts)
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var copies []string // sources of the builder's COPY
	env := map[string]string{}
	var user, entrypoint string
	exposed := map[string]bool{}
	var copiedBinary string
	for _, in := range insts {
		f := strings.Fields(in.args)
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "COPY":
			if strings.HasPrefix(in.args, "--from=") {
				if len(f) == 3 && f[1] == b.output {
					copiedBinary = f[2]
				}
				continue
			}
			if len(froms) == 1 {
				copies = append(copies, f[:len(f)-1]...)
			}
		case "ENV":
			for _, kv := range f {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "EXPOSE":
			for _, p := range f {
				exposed[strings.ToUpper(p)] = true
			}
		}
	}

	goMod := readRepoFile(t, "go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if len(froms) != 2 {
		t.Fatalf("want two stages (builder, final), got FROM %q", froms)
	}
	if goVersion == nil || !regexp.MustCompile(`\bgolang:`+regexp.QuoteMeta(goVersion[1])+`\b.* AS build$`).MatchString(froms[0]) {
		t.Errorf("builder FROM %q: want golang:%v AS build (go.mod's Go)", froms[0], goVersion)
	}
	if froms[1] != "gcr.io/distroless/static-debian12:nonroot" && froms[1] != "scratch" {
		t.Errorf("final FROM %q: want gcr.io/distroless/static-debian12:nonroot or scratch", froms[1])
	}
	if uid, _, _ := strings.Cut(user, ":"); !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) {
		t.Errorf("USER %q: want a numeric non-root user (Kubernetes runAsNonRoot cannot check a name)", user)
	}
	if copiedBinary == "" || !strings.Contains(entrypoint, `"`+copiedBinary+`"`) {
		t.Errorf("the final stage copies %s to %q but ENTRYPOINT is %s", b.output, copiedBinary, entrypoint)
	}

	// Every package of the module that the daemon imports must be copied
	// into the builder, and go.mod and go.sum.
	out, err := runTool(root, "go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/liveorigin")
	if err != nil {
		t.Fatal(err)
	}
	copied := func(rel string) bool {
		for _, c := range copies {
			c = strings.TrimSuffix(strings.TrimPrefix(c, "./"), "/")
			if c == "." || rel == c || strings.HasPrefix(rel, c+"/") {
				return true
			}
		}
		return false
	}
	for _, pkg := range strings.Fields(out) {
		rel, ok := strings.CutPrefix(pkg, "github.com/liveorigin/liveorigin/")
		if !ok {
			continue
		}
		if !copied(rel) {
			t.Errorf("the builder stage does not COPY %s/, which the daemon imports", rel)
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if !copied(f) {
			t.Errorf("the builder stage does not COPY %s", f)
		}
	}

	// The admin listener leaves loopback inside the container, on the port
	// EXPOSE names; every default listener is exposed with its protocol.
	defaults, envs := optionDefaults(t)
	admin := env[envs["admin-addr"]]
	if !strings.HasPrefix(admin, "0.0.0.0:") {
		t.Errorf("ENV %s=%q: want 0.0.0.0:PORT, or nothing outside the container reaches /metrics and the probes", envs["admin-addr"], admin)
	}
	for _, l := range listeners {
		addr := defaults[l.opt]
		if v, ok := env[envs[l.opt]]; ok {
			addr = v
		}
		if p := portOf(t, addr); p != "" && !exposed[p+"/"+l.proto] {
			t.Errorf("EXPOSE lacks %s/%s (%s %q)", p, strings.ToLower(l.proto), l.opt, addr)
		}
	}
}
