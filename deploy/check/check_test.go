package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// deployDir is deploy/, from this package's directory.
const deployDir = ".."

// defaultDrain is serve's --shutdown-timeout default: how long calls in
// progress may take to finish after SIGTERM.
const defaultDrain = 2 * time.Minute

// metricsPort is where qualdial serves /metrics (QUALDIAL_METRICS_ADDR) in
// every deployment, and where Prometheus scrapes it.
const metricsPort = 9464

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// drainOf is the call drain an environment gives serve.
func drainOf(t *testing.T, env map[string]string) time.Duration {
	t.Helper()
	v := env["QUALDIAL_SHUTDOWN_TIMEOUT"]
	if v == "" {
		return defaultDrain
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("QUALDIAL_SHUTDOWN_TIMEOUT=%q is not a positive duration", v)
	}
	return d
}

// checkRTP: the RTP range is set, and holds an even port (one per call) for
// every call the process places at once.
func checkRTP(t *testing.T, where string, env map[string]string) (lo, hi int) {
	t.Helper()
	lo, err1 := strconv.Atoi(env["QUALDIAL_RTP_PORT_MIN"])
	hi, err2 := strconv.Atoi(env["QUALDIAL_RTP_PORT_MAX"])
	if err1 != nil || err2 != nil || lo < 1024 || hi > 65535 || lo > hi {
		t.Fatalf("%s: QUALDIAL_RTP_PORT_MIN/MAX %q-%q: want a fixed range of unprivileged ports", where, env["QUALDIAL_RTP_PORT_MIN"], env["QUALDIAL_RTP_PORT_MAX"])
	}
	maxCalls := 100 // serve's --max-calls default
	if v := env["QUALDIAL_MAX_CALLS"]; v != "" {
		if maxCalls, err1 = strconv.Atoi(v); err1 != nil {
			t.Fatalf("%s: QUALDIAL_MAX_CALLS=%q", where, v)
		}
	}
	even := (hi-(lo+lo%2))/2 + 1
	if even < maxCalls {
		t.Errorf("%s: RTP ports %d-%d hold %d calls (one even port each), fewer than QUALDIAL_MAX_CALLS %d", where, lo, hi, even, maxCalls)
	}
	return lo, hi
}

// checkSIP: SIP listens on every interface on 5060, and serve knows the
// address the trunk reaches (set, or said to be set).
func checkSIP(t *testing.T, where string, env map[string]string) {
	t.Helper()
	if got := env["QUALDIAL_SIP_LISTEN"]; got != "0.0.0.0:5060" {
		t.Errorf("%s: QUALDIAL_SIP_LISTEN=%q, want 0.0.0.0:5060 (reachable by the trunk)", where, got)
	}
}

func portOf(t *testing.T, where, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("%s: %q is not host:port", where, addr)
	}
	return n
}

// ---- Kubernetes ----

// kustomization is the part of kustomize's Kustomization these manifests
// use (decoded strictly: anything else is a mistake here).
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
		Digest  string `json:"digest"`
	} `json:"images"`
}

// manifests are the decoded objects of deploy/k8s.
type manifests struct {
	kustomization  kustomization
	namespaces     []corev1.Namespace
	secrets        []corev1.Secret
	deployments    []appsv1.Deployment
	services       []corev1.Service
	pdbs           []policyv1.PodDisruptionBudget
	serviceMonitor []monitoringv1.ServiceMonitor
	rules          []monitoringv1.PrometheusRule
	files          map[string]bool // file names holding objects
}

