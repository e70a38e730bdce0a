//go:build !slim

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/webhook"
)

// TestAdmittedSidecarStarts is the csv pod end to end, with real
// processes: `loglet webhook` behind a real kube-apiserver denies a pod
// asking for format csv without its columns, with a message naming the
// annotation and the fix; with loglet.io/csv-fields it admits it, and the
// sidecar it injected — the real `loglet agent` with exactly the injected
// arguments and environment, the downward-API values resolved as the
// kubelet would — becomes ready and ships a CSV line of the pod's log file
// with its columns as fields.
func TestAdmittedSidecarStarts(t *testing.T) {
	sink := filepath.Join(t.TempDir(), "hub.ndjson")
	wh, cl := startWebhookBehindAPIServer(t, "--sink", "file://"+sink)
	ctx := context.Background()
	csvPod := func(annotations map[string]string) *corev1.Pod {
		a := map[string]string{webhook.AnnotationInject: "true", webhook.AnnotationPaths: "app:/var/log/app/*.csv", webhook.AnnotationFormat: "csv"}
		for k, v := range annotations {
			a[k] = v
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: "shop", Labels: map[string]string{"app": "report"}, Annotations: a},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/example/report:3", Command: []string{"/report"}}}},
		}
	}

	// Without its columns the sidecar could not start: denied.
	err := cl.Create(ctx, csvPod(nil))
	const deny = "annotation loglet.io/format=csv needs loglet.io/csv-fields, the column names (e.g. time,level,msg)"
	if err == nil || !strings.Contains(err.Error(), deny) {
		t.Fatalf("create the csv pod without loglet.io/csv-fields: %v; want a denial saying %q\n%s", err, deny, lastLines(wh.stderr.String(), 20))
	}
	t.Logf("denied: %v", err)

	// With them: admitted, with the sidecar.
	pod := csvPod(map[string]string{webhook.AnnotationCSVFields: "time,level,msg"})
	if err := cl.Create(ctx, pod); err != nil {
		t.Fatalf("create the csv pod with loglet.io/csv-fields: %v\n%s", err, lastLines(wh.stderr.String(), 20))
	}
	var sc *corev1.Container
	for i, c := range pod.Spec.InitContainers {
		if c.Name == webhook.SidecarName {
			sc = &pod.Spec.InitContainers[i]
		}
	}
	if sc == nil {
		t.Fatalf("no sidecar injected: %+v", pod.Spec.InitContainers)
	}

	// Run what the kubelet would run. The shared volume is a temporary
	// folder instead of /var/loglet, so the paths in the document move
	// with it; the metrics port is a free one.
	vol := t.TempDir()
	appDir := filepath.Join(vol, "c", "app", "0") // the subPath the webhook mounts at /var/log/app
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The downward-API volume with the pod's labels.
	os.MkdirAll(filepath.Join(vol, "podinfo"), 0o755)
	os.WriteFile(filepath.Join(vol, "podinfo", "labels"), []byte("app=\"report\"\n"), 0o644)
	fields := map[string]string{"metadata.name": pod.Name, "metadata.namespace": pod.Namespace, "metadata.uid": string(pod.UID), "spec.nodeName": "node-a"}
	var agentEnv []string
	for _, e := range sc.Env {
		v := e.Value
		switch {
		case e.Name == webhook.ConfigEnv:
			v = strings.ReplaceAll(v, `"/var/loglet`, `"`+vol)
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			v = fields[e.ValueFrom.FieldRef.FieldPath]
		case e.ValueFrom.ResourceFieldRef != nil:
			v = strconv.FormatInt(sc.Resources.Limits.Memory().Value(), 10)
		}
		if v == "" {
			t.Fatalf("env %s: the test cannot resolve %+v", e.Name, e)
		}
		agentEnv = append(agentEnv, e.Name+"="+v)
	}
	agentEnv = append(agentEnv, "LOGLET_METRICS_ADDR=127.0.0.1:0")
	if sc.Args[0] != "agent" {
		t.Fatalf("the sidecar runs %q", sc.Args)
	}
	a := start(t, agentEnv, append(sc.Args, "--log-format", "json")...)
	addr := a.metricsAddr(t)
	poll.Until(t, 20*time.Second, "the sidecar to be ready (/readyz)", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// The app writes a CSV line to /var/log/app/report.csv.
	line := "2026-12-01T15:04:05Z,warn,disk almost full\n"
	if err := os.WriteFile(filepath.Join(appDir, "report.csv"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	poll.Until(t, 20*time.Second, "the CSV line to reach the sink", func() bool {
		rec = findRecord(t, sink, "report.csv")
		return rec != nil
	})
	attrs, _ := rec["attributes"].(map[string]any)
	res, _ := rec["resource"].(map[string]any)
	if attrs["time"] != "2026-12-01T15:04:05Z" || attrs["level"] != "warn" || attrs["msg"] != "disk almost full" || rec["severity"] != "WARN" {
		t.Errorf("record %v: want fields time, level and msg from the CSV columns, severity WARN", rec)
	}
	if res["k8s.pod.name"] != "report" || res["k8s.namespace.name"] != "shop" || res["k8s.pod.uid"] != string(pod.UID) ||
		res["k8s.container.name"] != "app" || res["k8s.pod.label.app"] != "report" {
		t.Errorf("record resource %v: want the pod's identity", res)
	}
}

// findRecord is the first record of the NDJSON file at path read from a
// file whose path ends in suffix, or nil.
func findRecord(t *testing.T, path, suffix string) map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			continue // a record still being written
		}
		attrs, _ := rec["attributes"].(map[string]any)
		if p, _ := attrs["log.file.path"].(string); strings.HasSuffix(p, suffix) {
			return rec
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(fmt.Errorf("read %s: %w", path, err))
	}
	return nil
}
