package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
)

// Options configure self mode.
type Options struct {
	// Namespace holds the Secret and the Lease.
	Namespace string
	// Secret is the name of the Secret with the CA and the serving pair;
	// the Lease that elects the one replica writing it has the same name.
	Secret string
	// WebhookConfig is the MutatingWebhookConfiguration whose webhooks get
	// the CA bundle.
	WebhookConfig string
	// ValidatingWebhookConfig, when set, is the ValidatingWebhookConfiguration
	// (LogConfig validation) whose webhooks get the same CA bundle.
	ValidatingWebhookConfig string
	// Identity names this replica in the Lease (the pod name).
	Identity string
	Policy   Policy
	Log      logr.Logger
}

// Rotator keeps the serving certificate in the Secret current (on the
// elected replica) and serves whatever the Secret holds (on every replica),
// picking up a new certificate without a restart.
type Rotator struct {
	cs      kubernetes.Interface
	opts    Options
	serving atomic.Pointer[tls.Certificate]
	// wake asks the leader to look again: the Secret or the webhook
	// configuration changed.
	wake chan struct{}

	// owner is the webhook's Deployment, found from this replica's pod:
	// the Secret and the Lease name it as their owner, so that deleting the
	// Deployment (helm uninstall, kubectl delete -f) has the garbage
	// collector delete them too. Nil when it cannot be found (not run by
	// a Deployment); they are then left behind as before.
	owner *metav1.OwnerReference

	mu sync.Mutex
	// published and since: the bundle this replica last saw in the webhook
	// configuration, and since when.
	published []byte
	since     time.Time
}

// NewRotator checks o and returns a Rotator; Start runs it.
func NewRotator(cs kubernetes.Interface, o Options) (*Rotator, error) {
	switch {
	case o.Namespace == "":
		return nil, errors.New("cert-mode self needs the webhook's namespace: set --namespace or $POD_NAMESPACE")
	case o.Secret == "":
		return nil, errors.New("cert-mode self needs --cert-secret, the Secret to keep the certificates in")
	case o.WebhookConfig == "":
		return nil, errors.New("cert-mode self needs --webhook-config-name, the MutatingWebhookConfiguration to publish the CA in")
	case len(o.Policy.Hosts) == 0:
		return nil, errors.New("cert-mode self needs the names to certify: set --service-name (or --cert-hosts)")
	case o.Policy.Lifetime < time.Second:
		return nil, fmt.Errorf("cert-lifetime %v: want at least a second (default 90d)", o.Policy.Lifetime)
	}
	if o.Identity == "" {
		return nil, errors.New("cert-mode self needs an identity for leader election (the pod name)")
	}
	return &Rotator{cs: cs, opts: o, wake: make(chan struct{}, 1)}, nil
}

// GetCertificate serves the Secret's certificate (tls.Config.GetCertificate).
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := r.serving.Load(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("no serving certificate yet: Secret %s/%s is not written", r.opts.Namespace, r.opts.Secret)
}

// Ready fails until a certificate is loaded and the webhook
// configuration's caBundle holds the CA that signed it (a healthz
// checker). Before that the API server would refuse the handshake, and
// with failurePolicy Ignore admit pods without the sidecar: a replica
// that cannot be trusted yet must get no traffic.
func (r *Rotator) Ready(*http.Request) error {
	c, err := r.GetCertificate(nil)
	if err != nil {
		return err
	}
	r.mu.Lock()
	bundle := r.published
	r.mu.Unlock()
	for _, ca := range parseBundle(bundle) {
		if c.Leaf.CheckSignatureFrom(ca) == nil {
			return nil
		}
	}
	return fmt.Errorf("serving certificate %s is not trusted yet: the caBundle of MutatingWebhookConfiguration %s does not hold its CA (the elected replica publishes it)", c.Leaf.SerialNumber.Text(16), r.opts.WebhookConfig)
}

