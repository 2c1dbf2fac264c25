package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestKubernetesManifests(t *testing.T) {
	objs := loadManifests(t)
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for kind, n := range map[string]int{"Namespace": 1, "ConfigMap": 1, "Secret": 1, "Deployment": 1, "Service": 4, "PodMonitor": 1, "Kustomization": 1} {
		if len(byKind[kind]) != n {
			t.Errorf("%s: %d %s, want %d", k8sDir, len(byKind[kind]), kind, n)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	ns := byKind["Namespace"][0].Metadata.Name
	for _, o := range objs {
		if o.Kind != "Namespace" && o.Kind != "Kustomization" && o.Metadata.Namespace != ns {
			t.Errorf("%s: %s %s is in namespace %q, want %q", o.file, o.Kind, o.Metadata.Name, o.Metadata.Namespace, ns)
		}
	}

	depObj := byKind["Deployment"][0]
	dep := decodeAs[deployment](t, depObj)
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", depObj.file, len(pod.Containers))
	}
	c := pod.Containers[0]
	podLabels := dep.Spec.Template.Metadata.Labels
	if !subset(dep.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("%s: selector %v does not match the pod's labels %v", depObj.file, dep.Spec.Selector.MatchLabels, podLabels)
	}
	// Streams live in one process's memory.
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != "Recreate" {
		t.Errorf("%s: want replicas 1 and strategy Recreate", depObj.file)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("%s: want enableServiceLinks: false (no Service variables in liveorigin's environment)", depObj.file)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: want automountServiceAccountToken: false", depObj.file)
	}

	// The effective configuration: flags beat the environment, which beats
	// the ConfigMap's file, which beats the daemon's defaults.
	fileOpts, cfgText := deploymentConfig(t, objs, c, pod.Volumes)
	defaults, envs := optionDefaults(t)
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	effective := func(opt string) string {
		for i, a := range c.Args {
			if a == "--"+opt && i+1 < len(c.Args) {
				return c.Args[i+1]
			}
			if v, ok := strings.CutPrefix(a, "--"+opt+"="); ok {
				return v
			}
		}
		if v, ok := env[envs[opt]]; ok && v != "" {
			return v
		}
		if v, ok := fileOpts[opt]; ok {
			return fmt.Sprint(v)
		}
		return defaults[opt]
	}

	// Every listener has its container port, and there are no others.
	want := map[string]string{} // "port/proto" → option
	for _, l := range listeners {
		p := portOf(t, effective(l.opt))
		if p == "" {
			continue
		}
		want[p+"/"+l.proto] = l.opt
		found := false
		for _, cp := range c.Ports {
			if strconv.Itoa(cp.ContainerPort) == p && protocolOr(cp.Protocol) == l.proto {
				found = true
				if cp.Name == "" {
					t.Errorf("%s: container port %s has no name", depObj.file, p)
				}
			}
		}
		if !found {
			t.Errorf("%s: no containerPort %s/%s for %s %q", depObj.file, p, l.proto, l.opt, effective(l.opt))
		}
	}
	for _, cp := range c.Ports {
		if want[strconv.Itoa(cp.ContainerPort)+"/"+protocolOr(cp.Protocol)] == "" {
			t.Errorf("%s: containerPort %s %d/%s is no listener of the configuration", depObj.file, cp.Name, cp.ContainerPort, protocolOr(cp.Protocol))
		}
	}
	adminAddr := effective("admin-addr")
	if host := strings.TrimSuffix(adminAddr, ":"+portOf(t, adminAddr)); host == "127.0.0.1" || host == "localhost" || host == "[::1]" {
		t.Errorf("%s: admin-addr %q is loopback: the probes and Prometheus cannot reach it", depObj.file, adminAddr)
	}
	adminPort, _ := strconv.Atoi(portOf(t, adminAddr))
	var admin containerPort
	for _, cp := range c.Ports {
		if cp.ContainerPort == adminPort {
			admin = cp
		}
	}

	// Probes on the admin port: readiness /readyz, liveness /healthz.
	for _, pr := range []struct {
		name, path string
		p          *probe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s: no %s httpGet", depObj.file, pr.name)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path {
			t.Errorf("%s: %s path %q, want %s", depObj.file, pr.name, pr.p.HTTPGet.Path, pr.path)
		}
		if p, ok := resolvePort(c.Ports, pr.p.HTTPGet.Port); !ok || p.ContainerPort != adminPort {
			t.Errorf("%s: %s port %q is not the admin port %d", depObj.file, pr.name, pr.p.HTTPGet.Port.Value, adminPort)
		}
	}

	// Kubernetes waits terminationGracePeriodSeconds after SIGTERM, then
	// kills: the daemon needs shutdown-timeout to drain.
	shutdown, err := time.ParseDuration(effective("shutdown-timeout"))
	if err != nil {
		t.Fatalf("shutdown-timeout: %v", err)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil {
		t.Errorf("%s: no terminationGracePeriodSeconds", depObj.file)
	} else if grace := time.Duration(*g) * time.Second; grace <= shutdown+5*time.Second {
		t.Errorf("%s: terminationGracePeriodSeconds %v leaves no margin over shutdown-timeout %v", depObj.file, grace, shutdown)
	}

	checkSecurityContext(t, depObj.file, pod.SecurityContext, c.SecurityContext)
	checkResources(t, depObj.file, c, env)

	// Secrets through the (example) Secret, optional.
	secret := byKind["Secret"][0]
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != secret.Metadata.Name {
		t.Errorf("%s: want envFrom the Secret %s", depObj.file, secret.Metadata.Name)
	}
	checkSecretExample(t, secret, envs)

	// Scrape annotations for annotation-based discovery.
	ann := dep.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(adminPort) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("%s: prometheus.io annotations %v, want scrape true, port %d, path /metrics", depObj.file, ann, adminPort)
	}

	checkServices(t, byKind["Service"], c.Ports, podLabels, admin, want)

	pmObj := byKind["PodMonitor"][0]
	pm := decodeAs[podMonitor](t, pmObj)
	if pmObj.APIVersion != "monitoring.coreos.com/v1" || !subset(pm.Spec.Selector.MatchLabels, podLabels) ||
		len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port != admin.Name || pm.Spec.PodMetricsEndpoints[0].Path != "/metrics" {
		t.Errorf("%s: want a monitoring.coreos.com/v1 PodMonitor selecting the pod, scraping port %q path /metrics: %+v", pmObj.file, admin.Name, pm.Spec)
	}
	if job := podLabels[pm.Spec.JobLabel]; !strings.Contains(job, "liveorigin") {
		t.Errorf("%s: jobLabel %q gives job %q: the alert rules look for a job containing \"liveorigin\"", pmObj.file, pm.Spec.JobLabel, job)
	}

	// The daemon starts with the ConfigMap's file and the container's
	// environment (GOMEMLIMIT included).
	dir := t.TempDir()
	path := filepath.Join(dir, "liveorigin.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	r := startDaemon(t, path, envList)
	if code, body := r.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
}

// deploymentConfig finds the config file the container is started with
// (--config), the ConfigMap mounted there, and parses it.
func deploymentConfig(t *testing.T, objs []k8sObject, c container, volumes []struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}) (map[string]any, string) {
	t.Helper()
	var file string
	for i, a := range c.Args {
		if a == "--config" && i+1 < len(c.Args) {
			file = c.Args[i+1]
		}
	}
	if file == "" {
		t.Fatalf("the container has no --config argument: %q", c.Args)
	}
	var cmName string
	for _, m := range c.VolumeMounts {
		if m.MountPath != path.Dir(file) {
			continue
		}
		for _, v := range volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				cmName = v.ConfigMap.Name
			}
		}
	}
	for _, o := range objs {
		if o.Kind != "ConfigMap" || o.Metadata.Name != cmName {
			continue
		}
		var cm struct {
			Data map[string]string `yaml:"data"`
		}
		if err := o.node.Decode(&cm); err != nil {
			t.Fatal(err)
		}
		text, ok := cm.Data[path.Base(file)]
		if !ok {
			t.Fatalf("%s: ConfigMap %s has no key %s for --config %s", o.file, cmName, path.Base(file), file)
		}
		var opts map[string]any
		if err := yaml.Unmarshal([]byte(text), &opts); err != nil {
			t.Fatalf("%s: %s: %v", o.file, path.Base(file), err)
		}
		return opts, text
	}
	t.Fatalf("--config %s: no ConfigMap volume mounted at %s", file, path.Dir(file))
	return nil, ""
}