// decodeInto decodes one document strictly and appends it to list.
func decodeInto[T any](t *testing.T, where string, doc []byte, list *[]T) {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	*list = append(*list, v)
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{files: map[string]bool{}}
	paths, err := filepath.Glob(filepath.Join(deployDir, "k8s", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in deploy/k8s: %v", err)
	}
	for _, path := range paths {
		name := filepath.Base(path)
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(src), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("k8s/%s document %d", name, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			where += " (" + tm.APIVersion + " " + tm.Kind + ")"
			m.files[name] = true
			b := []byte(doc)
			switch tm.APIVersion + " " + tm.Kind {
			case "kustomize.config.k8s.io/v1beta1 Kustomization":
				if err := yaml.UnmarshalStrict(b, &m.kustomization); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			case "v1 Namespace":
				decodeInto(t, where, b, &m.namespaces)
			case "v1 Secret":
				decodeInto(t, where, b, &m.secrets)
			case "v1 Service":
				decodeInto(t, where, b, &m.services)
			case "apps/v1 Deployment":
				decodeInto(t, where, b, &m.deployments)
			case "policy/v1 PodDisruptionBudget":
				decodeInto(t, where, b, &m.pdbs)
			case "monitoring.coreos.com/v1 ServiceMonitor":
				decodeInto(t, where, b, &m.serviceMonitor)
			case "monitoring.coreos.com/v1 PrometheusRule":
				decodeInto(t, where, b, &m.rules)
			default:
				t.Errorf("%s: a kind this check does not know: add it here so it is validated", where)
			}
		}
	}
	return m
}

func stripComments(doc string) string {
	var out []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// selects says whether a selector's labels are all among labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	if t.Failed() {
		t.FailNow()
	}

	// kustomization.yaml applies every manifest but the Secret example.
	k := m.kustomization
	if k.Kind != "Kustomization" || k.Namespace == "" {
		t.Fatalf("kustomization.yaml: %+v", k)
	}
	for name := range m.files {
		listed := slices.Contains(k.Resources, name)
		switch {
		case name == "kustomization.yaml":
		case name == "secret.example.yaml" && listed:
			t.Errorf("kustomization.yaml applies secret.example.yaml: its placeholders would become the real Secret")
		case name != "secret.example.yaml" && !listed:
			t.Errorf("kustomization.yaml does not list %s", name)
		}
	}
	for _, r := range k.Resources {
		if !m.files[r] {
			t.Errorf("kustomization.yaml lists %s, which is not a manifest in deploy/k8s", r)
		}
	}

	if len(m.deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(m.deployments))
	}
	d := m.deployments[0]
	pod := d.Spec.Template
	if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Fatalf("Deployment selector %v does not select its pods' labels %v", d.Spec.Selector, pod.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			env[e.Name] = "(from " + e.Name + ")"
		}
	}
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("container args %q, want [serve]", c.Args)
	}

	drain := drainOf(t, env)
	grace := time.Duration(0)
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= drain {
		t.Errorf("terminationGracePeriodSeconds %s is not above serve's drain %s: calls would be killed on every rollout", grace, drain)
	}

	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		if p.Name == "" {
			t.Errorf("container port %d has no name", p.ContainerPort)
		}
		ports[p.Name] = p
	}
	if p := ports["http"]; p.ContainerPort == 0 || int(p.ContainerPort) != portOf(t, "QUALDIAL_HTTP_ADDR", env["QUALDIAL_HTTP_ADDR"]) {
		t.Errorf("container port http %d is not QUALDIAL_HTTP_ADDR %q", p.ContainerPort, env["QUALDIAL_HTTP_ADDR"])
	}
	if p := ports["metrics"]; p.ContainerPort != metricsPort || portOf(t, "QUALDIAL_METRICS_ADDR", env["QUALDIAL_METRICS_ADDR"]) != metricsPort {
		t.Errorf("container port metrics %d, QUALDIAL_METRICS_ADDR %q: want %d", p.ContainerPort, env["QUALDIAL_METRICS_ADDR"], metricsPort)
	}
	if p := ports["sip"]; p.ContainerPort != 5060 || p.Protocol != corev1.ProtocolUDP {
		t.Errorf("container port sip: %+v, want 5060/UDP", p)
	}
	for name, probe := range map[string]struct {
		p    *corev1.Probe
		path string
	}{"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
		if probe.p == nil || probe.p.HTTPGet == nil || probe.p.HTTPGet.Path != probe.path || probe.p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v: want GET %s on port http", name, probe.p, probe.path)
		}
	}
	checkSIP(t, "Deployment", env)
	if env["QUALDIAL_SIP_PUBLIC_HOST"] == "" {
		t.Errorf("Deployment: QUALDIAL_SIP_PUBLIC_HOST not set")
	}
	checkRTP(t, "Deployment", env)
	if pod.Spec.HostNetwork {
		if pod.Spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("hostNetwork with dnsPolicy %q: want ClusterFirstWithHostNet to resolve cluster names", pod.Spec.DNSPolicy)
		}
		a := pod.Spec.Affinity
		if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 ||
			a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
			t.Errorf("hostNetwork without a required anti-affinity per node: two pods on a node would fight for 5060 and the RTP ports")
		}
		if s := d.Spec.Strategy.RollingUpdate; s == nil || s.MaxSurge == nil || s.MaxSurge.IntValue() != 0 {
			t.Errorf("hostNetwork with a rolling update that surges: the new pod cannot take the ports the draining one holds on its node")
		}
	}
	if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container may escalate privileges")
	}
	if psc := pod.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod may run as root")
	}
	// Uploads are spooled to the temporary directory: on a read-only root
	// it must be a volume, or every import fails.
	if sc := c.SecurityContext; sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		tmp := ""
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == "/tmp" {
				tmp = vm.Name
			}
		}
		ok := false
		for _, v := range pod.Spec.Volumes {
			ok = ok || (v.Name == tmp && v.EmptyDir != nil)
		}
		if !ok {
			t.Errorf("read-only root filesystem without an emptyDir on /tmp: call-list uploads cannot be spooled")
		}
	}
	// The Prometheus Operator names the scrape job after the Service unless
	// told otherwise: the alert rules and the dashboard say job="qualdial".
	for _, sm := range m.serviceMonitor {
		job := ""
		for _, svc := range m.services {
			if selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
				job = svc.Labels[sm.Spec.JobLabel]
			}
		}
		if sm.Spec.JobLabel == "" || job != "qualdial" {
			t.Errorf("ServiceMonitor %s: jobLabel %q gives job %q: the alert rules and the dashboard select job=\"qualdial\" (without jobLabel the job is the Service's name)",
				sm.Name, sm.Spec.JobLabel, job)
		}
	}

	// The Secret example holds the database URL, and the Deployment reads it.
	secretNames := map[string]bool{}
	for _, e := range c.EnvFrom {
		if e.SecretRef != nil {
			secretNames[e.SecretRef.Name] = true
		}
	}
	if len(m.secrets) != 1 || !secretNames[m.secrets[0].Name] || m.secrets[0].StringData["QUALDIAL_DATABASE_URL"] == "" {
		t.Errorf("the Secret example must hold QUALDIAL_DATABASE_URL and be the Secret the Deployment reads (envFrom %v)", slices.Collect(maps.Keys(secretNames)))
	}

	if len(m.pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(m.pdbs))
	}
	pdb := m.pdbs[0]
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, pod.Labels) {
		t.Errorf("PodDisruptionBudget selector %v does not select the Deployment's pods %v", pdb.Spec.Selector, pod.Labels)
	}
	if (pdb.Spec.MaxUnavailable == nil) == (pdb.Spec.MinAvailable == nil) {
		t.Errorf("PodDisruptionBudget: set one of maxUnavailable and minAvailable")
	}

	// Services select the pods and name container ports; the ServiceMonitor
	// scrapes a Service port that leads to the metrics port.
	for _, s := range m.services {
		if !selects(s.Spec.Selector, pod.Labels) {
			t.Errorf("Service %s selector %v does not select the Deployment's pods", s.Name, s.Spec.Selector)
		}
		for _, p := range s.Spec.Ports {
			if p.Name == "" {
				t.Errorf("Service %s port %d has no name", s.Name, p.Port)
			}
			if _, ok := ports[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s port %s targets %q, not a named container port", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	if len(m.serviceMonitor) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(m.serviceMonitor))
	}
	sm := m.serviceMonitor[0]
	scraped := 0
	for _, s := range m.services {
		if !selects(sm.Spec.Selector.MatchLabels, s.Labels) {
			continue
		}
		for _, ep := range sm.Spec.Endpoints {
			for _, p := range s.Spec.Ports {
				if ep.Port == p.Name {
					if ports[p.TargetPort.String()].ContainerPort != metricsPort || (ep.Path != "" && ep.Path != "/metrics") {
						t.Errorf("ServiceMonitor scrapes %s:%s%s, which is not the metrics port %d /metrics", s.Name, p.Name, ep.Path, metricsPort)
					}
					scraped++
				}
			}
		}
	}
	if scraped != 1 {
		t.Errorf("ServiceMonitor endpoints match %d Service ports, want exactly the metrics one", scraped)
	}
}

// ---- docker compose ----

type composeFile struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Command     []string          `json:"command"`
		Environment map[string]string `json:"environment"`
		Ports       []string          `json:"ports"`
		Healthcheck struct {
			Test []string `json:"test"`
		} `json:"healthcheck"`
		Restart         string   `json:"restart"`
		StopGracePeriod string   `json:"stop_grace_period"`
		Profiles        []string `json:"profiles"`
		Volumes         []string `json:"volumes"`
	} `json:"services"`
}

