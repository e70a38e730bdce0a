package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func newTestHandler() *Handler {
	return NewHandler(DefaultConfig(), nil, nil, prometheus.NewRegistry())
}

func review(t testing.TB, kind metav1.GroupVersionKind, obj any) admission.Request {
	t.Helper()
	var raw []byte
	if obj != nil {
		var err error
		if raw, err = json.Marshal(obj); err != nil {
			t.Fatal(err)
		}
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Kind: kind, Namespace: "shop", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}}
}

var podKind = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}

func TestHandlerBadInput(t *testing.T) {
	h := newTestHandler()
	tests := []struct {
		name string
		req  admission.Request
		want string
	}{
		{"non-Pod kind", review(t, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, map[string]any{}), "Pods only, got apps Deployment"},
		{"empty object", review(t, podKind, nil), "holds no pod object"},
		{"not a pod", admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Kind: podKind, Object: runtime.RawExtension{Raw: []byte(`{"spec":"oops"}`)}}}, "decode pod"},
		{"invalid annotation", review(t, podKind, pod(map[string]string{AnnotationInject: "true", AnnotationStdout: "loud"}, "app")), "loglet.io/stdout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.Handle(context.Background(), tc.req)
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.want) {
				t.Fatalf("allowed %v, result %+v; want a refusal mentioning %q", resp.Allowed, resp.Result, tc.want)
			}
		})
	}
}