// Start watches the Secret and the webhook configuration and takes part
// in the election until ctx ends.
func (r *Rotator) Start(ctx context.Context) error {
	secrets := cache.NewListWatchFromClient(r.cs.CoreV1().RESTClient(), "secrets", r.opts.Namespace, fields.OneTermEqualSelector("metadata.name", r.opts.Secret))
	configs := cache.NewListWatchFromClient(r.cs.AdmissionregistrationV1().RESTClient(), "mutatingwebhookconfigurations", "", fields.OneTermEqualSelector("metadata.name", r.opts.WebhookConfig))
	type watched struct {
		lw  cache.ListerWatcher
		obj runtime.Object
		on  func(any)
	}
	watches := []watched{
		{secrets, &corev1.Secret{}, r.onSecret},
		{configs, &admissionregv1.MutatingWebhookConfiguration{}, r.onConfig},
	}
	if name := r.opts.ValidatingWebhookConfig; name != "" {
		// Watched so that a bundle emptied by a re-applied manifest is
		// published again at once, not at the next renewal.
		lw := cache.NewListWatchFromClient(r.cs.AdmissionregistrationV1().RESTClient(), "validatingwebhookconfigurations", "", fields.OneTermEqualSelector("metadata.name", name))
		watches = append(watches, watched{lw, &admissionregv1.ValidatingWebhookConfiguration{}, func(any) { r.poke() }})
	}
	for _, w := range watches {
		_, inf := cache.NewInformerWithOptions(cache.InformerOptions{
			ListerWatcher: w.lw,
			ObjectType:    w.obj,
			Handler: cache.ResourceEventHandlerFuncs{
				AddFunc:    w.on,
				UpdateFunc: func(_, obj any) { w.on(obj) },
				DeleteFunc: func(any) { r.poke() },
			},
		})
		go inf.RunWithContext(ctx)
	}

	r.owner = FindOwner(ctx, r.cs, r.opts.Namespace, r.opts.Identity, r.opts.Log)
	OwnLease(ctx, r.cs, r.opts.Namespace, r.opts.Secret, r.owner, r.opts.Log)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: r.opts.Secret, Namespace: r.opts.Namespace},
			Client:     r.cs.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: r.opts.Identity},
		},
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Name:            r.opts.Secret,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: r.lead,
			OnStoppedLeading: func() { r.opts.Log.Info("no longer writing the certificates", "lease", r.opts.Secret) },
		},
	})
	if err != nil {
		return fmt.Errorf("certificate leader election: %w", err)
	}
	// Run returns when leadership is lost; stand again until ctx ends.
	for ctx.Err() == nil {
		elector.Run(ctx)
	}
	return nil
}

func (r *Rotator) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Rotator) onSecret(obj any) {
	defer r.poke()
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	pair, err := tls.X509KeyPair(s.Data[keyCert], s.Data[keyKey])
	if err != nil {
		r.opts.Log.Error(err, "serving certificate in the Secret is unusable; keeping the one loaded", "secret", r.opts.Secret)
		return
	}
	if old := r.serving.Load(); old == nil || !bytes.Equal(old.Certificate[0], pair.Certificate[0]) {
		r.serving.Store(&pair)
		r.opts.Log.Info("serving certificate loaded", "notAfter", pair.Leaf.NotAfter.UTC(), "serial", pair.Leaf.SerialNumber.Text(16))
	}
}

func (r *Rotator) onConfig(obj any) {
	if c, ok := obj.(*admissionregv1.MutatingWebhookConfiguration); ok {
		r.observe(c, time.Now())
	}
	r.poke()
}

// observe notes the bundle the configuration carries (if all its webhooks
// carry the same) and since when this replica has seen it.
func (r *Rotator) observe(c *admissionregv1.MutatingWebhookConfiguration, now time.Time) {
	var bundle []byte
	for i, w := range c.Webhooks {
		if i > 0 && !bytes.Equal(w.ClientConfig.CABundle, bundle) {
			bundle = nil
			break
		}
		bundle = w.ClientConfig.CABundle
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !bytes.Equal(bundle, r.published) {
		r.published, r.since = bundle, now
	}
}

// publishedSince is since when bundle has been in the configuration, as
// far as this replica knows (zero: it is not).
func (r *Rotator) publishedSince(bundle []byte) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(bundle) == 0 || !bytes.Equal(bundle, r.published) {
		return time.Time{}
	}
	return r.since
}