// checkSecurityContext wants the pod non-root, unprivileged, read-only,
// without capabilities, under RuntimeDefault seccomp, and the user the
// Containerfile sets.
func checkSecurityContext(t *testing.T, file string, pod, c securityContext) {
	t.Helper()
	isTrue := func(c, p *bool) bool { return (c != nil && *c) || (c == nil && p != nil && *p) }
	isFalse := func(b *bool) bool { return b != nil && !*b }
	if !isTrue(c.RunAsNonRoot, pod.RunAsNonRoot) {
		t.Errorf("%s: want runAsNonRoot: true", file)
	}
	uid := c.RunAsUser
	if uid == nil {
		uid = pod.RunAsUser
	}
	var user string
	for _, in := range parseContainerfile(readRepoFile(t, containerfile)) {
		if in.cmd == "USER" {
			user, _, _ = strings.Cut(in.args, ":")
		}
	}
	if uid == nil {
		t.Errorf("%s: no runAsUser, want the image's USER %s", file, user)
	} else if *uid == 0 || strconv.Itoa(*uid) != user {
		t.Errorf("%s: runAsUser %d, want the image's USER %s", file, *uid, user)
	}
	if !isFalse(c.AllowPrivilegeEscalation) {
		t.Errorf("%s: want allowPrivilegeEscalation: false", file)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Errorf("%s: want readOnlyRootFilesystem: true", file)
	}
	if c.Privileged != nil && *c.Privileged {
		t.Errorf("%s: privileged", file)
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") || len(c.Capabilities.Add) > 0 {
		t.Errorf("%s: want capabilities drop [ALL] and none added", file)
	}
	if sp := c.SeccompProfile; (sp == nil || sp.Type != "RuntimeDefault") && (pod.SeccompProfile == nil || pod.SeccompProfile.Type != "RuntimeDefault") {
		t.Errorf("%s: want seccompProfile RuntimeDefault", file)
	}
}