func TestHandlerPatch(t *testing.T) {
	h := newTestHandler()
	resp := h.Handle(context.Background(), review(t, podKind, pod(map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log"}, "app")))
	if !resp.Allowed || len(resp.Patches) == 0 {
		t.Fatalf("allowed %v with %d patches", resp.Allowed, len(resp.Patches))
	}
	resp = h.Handle(context.Background(), review(t, podKind, pod(nil, "app")))
	if !resp.Allowed || len(resp.Patches) != 0 {
		t.Fatalf("a pod that did not opt in: allowed %v with %d patches", resp.Allowed, len(resp.Patches))
	}
}

// TestMalformedReview posts a body that is no AdmissionReview to the HTTP
// handler the API server talks to.
func TestMalformedReview(t *testing.T) {
	srv := httptest.NewServer(&admission.Webhook{Handler: newTestHandler()})
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"kind":"AdmissionReview",`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ar admissionv1.AdmissionReview
	json.NewDecoder(resp.Body).Decode(&ar)
	if ar.Response == nil || ar.Response.Allowed || ar.Response.Result == nil || ar.Response.Result.Code != http.StatusBadRequest {
		t.Fatalf("response %+v, want a 400 refusal", ar.Response)
	}
}

// BenchmarkAdmission measures admissions of a 10-container pod through the
// HTTPS handler, as the API server sends them: at saturation (admissions
// per second, client and server sharing the machine's cores) and at a
// steady 2,000 admissions/s (p50 and p99 latency).
func BenchmarkAdmission(b *testing.B) {
	srv := httptest.NewTLSServer(&admission.Webhook{Handler: newTestHandler()})
	defer srv.Close()
	admit := admitter(b, srv.Client(), srv.URL)
	b.Run("saturation", func(b *testing.B) {
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				admit()
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "admissions/s")
	})
	b.Run("2000/s", func(b *testing.B) {
		all, perSec := steadyAdmissions(admit, 2000, 3)
		b.ReportMetric(percentile(all, 0.5), "p50-ms")
		b.ReportMetric(percentile(all, 0.99), "p99-ms")
		b.ReportMetric(perSec, "admissions/s")
	})
}

// admitter returns a function that admits a 10-container pod opted in
// with a path per container through the webhook at url, and returns how
// long the API server would have waited.
func admitter(b *testing.B, client *http.Client, url string) func() time.Duration {
	a := map[string]string{AnnotationInject: "true"}
	var names, paths []string
	for i := range 10 {
		names = append(names, fmt.Sprintf("c%d", i))
		paths = append(paths, fmt.Sprintf("c%d:/var/log/c%d/*.log", i, i))
	}
	a[AnnotationPaths] = strings.Join(paths, ",")
	req := review(b, podKind, pod(a, names...)).AdmissionRequest
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req,
	})
	// Keep connections open as the API server does; the default of two
	// idle connections would make most requests a new TLS handshake.
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	return func() time.Duration {
		t0 := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var ar admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil || !ar.Response.Allowed {
			b.Fatalf("admission failed: %v", err)
		}
		// Read to the end, or the connection is not reused and every
		// admission pays a TLS handshake (half the CPU, profiled), which
		// the API server's kept connections do not.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t0)
	}
}

// steadyAdmissions admits at rate a second for seconds, from 4 clients
// as the API server's connections would, and returns each latency and
// the rate reached.
func steadyAdmissions(admit func() time.Duration, rate, seconds int) ([]time.Duration, float64) {
	var mu sync.Mutex
	var all []time.Duration
	ticks := make(chan struct{}, rate)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range ticks {
				d := admit()
				mu.Lock()
				all = append(all, d)
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := range rate * seconds {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate)))) // pacing, not synchronisation
		ticks <- struct{}{}
	}
	close(ticks)
	wg.Wait()
	return all, float64(len(all)) / time.Since(start).Seconds()
}

// percentile is the q quantile of all, in milliseconds.
func percentile(all []time.Duration, q float64) float64 {
	slices.Sort(all)
	return float64(all[int(q*float64(len(all)-1))].Microseconds()) / 1000
}

// TestAdmissionsCountedFromZero: every result of
// loglet_webhook_admissions_total is a series before the first admission,
// so rates and alerts on it work from the start (issue 25).
func TestAdmissionsCountedFromZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewHandler(DefaultConfig(), nil, nil, reg)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "loglet_webhook_admissions_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if len(got) != 4 || got["injected"] != 0 || got["skipped"] != 0 || got["denied"] != 0 || got["error"] != 0 {
		t.Errorf("series before any admission: %v, want injected, skipped, denied and error at 0", got)
	}
}

// TestRepeatedAdmissions: the handler remembers the sidecar starts the
// agent's loader accepted, so the replicas of a template are not loaded
// again; a pod whose sidecar would start differently is still loaded, and
// a refusal is given every time.
func TestRepeatedAdmissions(t *testing.T) {
	h := newTestHandler()
	good := map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log", AnnotationFormat: "json"}
	bad := map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log", AnnotationFormat: "csv"}
	admit := func(a map[string]string) admission.Response {
		p := pod(a, "app")
		p.Name, p.GenerateName = "", "shop-7d9c5-" // as a ReplicaSet's pods come
		return h.Handle(t.Context(), review(t, podKind, p))
	}
	first := admit(good)
	if !first.Allowed || len(first.Patches) == 0 {
		t.Fatalf("first admission: allowed %v with %d patches, result %+v", first.Allowed, len(first.Patches), first.Result)
	}
	// The operations' order follows map iteration: compare them as sets.
	ops := func(r admission.Response) []string {
		var out []string
		for _, p := range r.Patches {
			out = append(out, p.Json())
		}
		slices.Sort(out)
		return out
	}
	for i := range 3 {
		again := admit(good)
		if !again.Allowed || !slices.Equal(ops(again), ops(first)) {
			t.Fatalf("admission %d of the same template: allowed %v, patches differ from the first's", i+2, again.Allowed)
		}
		denied := admit(bad)
		if denied.Allowed || denied.Result == nil || !strings.Contains(denied.Result.Message, AnnotationCSVFields) {
			t.Fatalf("format csv without csv-fields, admission %d: allowed %v, result %+v; want it denied naming %s", i+1, denied.Allowed, denied.Result, AnnotationCSVFields)
		}
	}
}

func TestStartCacheForgetsTheOldest(t *testing.T) {
	c := newStartCache()
	key := func(i int) [32]byte { return startKey([]string{"agent"}, []string{fmt.Sprint("LOGLET_POD_NAME=p", i)}) }
	for i := range startCacheSize + 10 {
		c.add(key(i))
	}
	for i, want := range map[int]bool{0: false, 9: false, 10: true, startCacheSize + 9: true} {
		if got := c.has(key(i)); got != want {
			t.Errorf("start %d remembered: %v, want %v", i, got, want)
		}
	}
	if len(c.seen) != startCacheSize {
		t.Errorf("%d starts remembered, want at most %d", len(c.seen), startCacheSize)
	}
	var none *startCache
	none.add(key(1))
	if none.has(key(1)) {
		t.Error("a nil cache remembered a start")
	}
	if startKey([]string{"a", "b"}, nil) == startKey([]string{"ab"}, nil) {
		t.Error("two starts that split their strings differently share a key")
	}
}
