package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/e2e/virtualnode"
	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/poll"
)

// otlpImage stands for an app that logs through the OpenTelemetry SDK:
// the virtual node runs otlpapp (built by the test) for it.
const otlpImage = "registry.example/shop/checkout:2.0.1"

// otlpListen is where the webhook's loglet.io/inputs: otlp has the
// sidecar listen (webhook.PushInputs), a fixed port on the pod's loopback.
const otlpListen = "127.0.0.1:4318"

// TestOTLPPodToHub is scenario 9 (issue 20, must show 7): a pod on the
// virtual node opts in with loglet.io/inputs: otlp; its app logs with the
// OpenTelemetry Go SDK and finds its sidecar only through the variable
// the webhook set (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT). Every record reaches
// the hub once, with its body, severity, attribute, trace and span ids and
// scope, the SDK's resource (service.name from OTEL_SERVICE_NAME) and the
// pod's identity, which the sidecar adds.
//
// Pods share the machine's network here, so the sidecar's fixed port 4318
// is the machine's. Nothing else in the run listens there: the tests of
// this package run one after the other (none calls t.Parallel), each
// test's virtual node kills its pods' processes and waits for them before
// the next test starts, no other scenario asks for push inputs, and the
// ports the harness picks (freeport, the kernel's ephemeral range) lie
// above it. Another program on the machine could hold it: the test checks
// first, and says so, rather than failing later on a sidecar that cannot
// bind.
func TestOTLPPodToHub(t *testing.T) {
	if ln, err := net.Listen("tcp", otlpListen); err != nil {
		t.Fatalf("%s is taken on this machine (%v): the otlp sidecar listens there, on the network pods share with the machine here; stop what holds it", otlpListen, err)
	} else {
		ln.Close()
	}
	app := filepath.Join(t.TempDir(), "otlpapp")
	if out, err := exec.Command("go", "build", "-o", app, "github.com/loglet/loglet/e2e/otlpapp").CombinedOutput(); err != nil {
		t.Fatalf("build otlpapp: %v\n%s", err, out)
	}
	s := startServerless(t)
	s.node.Images[otlpImage] = []string{app}
	ctx := context.Background()
	const n = 1000
	// stdout off: the OTLP input is all the sidecar reads, so the hub
	// must hold the app's records and nothing else (not its "sent" line).
	created, err := s.Client.CoreV1().Pods(testNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Labels: map[string]string{"app": "checkout"}, Annotations: map[string]string{
			"loglet.io/inject": "true", "loglet.io/inputs": "otlp", "loglet.io/stdout": "off"}},
		Spec: corev1.PodSpec{
			Tolerations:                   []corev1.Toleration{virtualnode.Toleration},
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			// No command: the image's, which the node maps to otlpapp.
			Containers: []corev1.Container{{Name: "app", Image: otlpImage, Args: []string{"-n", strconv.Itoa(n)},
				Env: []corev1.EnvVar{{Name: "OTEL_SERVICE_NAME", Value: "checkout"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.describe(t, "app=checkout")
		}
	})
	if created.Annotations["loglet.io/status"] != "injected" {
		t.Fatalf("pod not injected: %v", created.Annotations)
	}
	endpoint := ""
	for _, e := range created.Spec.Containers[0].Env {
		if e.Name == "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT" {
			endpoint = e.Value
		}
	}
	if want := "http://" + otlpListen + "/v1/logs"; endpoint != want {
		t.Fatalf("the app's OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is %q, want %q set by the webhook", endpoint, want)
	}

	// From the app running (its container's status, as the node reports
	// it) to its last record at the hub.
	poll.Until(t, 60*time.Second, "the app to run on the virtual node", func() bool {
		p, err := s.Client.CoreV1().Pods(testNamespace).Get(ctx, "checkout", metav1.GetOptions{})
		return err == nil && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	running := time.Now()
	var recs map[string]query.Record
	var counts map[string]int
	poll.Until(t, 60*time.Second, fmt.Sprintf("the app's %d records at the hub", n), func() bool {
		recs, counts = s.stored(t)
		return len(recs) >= n
	})
	allAtHub := time.Since(running)

	severities := []string{"INFO", "WARN", "ERROR"}
	var written []string
	bad := 0
	for i := range n {
		body := fmt.Sprintf("otlp record %d", i)
		written = append(written, body)
		r, ok := recs[body]
		if !ok {
			t.Errorf("%q is not at the hub", body)
			bad++
		} else if problem := otlpRecordProblem(r, i, severities[i%3], string(created.UID)); problem != "" {
			t.Errorf("%q: %s; record %s", body, problem, r.Raw)
			bad++
		} else if counts[body] != 1 {
			t.Errorf("%q stored %d times, want once", body, counts[body])
			bad++
		}
		if bad >= 5 {
			t.FailNow()
		}
	}
	for body := range recs {
		if !strings.HasPrefix(body, "otlp record ") {
			t.Errorf("the hub holds %q, which the app did not send over OTLP (stdout: off)", body)
		}
	}
	// The SDK was told the records were taken (its flush returned nil)
	// once, and neither container restarted: nothing was sent twice.
	p, err := s.Client.CoreV1().Pods(testNamespace).Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if cs.RestartCount > 0 {
			t.Errorf("container %s restarted %d times, want none", cs.Name, cs.RestartCount)
		}
	}
	if out := s.tail(testNamespace, "checkout", "app", false); !strings.Contains(out, fmt.Sprintf("sent %d records", n)) {
		t.Errorf("the app's output does not say its flush succeeded:\n%s", out)
	}
	// The test sees the app running only after the node reported it, by
	// which time the app may have sent everything; the records' own times
	// (the SDK's, at Emit) to the hub storing them say more.
	var first time.Time
	var last time.Time
	for _, r := range recs {
		if at, err := time.Parse(time.RFC3339Nano, r.Time); err == nil && (first.IsZero() || at.Before(first)) {
			first = at
		}
		if r.Stored.After(last) {
			last = r.Stored
		}
	}
	r0 := recs["otlp record 0"]
	t.Logf("%d OTLP records at the hub; record 0: resource %v, attributes %v", n, r0.Resource, r0.Attributes)
	s.addReport(t, "9 OTLP from the app's SDK to its sidecar", written)
	addNote(t, "9 OTLP: time to the last record at the hub", fmt.Sprintf("%v from the app seen running, %v from its first Emit",
		allAtHub.Round(time.Millisecond), last.Sub(first).Round(time.Millisecond)))
}

// otlpRecordProblem says what is wrong with the hub's copy of otlpapp's
// record i (empty: nothing): the record as the SDK emitted it, the SDK's
// resource, and the identity of the pod it came from.
func otlpRecordProblem(r query.Record, i int, severity, podUID string) string {
	if r.Severity != severity {
		return fmt.Sprintf("severity %q, want %q", r.Severity, severity)
	}
	attrs := map[string]any{
		"loglet.input":    "otlp",
		"record.index":    float64(i),
		"trace_id":        fmt.Sprintf("4bf92f3577b34da6a3ce929d%08x", i),
		"span_id":         fmt.Sprintf("00f067aa%08x", i+1),
		"otel.scope.name": "shop/checkout",
	}
	for k, want := range attrs {
		if got := r.Attributes[k]; got != want {
			return fmt.Sprintf("attribute %s = %v, want %v", k, got, want)
		}
	}
	res := map[string]string{
		// The SDK's own resource, as it sent it.
		"service.name":           "checkout",
		"telemetry.sdk.language": "go",
		"telemetry.sdk.name":     "opentelemetry",
		// The pod's identity, which the sidecar adds.
		"k8s.namespace.name": testNamespace,
		"k8s.pod.name":       "checkout",
		"k8s.pod.uid":        podUID,
		"k8s.node.name":      "virtual-1",
		"k8s.pod.label.app":  "checkout",
	}
	for k, want := range res {
		if got := r.Resource[k]; got != want {
			return fmt.Sprintf("resource %s = %q, want %q", k, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
		return fmt.Sprintf("time %q: %v", r.Time, err)
	}
	return ""
}