// checkResources wants CPU and memory requests, a memory limit equal to
// the request, and a GOMEMLIMIT a little under the limit.
func checkResources(t *testing.T, file string, c container, env map[string]string) {
	t.Helper()
	r := c.Resources
	if r.Requests["cpu"] == "" || r.Requests["memory"] == "" || r.Limits["memory"] == "" {
		t.Errorf("%s: want cpu and memory requests and a memory limit, got %+v", file, r)
		return
	}
	limit, err := parseBytes(r.Limits["memory"])
	if err != nil {
		t.Fatalf("%s: limits.memory: %v", file, err)
	}
	req, err := parseBytes(r.Requests["memory"])
	if err != nil {
		t.Fatalf("%s: requests.memory: %v", file, err)
	}
	if req != limit {
		t.Errorf("%s: memory request %s != limit %s: the pod would be evicted first under memory pressure", file, r.Requests["memory"], r.Limits["memory"])
	}
	soft, err := parseBytes(env["GOMEMLIMIT"])
	if err != nil {
		t.Errorf("%s: GOMEMLIMIT: %v", file, err)
	} else if soft >= limit || soft < limit*7/10 {
		t.Errorf("%s: GOMEMLIMIT %s, want 70-99 %% of the memory limit %s", file, env["GOMEMLIMIT"], r.Limits["memory"])
	}
}

// checkSecretExample wants the Secret marked as an example, in a file so
// named, with keys the daemon reads.
func checkSecretExample(t *testing.T, o k8sObject, envs map[string]string) {
	t.Helper()
	if !strings.Contains(o.file, "example") || !strings.Contains(readRepoFile(t, path.Join(k8sDir, o.file)), "EXAMPLE") {
		t.Errorf("%s: the Secret must be in an *example* file and marked EXAMPLE", o.file)
	}
	var s struct {
		StringData map[string]string `yaml:"stringData"`
	}
	if err := o.node.Decode(&s); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, e := range envs {
		known[e] = true
	}
	if len(s.StringData["LIVEORIGIN_ADMIN_TOKEN"]) < 16 {
		t.Errorf("%s: LIVEORIGIN_ADMIN_TOKEN missing or under 16 characters (the daemon refuses it)", o.file)
	}
	for k := range s.StringData {
		if !known[k] {
			t.Errorf("%s: %s is not a liveorigin variable (liveorigin --help)", o.file, k)
		}
	}
}

