package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/loglet/loglet/logconfig"
)

// Path is where the API server sends pod admissions.
const Path = "/mutate-v1-pod"

// configsTimeout bounds reading the LogConfigs for one admission, well
// within the registration's 5 s.
const configsTimeout = 2 * time.Second

// NamespaceLabels looks up a namespace's labels (the opt-in label).
type NamespaceLabels func(ctx context.Context, name string) (map[string]string, error)

// Handler is the admission handler for pods: it decodes the pod, decides,
// mutates, and answers with the JSON patch.
type Handler struct {
	cfg        Config
	namespaces NamespaceLabels
	configs    LogConfigs
	admissions *prometheus.CounterVec
	latency    prometheus.Histogram
	// loaded remembers the sidecar starts the agent's loader accepted.
	loaded *startCache
}

// NewHandler returns the pod handler: namespaces looks up the opt-in
// label, configs (nil: none) the LogConfigs that may select a pod. Its
// metrics go to reg.
func NewHandler(cfg Config, namespaces NamespaceLabels, configs LogConfigs, reg prometheus.Registerer) *Handler {
	f := promauto.With(reg)
	h := &Handler{
		cfg: cfg, namespaces: namespaces, configs: configs, loaded: newStartCache(),
		admissions: f.NewCounterVec(prometheus.CounterOpts{Name: "loglet_webhook_admissions_total", Help: "Pod admissions by result."}, []string{"result"}),
		latency: f.NewHistogram(prometheus.HistogramOpts{Name: "loglet_webhook_admission_seconds", Help: "Time to answer a pod admission.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1}}),
	}
	// Every result at 0 from the start: a rate() or an alert on denials
	// sees a series before the first one happens.
	for _, r := range admissionResults {
		h.admissions.WithLabelValues(r)
	}
	return h
}

// admissionResults are the values of loglet_webhook_admissions_total's
// result label.
var admissionResults = []string{"injected", "skipped", "denied", "error"}

// Handle answers one admission.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	resp, result := h.handle(ctx, req)
	h.admissions.WithLabelValues(result).Inc()
	h.latency.Observe(time.Since(start).Seconds())
	return resp
}

func (h *Handler) handle(ctx context.Context, req admission.Request) (admission.Response, string) {
	if req.Kind.Kind != "Pod" || req.Kind.Group != "" {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("loglet mutates Pods only, got %s %s: check the webhook configuration's rules", req.Kind.Group, req.Kind.Kind)), "error"
	}
	if len(req.Object.Raw) == 0 {
		return admission.Errored(http.StatusBadRequest, errors.New("the admission request holds no pod object")), "error"
	}
	pod := &corev1.Pod{}
	// Plain JSON decoding: the scheme's decoder costs twice as much and an
	// admission of a Pod needs no conversion.
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err)), "error"
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	var labels map[string]string
	looked := false
	lookup := func() (map[string]string, error) {
		if !looked && h.namespaces != nil {
			l, err := h.namespaces(ctx, ns)
			if err != nil {
				return nil, fmt.Errorf("namespace %s: %w", ns, err)
			}
			labels, looked = l, true
		}
		return labels, nil
	}
	var configs []logconfig.Entry
	var warned []string
	if h.configs != nil && pod.Annotations[AnnotationInject] != "false" {
		// Bounded: the cache waits for its first sync, which without RBAC
		// to list LogConfigs never comes, and the API server's timeout
		// would then fail the pod however it opted in.
		cctx, cancel := context.WithTimeout(ctx, configsTimeout)
		entries, clusters, err := h.configs(cctx, ns)
		cancel()
		if err == nil {
			configs, err = configsFor(entries, clusters, lookup)
		}
		if err != nil {
			// A pod its annotations opt in is injected as they say; one
			// only a LogConfig would have opted in is left for the
			// controller, which finds pods that opted in uninjected.
			configs = nil
			warned = append(warned, fmt.Sprintf("the LogConfigs could not be read (%v): the pod is injected by its annotations and namespace label only", err))
		}
	}
	if needsNamespace(pod) {
		if _, err := lookup(); err != nil {
			return admission.Errored(http.StatusInternalServerError, err), "error"
		}
	}
	out, d, warnings, err := injectWith(pod, ns, labels, configs, h.cfg, h.loaded)
	warnings = append(warned, warnings...)
	var invalid *InvalidError
	var start *StartError
	switch {
	case errors.As(err, &invalid), errors.As(err, &start):
		return admission.Denied(err.Error()).WithWarnings(warnings...), "denied"
	case err != nil:
		return admission.Errored(http.StatusInternalServerError, err), "error"
	case !d.Inject:
		return admission.Allowed(d.Reason).WithWarnings(warnings...), "skipped"
	}
	ops, err := podPatch(pod, out)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), "error"
	}
	return admission.Patched("", ops...).WithWarnings(warnings...), "injected"
}