// lead runs on the elected replica until it loses the Lease.
func (r *Rotator) lead(ctx context.Context) {
	r.opts.Log.Info("writing the certificates", "lease", r.opts.Secret, "identity", r.opts.Identity)
	retry := time.Second
	for {
		wait, err := r.reconcile(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.opts.Log.Error(err, "certificates", "retryIn", retry)
			wait, retry = retry, min(2*retry, 30*time.Second)
		} else {
			retry = time.Second
		}
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(min(wait, time.Minute))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// reconcile takes one step towards a current Secret whose bundle is
// published; it returns how long until the next step is due.
func (r *Rotator) reconcile(ctx context.Context) (time.Duration, error) {
	secrets := r.cs.CoreV1().Secrets(r.opts.Namespace)
	s, err := secrets.Get(ctx, r.opts.Secret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s = nil
	case err != nil:
		return 0, fmt.Errorf("read Secret %s/%s: %w", r.opts.Namespace, r.opts.Secret, err)
	}
	var data map[string][]byte
	if s != nil {
		data = s.Data
	}
	if err := r.publish(ctx, data[keyBundle]); err != nil {
		return 0, err
	}
	// The validating configuration only checks LogConfigs: failing to
	// publish there is retried, but must not hold up the certificates'
	// renewal, on which pod injection depends.
	validating := r.publishValidating(ctx, data[keyBundle])
	now := time.Now()
	next, reason, wait, err := plan(data, r.opts.Policy, now, r.publishedSince(data[keyBundle]))
	if err != nil || next == nil {
		if err == nil && validating != nil {
			return 0, validating
		}
		return wait, err
	}
	if s == nil {
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: r.opts.Secret, Namespace: r.opts.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "loglet-webhook"},
				OwnerReferences: r.ownerRefs(nil)},
			Type: corev1.SecretTypeTLS,
			Data: next,
		}
		_, err = secrets.Create(ctx, s, metav1.CreateOptions{})
	} else {
		// The resourceVersion read above makes this fail rather than
		// overwrite a concurrent writer.
		s.Data = next
		s.OwnerReferences = r.ownerRefs(s.OwnerReferences)
		_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		return 0, fmt.Errorf("write Secret %s/%s: %w", r.opts.Namespace, r.opts.Secret, err)
	}
	r.opts.Log.Info("certificates written", "secret", r.opts.Secret, "why", reason)
	return 0, errors.Join(r.publish(ctx, next[keyBundle]), r.publishValidating(ctx, next[keyBundle]))
}

// publish makes bundle the caBundle of every webhook of the configuration.
func (r *Rotator) publish(ctx context.Context, bundle []byte) error {
	if len(bundle) == 0 {
		return nil
	}
	api := r.cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	c, err := api.Get(ctx, r.opts.WebhookConfig, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read MutatingWebhookConfiguration %s (install it with the chart, or set --webhook-config-name): %w", r.opts.WebhookConfig, err)
	}
	hooks := make([]admissionregv1.WebhookClientConfig, 0, len(c.Webhooks))
	names := make([]string, 0, len(c.Webhooks))
	for _, w := range c.Webhooks {
		hooks, names = append(hooks, w.ClientConfig), append(names, w.Name)
	}
	body, n, err := bundlePatch(names, hooks, bundle)
	if err != nil || n == 0 {
		r.observe(c, time.Now())
		return err
	}
	c, err = api.Patch(ctx, r.opts.WebhookConfig, types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: "loglet-webhook"})
	if err != nil {
		return fmt.Errorf("publish the CA bundle in MutatingWebhookConfiguration %s: %w", r.opts.WebhookConfig, err)
	}
	r.observe(c, time.Now())
	r.opts.Log.Info("CA bundle published", "webhookConfiguration", r.opts.WebhookConfig, "webhooks", n)
	return nil
}

// publishValidating makes bundle the caBundle of every webhook of the
// ValidatingWebhookConfiguration, when one is named. Readiness does not
// wait for it: a replica trusted for pods serves them while the
// LogConfig validation catches up.
func (r *Rotator) publishValidating(ctx context.Context, bundle []byte) error {
	name := r.opts.ValidatingWebhookConfig
	if len(bundle) == 0 || name == "" {
		return nil
	}
	api := r.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	c, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read ValidatingWebhookConfiguration %s (install it with the chart, or set --validating-webhook-config-name to the one validating LogConfigs): %w", name, err)
	}
	hooks := make([]admissionregv1.WebhookClientConfig, 0, len(c.Webhooks))
	names := make([]string, 0, len(c.Webhooks))
	for _, w := range c.Webhooks {
		hooks, names = append(hooks, w.ClientConfig), append(names, w.Name)
	}
	body, n, err := bundlePatch(names, hooks, bundle)
	if err != nil || n == 0 {
		return err
	}
	if _, err := api.Patch(ctx, name, types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: "loglet-webhook"}); err != nil {
		return fmt.Errorf("publish the CA bundle in ValidatingWebhookConfiguration %s: %w", name, err)
	}
	r.opts.Log.Info("CA bundle published", "validatingWebhookConfiguration", name, "webhooks", n)
	return nil
}