// checkServices wants every listener but admin reachable through a
// Service, admin through a ClusterIP only, load balancers of one protocol,
// and every targetPort a container port of the same protocol.
func checkServices(t *testing.T, svcs []k8sObject, ports []containerPort, podLabels map[string]string, admin containerPort, want map[string]string) {
	t.Helper()
	exposed := map[string]string{} // "port/proto" → Service type
	for _, o := range svcs {
		s := decodeAs[service](t, o)
		if !subset(s.Spec.Selector, podLabels) {
			t.Errorf("%s: Service %s selector %v does not select the pod %v", o.file, o.Metadata.Name, s.Spec.Selector, podLabels)
		}
		typ := s.Spec.Type
		if typ == "" {
			typ = "ClusterIP"
		}
		protos := map[string]bool{}
		for _, sp := range s.Spec.Ports {
			cp, ok := resolvePort(ports, sp.TargetPort)
			if !ok {
				t.Errorf("%s: Service %s port %s: targetPort %q is no container port", o.file, o.Metadata.Name, sp.Name, sp.TargetPort.Value)
				continue
			}
			if protocolOr(sp.Protocol) != protocolOr(cp.Protocol) {
				t.Errorf("%s: Service %s port %s is %s, the container port %s", o.file, o.Metadata.Name, sp.Name, protocolOr(sp.Protocol), protocolOr(cp.Protocol))
			}
			if sp.Port != cp.ContainerPort {
				t.Errorf("%s: Service %s port %s: %d, container port %d (keep them equal: the docs' URLs use them)", o.file, o.Metadata.Name, sp.Name, sp.Port, cp.ContainerPort)
			}
			protos[protocolOr(sp.Protocol)] = true
			exposed[strconv.Itoa(cp.ContainerPort)+"/"+protocolOr(cp.Protocol)] = typ
			if cp.ContainerPort == admin.ContainerPort && typ != "ClusterIP" {
				t.Errorf("%s: Service %s exposes the admin port as %s: keep it ClusterIP", o.file, o.Metadata.Name, typ)
			}
		}
		if typ == "LoadBalancer" && len(protos) > 1 {
			t.Errorf("%s: Service %s mixes %v in one LoadBalancer (not every cloud supports it)", o.file, o.Metadata.Name, sortedKeys(protos))
		}
	}
	for p, opt := range want {
		typ, ok := exposed[p]
		switch {
		case !ok:
			t.Errorf("no Service exposes container port %s (%s)", p, opt)
		case strings.HasPrefix(opt, "rtmp-") || strings.HasPrefix(opt, "srt-") || strings.HasPrefix(opt, "rtsp-"):
			// Publishers come from outside the cluster.
			if typ != "LoadBalancer" {
				t.Errorf("%s (%s) is exposed as %s, want LoadBalancer", opt, p, typ)
			}
		}
	}
}

// TestKustomize renders deploy/kubernetes with kubectl's kustomize (offline)
// and expects the base without the example Secret and the PodMonitor.
func TestKustomize(t *testing.T) {
	kubectl := needTool(t, "kubectl", "https://kubernetes.io/docs/tasks/tools/")
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig") // never the user's cluster
	if err := os.WriteFile(kubeconfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(repoRoot(t), k8sDir))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, stderr.String())
	}
	objs, err := decodeYAMLDocs("kustomize output", out)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
	}
	slices.Sort(kinds)
	if want := []string{"ConfigMap", "Deployment", "Namespace", "Service", "Service", "Service", "Service"}; !slices.Equal(kinds, want) {
		t.Errorf("kubectl kustomize %s: kinds %v, want %v", k8sDir, kinds, want)
	}
}

// TestKubectlDryRun runs kubectl apply --dry-run=client, which needs an API
// server for discovery: only when asked, against the current context.
func TestKubectlDryRun(t *testing.T) {
	if os.Getenv("LIVEORIGIN_TEST_KUBECTL") != "1" {
		t.Skip("kubectl apply --dry-run=client needs a cluster's API server: set LIVEORIGIN_TEST_KUBECTL=1 to run it against the current kubectl context")
	}
	kubectl := needTool(t, "kubectl", "https://kubernetes.io/docs/tasks/tools/")
	dir := filepath.Join(repoRoot(t), k8sDir)
	for _, args := range [][]string{{"-k", dir}, {"-f", filepath.Join(dir, "secret.example.yaml")}} {
		if out, err := runTool("", kubectl, append([]string{"apply", "--dry-run=client"}, args...)...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
}
