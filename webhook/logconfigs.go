package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/logconfig"
)

// LogConfigs lists what may select a pod of namespace: its LogConfigs,
// as entries, and every ClusterLogConfig (the handler checks their
// namespaceSelector, looking the namespace's labels up only when one has
// one). Only configs whose inputs load (logconfig.Validate) are listed:
// one the validating webhook would refuse never reaches a pod.
type LogConfigs func(ctx context.Context, namespace string) ([]logconfig.Entry, []*v1alpha1.ClusterLogConfig, error)

// LogConfigsFrom lists the configs with r: in the webhook the manager's
// informer cache, so an admission costs no call to the API server. Each
// config is validated once per generation (the loader compiles regular
// expressions; 100 configs at every admission would cost milliseconds).
func LogConfigsFrom(r client.Reader) LogConfigs {
	return logConfigsFrom(r, logconfig.Validate, logconfig.ValidateCluster)
}

func logConfigsFrom(r client.Reader, validateLC func(v1alpha1.LogConfigSpec) error, validateCLC func(v1alpha1.ClusterLogConfigSpec) error) LogConfigs {
	v := &validity{seen: map[types.UID]verdict{}}
	return func(ctx context.Context, namespace string) ([]logconfig.Entry, []*v1alpha1.ClusterLogConfig, error) {
		var lcs v1alpha1.LogConfigList
		// Read only: the cache's objects, not copies of them.
		if err := r.List(ctx, &lcs, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
			return nil, nil, fmt.Errorf("list LogConfigs: %w", err)
		}
		var clcs v1alpha1.ClusterLogConfigList
		if err := r.List(ctx, &clcs, client.UnsafeDisableDeepCopy); err != nil {
			return nil, nil, fmt.Errorf("list ClusterLogConfigs: %w", err)
		}
		var entries []logconfig.Entry
		var clusters []*v1alpha1.ClusterLogConfig
		v.forget()
		for i := range lcs.Items {
			lc := &lcs.Items[i]
			if v.ok(lc.UID, lc.Generation, func() error { return validateLC(lc.Spec) }) {
				entries = append(entries, logconfig.FromLogConfig(lc))
			}
		}
		for i := range clcs.Items {
			c := &clcs.Items[i]
			if v.ok(c.UID, c.Generation, func() error { return validateCLC(c.Spec) }) {
				clusters = append(clusters, c)
			}
		}
		return entries, clusters, nil
	}
}

// validity remembers whether each config's generation is valid.
type validity struct {
	mu   sync.Mutex
	seen map[types.UID]verdict
}

type verdict struct {
	generation int64
	valid      bool
}

func (v *validity) ok(uid types.UID, gen int64, check func() error) bool {
	v.mu.Lock()
	got, known := v.seen[uid]
	v.mu.Unlock()
	if known && got.generation == gen {
		return got.valid
	}
	valid := check() == nil
	v.mu.Lock()
	v.seen[uid] = verdict{gen, valid}
	v.mu.Unlock()
	return valid
}

// maxVerdicts bounds what validity remembers. It keeps one verdict per
// config (a new generation replaces the old), so it grows only with
// configs deleted since: far more than a cluster's configs, and a few
// hundred kilobytes.
const maxVerdicts = 10000

// forget drops every verdict once there are maxVerdicts: the next
// admissions validate the configs of their namespaces again. Not sooner,
// and not by one namespace's count: a namespace without configs must not
// make the next admission elsewhere validate all of its own again.
func (v *validity) forget() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) >= maxVerdicts {
		clear(v.seen)
	}
}

// configsFor are the configs that apply to namespace: its LogConfigs and
// the ClusterLogConfigs whose namespaceSelector selects it, in
// logconfig.Sort order. nsLabels is called only when a ClusterLogConfig
// has a namespaceSelector.
func configsFor(entries []logconfig.Entry, clusters []*v1alpha1.ClusterLogConfig, nsLabels func() (map[string]string, error)) ([]logconfig.Entry, error) {
	out := append([]logconfig.Entry(nil), entries...)
	var labels map[string]string
	looked := false
	for _, c := range clusters {
		if c.Spec.NamespaceSelector != nil && !looked {
			l, err := nsLabels()
			if err != nil {
				return nil, err
			}
			labels, looked = l, true
		}
		if ok, err := logconfig.SelectsNamespace(c, labels); ok && err == nil {
			out = append(out, logconfig.FromClusterLogConfig(c))
		}
	}
	logconfig.Sort(out)
	return out, nil
}

// ValidatePath is where the API server sends creations and updates of
// LogConfigs and ClusterLogConfigs (the chart's
// ValidatingWebhookConfiguration, resources logconfigs and
// clusterlogconfigs of loglet.io/v1alpha1).
const ValidatePath = "/validate-loglet-io-v1alpha1-logconfig"

// Validator is the validating admission handler of LogConfigs and
// ClusterLogConfigs: it refuses one whose inputs would not load.
type Validator struct{}

// Handle answers one admission of a LogConfig or ClusterLogConfig.
func (Validator) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Kind.Group != v1alpha1.GroupVersion.Group {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("loglet validates loglet.io LogConfigs only, got %s %s: check the webhook configuration's rules", req.Kind.Group, req.Kind.Kind))
	}
	if len(req.Object.Raw) == 0 {
		// A deletion: nothing to check.
		return admission.Allowed("")
	}
	var err error
	switch req.Kind.Kind {
	case logconfig.KindLogConfig:
		var lc v1alpha1.LogConfig
		if err = decodeObject(req.Object.Raw, &lc); err == nil {
			err = logconfig.Validate(lc.Spec)
		}
	case logconfig.KindClusterLogConfig:
		var c v1alpha1.ClusterLogConfig
		if err = decodeObject(req.Object.Raw, &c); err == nil {
			err = logconfig.ValidateCluster(c.Spec)
		}
	default:
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("loglet validates LogConfigs and ClusterLogConfigs, got %s: check the webhook configuration's rules", req.Kind.Kind))
	}
	var decode *decodeError
	switch {
	case errors.As(err, &decode):
		return admission.Errored(http.StatusBadRequest, err)
	case err != nil:
		return admission.Denied(fmt.Sprintf("%s %s: %v", req.Kind.Kind, req.Name, err))
	}
	return admission.Allowed("")
}

type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decode: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

func decodeObject(raw []byte, into any) error {
	if err := json.Unmarshal(raw, into); err != nil {
		return &decodeError{err}
	}
	return nil
}