// bundlePatch is the strategic merge patch (webhooks merge by name) that
// sets bundle in each webhook whose caBundle differs, and how many do.
func bundlePatch(names []string, hooks []admissionregv1.WebhookClientConfig, bundle []byte) ([]byte, int, error) {
	type clientConfig struct {
		CABundle []byte `json:"caBundle"`
	}
	type hook struct {
		Name         string       `json:"name"`
		ClientConfig clientConfig `json:"clientConfig"`
	}
	var patch struct {
		Webhooks []hook `json:"webhooks"`
	}
	for i, h := range hooks {
		if !bytes.Equal(h.CABundle, bundle) {
			patch.Webhooks = append(patch.Webhooks, hook{Name: names[i], ClientConfig: clientConfig{CABundle: bundle}})
		}
	}
	if len(patch.Webhooks) == 0 {
		return nil, 0, nil
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return nil, 0, fmt.Errorf("CA bundle patch: %w", err)
	}
	return body, len(patch.Webhooks), nil
}

// NeedLeaderElection tells controller-runtime's manager to run the
// Rotator on every replica: it holds its own election for the writing.
func (r *Rotator) NeedLeaderElection() bool { return false }

// FindOwner follows the replica's pod (in namespace) to its ReplicaSet
// and that to its Deployment: the owner of what the webhook leaves in the
// cluster (the certificates' Secret, its Leases). An owner reference to the Deployment rather than the
// ReplicaSet: a rollout replaces the ReplicaSet, and the CA must outlive it.
func FindOwner(ctx context.Context, cs kubernetes.Interface, namespace, pod string, log logr.Logger) *metav1.OwnerReference {
	p, err := cs.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		log.Info("what the webhook made stays after the webhook is deleted: its pod is not readable", "pod", pod, "err", err.Error())
		return nil
	}
	rsRef := metav1.GetControllerOf(p)
	if rsRef == nil || rsRef.Kind != "ReplicaSet" {
		log.Info("what the webhook made stays after the webhook is deleted: its pod is not run by a Deployment", "pod", p.Name)
		return nil
	}
	rs, err := cs.AppsV1().ReplicaSets(namespace).Get(ctx, rsRef.Name, metav1.GetOptions{})
	if err != nil {
		log.Info("what the webhook made stays after the webhook is deleted: its ReplicaSet is not readable", "replicaSet", rsRef.Name, "err", err.Error())
		return nil
	}
	dRef := metav1.GetControllerOf(rs)
	if dRef == nil || dRef.Kind != "Deployment" {
		log.Info("what the webhook made stays after the webhook is deleted: its ReplicaSet is not run by a Deployment", "replicaSet", rs.Name)
		return nil
	}
	return &metav1.OwnerReference{APIVersion: dRef.APIVersion, Kind: dRef.Kind, Name: dRef.Name, UID: dRef.UID}
}

// ownerRefs returns refs with the owner added, if it is not there.
func (r *Rotator) ownerRefs(refs []metav1.OwnerReference) []metav1.OwnerReference {
	return withOwner(refs, r.owner)
}

// withOwner returns refs with owner added, if it is not there.
func withOwner(refs []metav1.OwnerReference, owner *metav1.OwnerReference) []metav1.OwnerReference {
	if owner == nil {
		return refs
	}
	for _, ref := range refs {
		if ref.UID == owner.UID {
			return refs
		}
	}
	return append(refs, *owner)
}

// OwnLease creates the Lease name (in namespace) with the owner reference
// before an election does (client-go's lock creates it without one), or adds the reference
// to one made before. The election keeps what it reads, owner included.
// A failure only leaves the Lease behind later; the election goes on.
func OwnLease(ctx context.Context, cs kubernetes.Interface, namespace, name string, owner *metav1.OwnerReference, log logr.Logger) {
	if owner == nil {
		return
	}
	leases := cs.CoordinationV1().Leases(namespace)
	for attempt := 0; attempt < 3; attempt++ {
		l, err := leases.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "loglet-webhook"}, OwnerReferences: withOwner(nil, owner)}}
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		case err == nil:
			refs := withOwner(l.OwnerReferences, owner)
			if len(refs) == len(l.OwnerReferences) {
				return
			}
			l.OwnerReferences = refs
			_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		if err == nil {
			return
		}
		// Another replica created or changed it meanwhile: look again.
		if !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err) {
			log.Info("the Lease stays after the webhook is deleted: no owner reference", "lease", name, "err", err.Error())
			return
		}
	}
}
