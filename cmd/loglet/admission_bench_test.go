//go:build !slim

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
// (issue 21, must-show 5) with no LogConfig and with 100 LogConfigs in
// the pod's namespace (none of them selecting the pod, or one): the handler over HTTPS as the
// API server calls it, the LogConfigs read from a controller-runtime
// informer cache on a real kube-apiserver (envtest, with the chart's
// CRDs), as `loglet webhook` reads them. The three cases are admitted in
// turn at a steady 200 pods/s for 6 s (p50 and p99 of each; the 2 cores
// here, shared, do not keep 2,000/s of these 10-container pods), and the
// requests the webhook's clients send the API server meanwhile are
// counted: none, however many LogConfigs there are.
//
//	KUBEBUILDER_ASSETS=$(hack/control-plane.sh) go test ./cmd/loglet -run '^$' -bench AdmissionLogConfigs -benchtime 1x
func BenchmarkAdmissionLogConfigs(b *testing.B) {
	_, restCfg := kubetest.Start(b, kubetest.CRDs())
	admin := kubetest.Client(b, restCfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The webhook's clients, counted.
	var calls atomic.Int64
	whCfg := rest.CopyConfig(restCfg)
	whCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, &calls} })
	informers, err := cache.New(whCfg, cache.Options{Scheme: admin.Scheme()})
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
	reader, err := client.New(whCfg, client.Options{Scheme: admin.Scheme()})
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
	review := func(ns, app string) []byte {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns, Labels: map[string]string{"app": app}, Annotations: a},
			Spec: corev1.PodSpec{Containers: containers}}
		raw, err := json.Marshal(pod)
		if err != nil {
			b.Fatal(err)
		}
		body, err := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: ns,
				Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
		})
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	// The cases, admitted in turn so that what else runs on the machine
	// weighs on each alike: a namespace with no LogConfig; the pod none
	// of the 100 LogConfigs of shop selects; the pod lc-007 selects.
	cases := []struct {
		name string
		body []byte
		want string // in the patch
	}{
		{"logconfigs=0", review("empty", "app-007"), ""},
		{"logconfigs=100", review("shop", "web"), ""},
		{"logconfigs=100,selected", review("shop", "app-007"), "lc-007/json"},
	}
	hc := srv.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	// admit returns the time one admission took and its patch.
	admit := func(body []byte) (time.Duration, string) {
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

	for _, ns := range []string{"shop", "empty"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
	}
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
	for _, c := range cases {
		if _, patch := admit(c.body); (c.want == "") == strings.Contains(patch, "lc-") || !strings.Contains(patch, c.want) {
			b.Fatalf("%s: the patch names LogConfigs it should not, or lacks %q", c.name, c.want)
		}
	}

	const rate, seconds = 200, 6
	before := calls.Load()
	var mu sync.Mutex
	all := make([][]time.Duration, len(cases))
	ticks := make(chan int, rate)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range ticks {
				d, _ := admit(cases[i].body)
				mu.Lock()
				all[i] = append(all[i], d)
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := range rate * seconds {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate))) // pacing, not synchronisation
		ticks <- i % len(cases)
	}
	close(ticks)
	wg.Wait()
	apiCalls := calls.Load() - before
	var table []string
	for i, c := range cases {
		p50, p99 := percentile(all[i], 0.5), percentile(all[i], 0.99)
		b.ReportMetric(float64(p50.Microseconds())/1000, c.name+"-p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, c.name+"-p99-ms")
		table = append(table, fmt.Sprintf("%-24s %5d admissions  p50 %9s  p99 %9s", c.name, len(all[i]), p50.Round(time.Microsecond), p99.Round(time.Microsecond)))
	}
	// What reading the LogConfigs costs an admission: the cache's List
	// and the validity each config was given.
	lookup := func(ns string) time.Duration {
		const n = 1000
		t0 := time.Now()
		for range n {
			if _, _, err := source(ctx, ns); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0) / n
	}
	empty, full := lookup("empty"), lookup("shop")
	table = append(table, fmt.Sprintf("reading the LogConfigs from the cache: %s with none, %s with 100", empty, full))
	b.ReportMetric(float64(full.Nanoseconds())/1000, "lookup-100-us")
	b.ReportMetric(float64(apiCalls), "api-requests")
	if apiCalls != 0 {
		b.Errorf("%d requests to the API server during %d admissions; want none (the informer cache)", apiCalls, rate*seconds)
	}
	b.Logf("admission latency, %d pods/s of 10 containers for %d s, the cases in turn; %d requests to the API server meanwhile:\n%s",
		rate, seconds, apiCalls, strings.Join(table, "\n"))
}