// composeVar is a ${VAR}, ${VAR:-default} or ${VAR-default} reference.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}`)

// TestComposeConfig: docker-compose accepts the file (with and without the
// observability profile); it needs no Docker engine. CI must have it.
func TestComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-compose is not installed (apt-get install docker-compose)")
		}
		t.Skip("docker-compose is not installed")
	}
	for _, args := range [][]string{
		{"-f", filepath.Join(deployDir, "compose.yaml"), "config", "-q"},
		{"-f", filepath.Join(deployDir, "compose.yaml"), "--profile", "observability", "config", "-q"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME=qualdial-check")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusRuleIsAlertsYml: the Operator's PrometheusRule holds the
// same groups as deploy/observability/alerts.yml (which promtool tests).
func TestPrometheusRuleIsAlertsYml(t *testing.T) {
	m := loadManifests(t)
	if len(m.rules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(m.rules))
	}
	raw, err := os.ReadFile(filepath.Join(deployDir, "observability", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var alerts struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(raw, &alerts); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	got, _ := json.Marshal(m.rules[0].Spec.Groups)
	want, _ := json.Marshal(alerts.Groups)
	if string(got) != string(want) || len(alerts.Groups) == 0 {
		t.Errorf("deploy/k8s/prometheusrule.yaml and deploy/observability/alerts.yml differ:\n%s\n%s", got, want)
	}
}

// TestAlertRules checks the alert rules with Prometheus's own tool and
// runs their unit tests (observability/alerts_test.yml): the alerts fire
// on the series that should fire them, on Prometheus 2's and 3's bucket
// labels.
func TestAlertRules(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	dir := filepath.Join(deployDir, "observability")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestComposeInvariants(t *testing.T) {
	var f composeFile
	if err := yaml.Unmarshal(readFile(t, "compose.yaml"), &f); err != nil {
		t.Fatal(err)
	}
	q, ok := f.Services["qualdial"]
	if !ok {
		t.Fatal("no qualdial service")
	}
	env := map[string]string{}
	for k, v := range q.Environment {
		env[k] = composeVar.ReplaceAllString(v, "$2")
	}
	drain := drainOf(t, env)
	if g, err := time.ParseDuration(q.StopGracePeriod); err != nil || g <= drain {
		t.Errorf("stop_grace_period %q is not above serve's drain %s: docker would kill calls in progress", q.StopGracePeriod, drain)
	}
	if !slices.Equal(q.Healthcheck.Test, []string{"CMD", "qualdial", "healthcheck"}) {
		t.Errorf("healthcheck %q, want [CMD qualdial healthcheck] (the image has no shell)", q.Healthcheck.Test)
	}
	if q.Restart != "unless-stopped" && q.Restart != "always" {
		t.Errorf("restart %q: want unless-stopped", q.Restart)
	}
	if !slices.Equal(q.Command, []string{"serve"}) {
		t.Errorf("command %q, want [serve]", q.Command)
	}
	checkSIP(t, "compose", env)
	if env["QUALDIAL_SIP_PUBLIC_HOST"] == "" {
		t.Errorf("compose: QUALDIAL_SIP_PUBLIC_HOST has no default")
	}
	if portOf(t, "QUALDIAL_METRICS_ADDR", env["QUALDIAL_METRICS_ADDR"]) != metricsPort {
		t.Errorf("QUALDIAL_METRICS_ADDR %q: want :%d (Prometheus scrapes qualdial:%d)", env["QUALDIAL_METRICS_ADDR"], metricsPort, metricsPort)
	}
	lo, hi := checkRTP(t, "compose", env)
	httpPort := portOf(t, "QUALDIAL_HTTP_ADDR", env["QUALDIAL_HTTP_ADDR"])
	for _, want := range []string{
		fmt.Sprintf("%d:%d/tcp", httpPort, httpPort),
		"5060:5060/udp",
		// RTP ports are not translated: SDP announces the container's own.
		fmt.Sprintf("%d-%d:%d-%d/udp", lo, hi, lo, hi),
	} {
		if !slices.Contains(q.Ports, want) {
			t.Errorf("ports %q do not publish %s", q.Ports, want)
		}
	}
	if !strings.HasPrefix(env["QUALDIAL_DATABASE_URL"], "postgres://") || !strings.Contains(env["QUALDIAL_DATABASE_URL"], "@postgres:5432/") {
		t.Errorf("QUALDIAL_DATABASE_URL %q does not point at the postgres service", env["QUALDIAL_DATABASE_URL"])
	}

	// The observability profile mounts the lead's Prometheus and Grafana
	// files; once deploy/observability exists, every mounted path must.
	for _, name := range []string{"prometheus", "grafana"} {
		s, ok := f.Services[name]
		if !ok || !slices.Equal(s.Profiles, []string{"observability"}) {
			t.Errorf("service %s missing or not in the observability profile only: %v", name, s.Profiles)
		}
		if _, err := os.Stat(filepath.Join(deployDir, "observability")); err != nil {
			continue
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(deployDir, "observability", "prometheus.yml")); err == nil {
		if target := fmt.Sprintf("qualdial:%d", metricsPort); !bytes.Contains(b, []byte(target)) {
			t.Errorf("observability/prometheus.yml does not scrape %s", target)
		}
	}
}

// ---- Dockerfile ----

func TestDockerfile(t *testing.T) {
	src := string(readFile(t, "Dockerfile"))
	var stages []string // the final stage last
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, "")
		}
		if len(stages) > 0 {
			stages[len(stages)-1] += line + "\n"
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a build stage and a final stage, got %d stages", len(stages))
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final, "FROM gcr.io/distroless/static") {
		t.Errorf("the default image (last stage) is not distroless/static: %s", strings.SplitN(final, "\n", 2)[0])
	}
	speech := false
	for _, st := range stages {
		from := strings.SplitN(st, "\n", 2)[0]
		if strings.HasSuffix(from, " AS speech") {
			speech = strings.Contains(st, "espeak-ng")
		}
		if strings.HasSuffix(from, " AS build") {
			continue
		}
		for _, want := range []string{
			`HEALTHCHECK `, `CMD ["qualdial", "healthcheck"]`, `ENTRYPOINT ["/usr/local/bin/qualdial"]`, `CMD ["serve"]`, "USER 65532",
		} {
			if !strings.Contains(st, want) {
				t.Errorf("stage %q lacks %s", from, want)
			}
		}
	}
	if !speech {
		t.Errorf("no stage named speech with espeak-ng")
	}
	if !strings.Contains(src, "prompts render") {
		t.Errorf("the build stage does not pre-render prompts")
	}
	ignore := string(readFile(t, filepath.Join("..", ".dockerignore")))
	for _, want := range []string{".git", ".env"} {
		if !slices.Contains(strings.Fields(ignore), want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

// ---- systemd ----

func TestSystemdUnit(t *testing.T) {
	src := string(readFile(t, "qualdial.service"))
	settings := map[string][]string{}
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	one := func(k string) string {
		if len(settings[k]) != 1 {
			t.Errorf("%s= set %d times, want once", k, len(settings[k]))
			return ""
		}
		return settings[k][0]
	}
	env := map[string]string{}
	for _, v := range settings["Environment"] {
		for _, kv := range strings.Fields(v) {
			k, val, _ := strings.Cut(kv, "=")
			env[k] = val
		}
	}
	drain := drainOf(t, env)
	if s, err := strconv.Atoi(one("TimeoutStopSec")); err != nil || time.Duration(s)*time.Second <= drain {
		t.Errorf("TimeoutStopSec=%s is not above serve's drain %s: systemd would kill calls in progress", one("TimeoutStopSec"), drain)
	}
	if one("KillSignal") != "SIGTERM" || one("KillMode") != "mixed" {
		t.Errorf("KillSignal=%s KillMode=%s: want SIGTERM to serve alone (mixed)", one("KillSignal"), one("KillMode"))
	}
	if one("ExecStart") != "/usr/local/bin/qualdial serve" {
		t.Errorf("ExecStart=%s", one("ExecStart"))
	}
	user := one("User")
	if user == "" || user == "root" || !strings.Contains(src, "useradd --system") || !strings.Contains(src, " "+user+"\n") {
		t.Errorf("User=%s: the header must create it with useradd --system", user)
	}
	checkSIP(t, "qualdial.service", env)
	if !strings.Contains(src, "QUALDIAL_SIP_PUBLIC_HOST=") {
		t.Errorf("qualdial.service does not say to set QUALDIAL_SIP_PUBLIC_HOST")
	}
	lo, hi := checkRTP(t, "qualdial.service", env)
	if !strings.Contains(src, fmt.Sprintf("%d-%d/udp", lo, hi)) {
		t.Errorf("qualdial.service does not tell to open the RTP ports %d-%d/udp", lo, hi)
	}
	if v := env["QUALDIAL_METRICS_ADDR"]; portOf(t, "QUALDIAL_METRICS_ADDR", v) != metricsPort {
		t.Errorf("QUALDIAL_METRICS_ADDR=%s: want port %d", v, metricsPort)
	}
}

// The compose file is decoded by sigs.k8s.io/yaml through JSON: make sure
// an environment given as a list (KEY=value) is not silently read as empty.
func TestComposeEnvironmentIsAMap(t *testing.T) {
	var raw map[string]any
	if err := yaml.Unmarshal(readFile(t, "compose.yaml"), &raw); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(raw["services"].(map[string]any)["qualdial"].(map[string]any)["environment"])
	if !bytes.HasPrefix(b, []byte("{")) {
		t.Fatalf("qualdial's environment is not a map: %s", b)
	}
}
