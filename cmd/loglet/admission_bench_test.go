//go:build !slim

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/internal/kubetest"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/webhook"
)

// countingTransport counts the requests a client sends the API server.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// BenchmarkAdmissionLogConfigs is the pod webhook's admission latency
// (issue 21, must-show 5) with none and with 100 LogConfigs in the pod's
// namespace (none of them selecting the pod, then one): the handler over HTTPS as the
// API server calls it, the LogConfigs read from a controller-runtime
// informer cache on a real kube-apiserver (envtest, with the chart's
// CRDs), as `loglet webhook` reads them. Each case admits at a steady
// 500 pods/s for 4 s (p50 and p99; the 2 cores here, shared, do not keep
// 2,000/s of these 10-container pods), and counts the requests the
// webhook's clients send the API server meanwhile: none, however many
// LogConfigs there are.
//
//	KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./cmd/loglet -run '^$' -bench AdmissionLogConfigs -benchtime 1x
func BenchmarkAdmissionLogConfigs(b *testing.B) {
	crds := func(env *envtest.Environment) {
		env.CRDDirectoryPaths = []string{filepath.Join("..", "..", "charts", "loglet", "crds")}
		env.ErrorIfCRDPathMissing = true
	}
	_, restCfg := kubetest.Start(b, crds)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		b.Fatal(err)
	}
	admin, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		b.Fatal(err)
	}

	// The webhook's clients, counted.
	var calls atomic.Int64
	whCfg := rest.CopyConfig(restCfg)
	whCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, &calls} })
	informers, err := cache.New(whCfg, cache.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	for _, obj := range []client.Object{&v1alpha1.LogConfig{}, &v1alpha1.ClusterLogConfig{}} {
		if _, err := informers.GetInformer(ctx, obj); err != nil {
			b.Fatal(err)
		}
	}
	go informers.Start(ctx)
	if !informers.WaitForCacheSync(ctx) {
		b.Fatal("the informers did not sync")
	}
	reader, err := client.New(whCfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	source := webhook.LogConfigsFrom(informers)
	handler := webhook.NewHandler(webhook.DefaultConfig(), webhook.NamespaceLabelsFrom(reader), source, prometheus.NewRegistry())
	srv := httptest.NewTLSServer(&admission.Webhook{Handler: handler})
	defer srv.Close()

	// The pod of the webhook package's BenchmarkAdmission: ten
	// containers, each with a log folder.
	a := map[string]string{webhook.AnnotationInject: "true"}
	var containers []corev1.Container
	var paths []string
	for i := range 10 {
		containers = append(containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: "app:1"})
		paths = append(paths, fmt.Sprintf("c%d:/var/log/c%d/*.log", i, i))
	}
	a[webhook.AnnotationPaths] = strings.Join(paths, ",")
	review := func(app string) []byte {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Labels: map[string]string{"app": app}, Annotations: a},
			Spec: corev1.PodSpec{Containers: containers}}
		raw, err := json.Marshal(pod)
		if err != nil {
			b.Fatal(err)
		}
		body, err := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "shop",
				Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
		})
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	// The pod no LogConfig selects, and the one lc-007 selects.
	unselected, selected := review("web"), review("app-007")
	body := unselected
	hc := srv.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	// admit returns the time one admission took and its patch.
	admit := func() (time.Duration, string) {
		t0 := time.Now()
		resp, err := hc.Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var ar admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil || ar.Response == nil || !ar.Response.Allowed {
			b.Fatalf("admission failed: %v %+v", err, ar.Response)
		}
		return time.Since(t0), string(ar.Response.Patch)
	}
	percentile := func(all []time.Duration, q float64) time.Duration {
		slices.Sort(all)
		return all[int(q*float64(len(all)-1))]
	}
	var table []string
	steady := func(name string) {
		b.Run(name, func(b *testing.B) {
			const rate, seconds = 500, 4
			before := calls.Load()
			var mu sync.Mutex
			var all []time.Duration
			ticks := make(chan struct{}, rate)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range ticks {
						d, _ := admit()
						mu.Lock()
						all = append(all, d)
						mu.Unlock()
					}
				})
			}
			start := time.Now()
			for i := range rate * seconds {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate))) // pacing, not synchronisation
				ticks <- struct{}{}
			}
			close(ticks)
			wg.Wait()
			p50, p99 := percentile(all, 0.5), percentile(all, 0.99)
			apiCalls := calls.Load() - before
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(apiCalls)/float64(len(all)), "api-calls/admission")
			table = append(table, fmt.Sprintf("%-14s %6d admissions  p50 %8s  p99 %8s  API requests %d", name, len(all), p50.Round(time.Microsecond), p99.Round(time.Microsecond), apiCalls))
			if apiCalls != 0 {
				b.Errorf("%d requests to the API server during %d admissions; want none (the informer cache)", apiCalls, len(all))
			}
		})
	}

	steady("logconfigs=0")
	for i := range 100 {
		lc := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lc-%03d", i), Namespace: "shop"}, Spec: v1alpha1.LogConfigSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%03d", i)}},
			Inputs: []v1alpha1.Input{
				{Name: "json", Files: []string{"/var/log/extra/*.json"}, Format: "json", Route: "extra"},
				{Name: "errors", Files: []string{"/var/log/extra/*.err"}, Format: `regex:^(?P<time>\S+) (?P<level>\w+) (?P<msg>.*)$`, Multiline: &v1alpha1.Multiline{Preset: "java"}},
			},
		}}
		if err := admin.Create(ctx, lc); err != nil {
			b.Fatal(err)
		}
	}
	poll.Until(b, 30*time.Second, "the informer cache to hold the 100 LogConfigs", func() bool {
		entries, _, err := source(ctx, "shop")
		return err == nil && len(entries) == 100
	})
	if _, patch := admit(); strings.Contains(patch, "lc-") {
		b.Fatalf("a LogConfig was applied to a pod none selects")
	}
	steady("logconfigs=100")
	body = selected
	if _, patch := admit(); !strings.Contains(patch, "lc-007/json") {
		b.Fatalf("the pod was not injected with lc-007's inputs")
	}
	steady("logconfigs=100,selected")
	b.Logf("admission latency at 500 pods/s of 10 containers (the third case: the pod selected by lc-007, two more inputs in its sidecar):\n%s", strings.Join(table, "\n"))
}
