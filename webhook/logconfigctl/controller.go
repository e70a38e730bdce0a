package logconfigctl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/logconfig"
)

// LeaseName is the Lease (in the webhook's namespace) electing the one
// replica that runs the controller; the certificate rotator has its own.
const LeaseName = "loglet-logconfig"

// The label on every ConfigMap the controller writes: RBAC, the cache and
// clean-up find them by it (with the name logconfig.ConfigMapName).
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "loglet"
)

// Reinject modes: what the controller does with a pod that opted in and
// runs without the sidecar.
const (
	ReinjectOff   = "off"
	ReinjectEvict = "evict"
)

// The reasons of the controller's Events.
const (
	ReasonNotInjected = "NotInjected"
	ReasonEvicted     = "Evicted"
	// ReasonConfigMapConflict is on a LogConfig whose namespace holds a
	// ConfigMap of the rendered one's name that loglet did not make.
	ReasonConfigMapConflict = "ConfigMapConflict"
)

// Options configure the controller.
type Options struct {
	// Decide is the webhook's decision with its Config.
	Decide Decider
	// Reinject is ReinjectOff (report only) or ReinjectEvict.
	Reinject string
	// Registry gets loglet_pods_uninjected.
	Registry prometheus.Registerer
	// EvictionRetry is how long a pod whose eviction a
	// PodDisruptionBudget refused waits for the next try (default 1m).
	EvictionRetry time.Duration
	// EvictionInterval is the least time between two evictions of pods of
	// the same owner (default 1m): a workload none of whose pods has the
	// sidecar, and no PodDisruptionBudget, is not evicted all at once.
	EvictionInterval time.Duration
	// CountDelay is how long the ClusterLogConfigs' pod counts wait after
	// a pod or namespace changed (default 5s): their pass reads every
	// pod of the cluster, so the changes of that time make one pass.
	CountDelay time.Duration
}

// Served reports whether the API server serves LogConfig and
// ClusterLogConfig (the chart's CRDs are installed).
func Served(cfg *rest.Config) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	list, err := dc.ServerResourcesForGroupVersion(v1alpha1.GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", v1alpha1.GroupVersion, err)
	}
	kinds := map[string]bool{}
	for _, r := range list.APIResources {
		kinds[r.Kind] = true
	}
	return kinds[logconfig.KindLogConfig] && kinds[logconfig.KindClusterLogConfig], nil
}

// controller holds what both reconcilers share. The state it keeps only
// saves work and noise: the verdicts on configs, the pods it already told
// about (one Event each, not one per pass) and when it last evicted a pod
// of each owner; a new leader starts without it.
type controller struct {
	client   client.Client
	recorder recorder.EventRecorder
	decide   Decider
	evict    bool
	retry    time.Duration
	interval time.Duration
	log      logr.Logger
	gauge    prometheus.Gauge

	// checked remembers each config's verdict by UID, for the generation
	// it was given: checking loads the inputs (compiles their regular
	// expressions), about 0.3 ms a config, and every pass over a namespace
	// needs the verdict on every ClusterLogConfig.
	checked sync.Map // types.UID → verdict

	mu sync.Mutex
	// reported holds, by namespace, the uninjected pods that got their
	// Event; the gauge is the sum of their counts.
	reported map[string]map[types.UID]bool
	// evicted holds when a pod of each owner (by UID) was last evicted.
	evicted map[types.UID]time.Time
}

// verdict is a config's check for one generation.
type verdict struct {
	namespace  string // "" for a ClusterLogConfig
	generation int64
	err        error
}

// check is logconfig.Validate or ValidateCluster of obj, remembered.
func (c *controller) check(obj client.Object, run func() error) error {
	if v, ok := c.checked.Load(obj.GetUID()); ok && v.(verdict).generation == obj.GetGeneration() {
		return v.(verdict).err
	}
	err := run()
	c.checked.Store(obj.GetUID(), verdict{obj.GetNamespace(), obj.GetGeneration(), err})
	return err
}

// configs are lcs and clcs with the verdict on each.
func (c *controller) configs(lcs []v1alpha1.LogConfig, clcs []v1alpha1.ClusterLogConfig) Configs {
	out := Configs{LogConfigs: lcs, ClusterLogConfigs: clcs, Invalid: map[string]error{}}
	for i := range lcs {
		lc := &lcs[i]
		if err := c.check(lc, func() error { return logconfig.Validate(lc.Spec) }); err != nil {
			out.Invalid[Key(logconfig.KindLogConfig, lc.Namespace, lc.Name)] = err
		}
	}
	for i := range clcs {
		clc := &clcs[i]
		if err := c.check(clc, func() error { return logconfig.ValidateCluster(clc.Spec) }); err != nil {
			out.Invalid[Key(logconfig.KindClusterLogConfig, "", clc.Name)] = err
		}
	}
	return out
}

// forget drops the verdicts on configs not among keep: the namespace's
// LogConfigs (namespace set) or the ClusterLogConfigs ("").
func (c *controller) forget(namespace string, keep map[types.UID]bool) {
	c.checked.Range(func(uid, v any) bool {
		if v.(verdict).namespace == namespace && !keep[uid.(types.UID)] {
			c.checked.Delete(uid)
		}
		return true
	})
}

// Setup adds the controller to mgr; it runs on the replica the manager's
// leader election picks.
func Setup(mgr manager.Manager, o Options) error {
	if o.Decide == nil {
		return errors.New("logconfig controller: no decision function")
	}
	if o.Reinject != ReinjectOff && o.Reinject != ReinjectEvict && o.Reinject != "" {
		return fmt.Errorf("reinject %q: want %s or %s", o.Reinject, ReinjectOff, ReinjectEvict)
	}
	c := &controller{
		client:   mgr.GetClient(),
		recorder: mgr.GetEventRecorder("loglet-logconfig"),
		decide:   o.Decide,
		evict:    o.Reinject == ReinjectEvict,
		retry:    o.EvictionRetry,
		interval: o.EvictionInterval,
		evicted:  map[types.UID]time.Time{},
		log:      mgr.GetLogger().WithName("logconfig"),
		reported: map[string]map[types.UID]bool{},
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loglet_pods_uninjected",
			Help: "Pods that opted in (annotation, namespace label or a LogConfig selecting them) but run without the loglet sidecar; counted by the replica running the LogConfig controller.",
		}),
	}
	if c.retry <= 0 {
		c.retry = time.Minute
	}
	if c.interval <= 0 {
		c.interval = time.Minute
	}
	if o.Registry != nil {
		if err := o.Registry.Register(c.gauge); err != nil {
			return fmt.Errorf("logconfig controller: register loglet_pods_uninjected: %w", err)
		}
	}
	namespaceOf := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
	})
	allNamespaces := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list corev1.NamespaceList
		if err := c.client.List(ctx, &list); err != nil {
			c.log.Error(err, "list namespaces")
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, ns := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: ns.Name}})
		}
		return out
	})
	// One key for the ClusterLogConfigs' status: a change enqueues it
	// once, however many there are, and one pass counts them all; pods
	// and namespaces after CountDelay, their own changes at once.
	clusterKey := reconcile.Request{NamespacedName: types.NamespacedName{Name: "clusterlogconfigs"}}
	cluster := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{clusterKey}
	})
	delay := o.CountDelay
	if delay <= 0 {
		delay = 5 * time.Second
	}
	clusterLater := later(clusterKey, delay)
	err := ctrl.NewControllerManagedBy(mgr).
		Named("logconfig-namespace").
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetName()}}}
		})).
		Watches(&v1alpha1.LogConfig{}, namespaceOf).
		Watches(&corev1.Pod{}, namespaceOf, builder.WithPredicates(podChanges())).
		Watches(&corev1.ConfigMap{}, namespaceOf).
		Watches(&v1alpha1.ClusterLogConfig{}, allNamespaces).
		Complete(reconcile.Func(c.reconcileNamespace))
	if err != nil {
		return fmt.Errorf("logconfig controller: %w", err)
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named("clusterlogconfig-status").
		Watches(&v1alpha1.ClusterLogConfig{}, cluster).
		Watches(&corev1.Namespace{}, clusterLater).
		Watches(&corev1.Pod{}, clusterLater, builder.WithPredicates(podChanges())).
		Complete(reconcile.Func(c.reconcileCluster))
	if err != nil {
		return fmt.Errorf("clusterlogconfig status controller: %w", err)
	}
	return nil
}

// later enqueues key d after any event (the queue keeps the earliest
// time of a key already waiting, so a burst makes one pass).
func later(key reconcile.Request, d time.Duration) handler.EventHandler {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.Funcs{
		CreateFunc:  func(_ context.Context, _ event.CreateEvent, q queue) { q.AddAfter(key, d) },
		UpdateFunc:  func(_ context.Context, _ event.UpdateEvent, q queue) { q.AddAfter(key, d) },
		DeleteFunc:  func(_ context.Context, _ event.DeleteEvent, q queue) { q.AddAfter(key, d) },
		GenericFunc: func(_ context.Context, _ event.GenericEvent, q queue) { q.AddAfter(key, d) },
	}
}

// reconcileNamespace renders the namespace's ConfigMap, sets its
// LogConfigs' status and reports its uninjected pods.
func (c *controller) reconcileNamespace(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	name := req.Name
	var ns corev1.Namespace
	if err := c.client.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			// Its ConfigMap, LogConfigs and pods went with it.
			c.setReported(name, nil)
			c.forget(name, nil)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	var lcs v1alpha1.LogConfigList
	if err := c.client.List(ctx, &lcs, client.InNamespace(name)); err != nil {
		return reconcile.Result{}, err
	}
	var clcs v1alpha1.ClusterLogConfigList
	if err := c.client.List(ctx, &clcs); err != nil {
		return reconcile.Result{}, err
	}
	configs := c.configs(lcs.Items, clcs.Items)
	live := map[types.UID]bool{}
	for _, lc := range lcs.Items {
		live[lc.UID] = true
	}
	c.forget(name, live)
	var entries []logconfig.Entry
	if ns.DeletionTimestamp == nil {
		entries = configs.Entries(c.decide, name, ns.Labels)
	}
	// A ConfigMap that cannot be written does not hold up the status and
	// the pods' report: its error is returned at the end.
	var errs []error
	if err := c.syncConfigMap(ctx, name, entries); err != nil {
		var foreign *foreignConfigMapError
		if errors.As(err, &foreign) {
			// Said where its owner looks: on the namespace's LogConfigs.
			for i := range lcs.Items {
				c.recorder.Eventf(&lcs.Items[i], nil, corev1.EventTypeWarning, ReasonConfigMapConflict, "Render", "%s", err.Error())
			}
		}
		errs = append(errs, err)
	}
	var pods corev1.PodList
	if err := c.client.List(ctx, &pods, client.InNamespace(name)); err != nil {
		return reconcile.Result{}, errors.Join(append(errs, err)...)
	}
	never := NeverInjected(c.decide, name, ns.Labels)
	for i := range lcs.Items {
		lc := &lcs.Items[i]
		invalid := configs.Invalid[Key(logconfig.KindLogConfig, lc.Namespace, lc.Name)]
		var matched int32
		note := ""
		if never {
			note = "; namespace " + name + " is never injected, so it applies to no pod"
		} else if invalid == nil {
			sel := NewSelector(logconfig.FromLogConfig(lc))
			for j := range pods.Items {
				if sel.Matched(&pods.Items[j]) {
					matched++
				}
			}
		}
		if err := c.setStatus(ctx, lc, &lc.Status, lc.Generation, invalid, matched, note); err != nil {
			errs = append(errs, err)
		}
	}
	if ns.DeletionTimestamp != nil {
		c.setReported(name, nil)
		return reconcile.Result{}, errors.Join(errs...)
	}
	res, err := c.uninjected(ctx, name, ns.Labels, entries, pods.Items)
	return res, errors.Join(append(errs, err)...)
}

// reconcileCluster sets the status of every ClusterLogConfig: Accepted,
// and the pods it applies to across the namespaces it selects.
func (c *controller) reconcileCluster(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	var clcs v1alpha1.ClusterLogConfigList
	if err := c.client.List(ctx, &clcs); err != nil {
		return reconcile.Result{}, err
	}
	live := map[types.UID]bool{}
	for _, clc := range clcs.Items {
		live[clc.UID] = true
	}
	c.forget("", live)
	if len(clcs.Items) == 0 {
		return reconcile.Result{}, nil
	}
	var nss corev1.NamespaceList
	if err := c.client.List(ctx, &nss); err != nil {
		return reconcile.Result{}, err
	}
	var pods corev1.PodList
	if err := c.client.List(ctx, &pods); err != nil {
		return reconcile.Result{}, err
	}
	byNamespace := map[string][]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		byNamespace[p.Namespace] = append(byNamespace[p.Namespace], p)
	}
	configs := c.configs(nil, clcs.Items)
	var errs []error
	for i := range clcs.Items {
		clc := &clcs.Items[i]
		invalid := configs.Invalid[Key(logconfig.KindClusterLogConfig, "", clc.Name)]
		var matched int32
		if invalid == nil {
			sel := NewSelector(logconfig.FromClusterLogConfig(clc))
			for _, ns := range nss.Items {
				if ok, err := logconfig.SelectsNamespace(clc, ns.Labels); !ok || err != nil || NeverInjected(c.decide, ns.Name, ns.Labels) {
					continue
				}
				for _, p := range byNamespace[ns.Name] {
					if sel.Matched(p) {
						matched++
					}
				}
			}
		}
		if err := c.setStatus(ctx, clc, &clc.Status, clc.Generation, invalid, matched, ""); err != nil {
			errs = append(errs, err)
		}
	}
	return reconcile.Result{}, errors.Join(errs...)
}

// setStatus writes the status of obj (a LogConfig or ClusterLogConfig
// whose status st points to) when it changed: Accepted from invalid,
// the generation it describes and the matched pods.
func (c *controller) setStatus(ctx context.Context, obj client.Object, st *v1alpha1.LogConfigStatus, gen int64, invalid error, matched int32, note string) error {
	orig := obj.DeepCopyObject().(client.Object)
	want := st.DeepCopy()
	want.ObservedGeneration = gen
	want.MatchedPods = matched
	cond := metav1.Condition{Type: logconfig.ConditionAccepted, Status: metav1.ConditionTrue, Reason: logconfig.ReasonValid,
		Message: "the inputs load" + note, ObservedGeneration: gen}
	if invalid != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, logconfig.ReasonInvalid, invalid.Error()
	}
	meta.SetStatusCondition(&want.Conditions, cond)
	if apiequality.Semantic.DeepEqual(st, want) {
		return nil
	}
	*st = *want
	if err := c.client.Status().Patch(ctx, obj, client.MergeFrom(orig)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("status of %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// syncConfigMap makes the namespace's ConfigMap hold entries (deleting
// it when there are none), writing only when the bytes change.
func (c *controller) syncConfigMap(ctx context.Context, namespace string, entries []logconfig.Entry) error {
	key := client.ObjectKey{Namespace: namespace, Name: logconfig.ConfigMapName}
	var cm corev1.ConfigMap
	err := c.client.Get(ctx, key, &cm)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get ConfigMap %s: %w", key, err)
	}
	if len(entries) == 0 {
		if !exists {
			return nil
		}
		if err := c.client.Delete(ctx, &cm, client.Preconditions{UID: &cm.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete ConfigMap %s: %w", key, err)
		}
		return nil
	}
	data, err := Render(entries)
	if err != nil {
		return fmt.Errorf("render ConfigMap %s: %w", key, err)
	}
	if !exists {
		cm = corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: logconfig.ConfigMapName, Labels: map[string]string{ManagedByLabel: ManagedBy}},
			Data:       map[string]string{logconfig.ConfigMapKey: string(data)},
		}
		err := c.client.Create(ctx, &cm)
		if apierrors.IsAlreadyExists(err) {
			// The cache sees only ConfigMaps with the label: this one was
			// made by someone else.
			return &foreignConfigMapError{key}
		}
		if err != nil {
			return fmt.Errorf("create ConfigMap %s: %w", key, err)
		}
		return nil
	}
	if cm.Data[logconfig.ConfigMapKey] == string(data) && len(cm.Data) == 1 && len(cm.BinaryData) == 0 {
		return nil
	}
	cm.Data = map[string]string{logconfig.ConfigMapKey: string(data)}
	cm.BinaryData = nil
	if err := c.client.Update(ctx, &cm); err != nil {
		return fmt.Errorf("update ConfigMap %s: %w", key, err)
	}
	return nil
}

// foreignConfigMapError: the ConfigMap's name is taken by one loglet did
// not make.
type foreignConfigMapError struct{ key client.ObjectKey }

func (e *foreignConfigMapError) Error() string {
	return fmt.Sprintf("ConfigMap %s exists without the label %s=%s: loglet does not overwrite it, and the sidecars of the namespace get no LogConfig changes; delete it (or rename it) so the LogConfigs can be rendered there",
		e.key, ManagedByLabel, ManagedBy)
}

// uninjected reports the namespace's pods that opted in and run without
// the sidecar: the gauge, one Event each, and with reinject evict an
// eviction of each that has an owner to re-create it.
func (c *controller) uninjected(ctx context.Context, namespace string, nsLabels map[string]string, entries []logconfig.Entry, pods []corev1.Pod) (reconcile.Result, error) {
	c.mu.Lock()
	before := c.reported[namespace]
	c.mu.Unlock()
	now := map[types.UID]bool{}
	var res reconcile.Result
	var errs []error
	sels := NewSelectors(entries)
	for i := range pods {
		pod := &pods[i]
		why := Uninjected(pod, nsLabels, sels, c.decide)
		if why == "" {
			continue
		}
		now[pod.UID] = true
		owner := metav1.GetControllerOf(pod)
		if !before[pod.UID] {
			c.log.Info("pod runs without the loglet sidecar", "pod", client.ObjectKeyFromObject(pod), "why", why)
			c.recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonNotInjected, "Check", "%s", notInjectedMessage(why, owner, c.evict))
		}
		if !c.evict || owner == nil {
			continue
		}
		after := c.sinceEviction(owner.UID)
		if after == 0 {
			evicted, retry, err := c.evictPod(ctx, pod, owner)
			if err != nil {
				errs = append(errs, err)
			}
			if evicted {
				c.markEvicted(owner.UID)
				after = c.interval
			} else if retry {
				after = c.retry
			}
		}
		if after > 0 && (res.RequeueAfter == 0 || after < res.RequeueAfter) {
			res.RequeueAfter = after
		}
	}
	c.setReported(namespace, now)
	return res, errors.Join(errs...)
}

// sinceEviction is how long a pod of owner must wait for its eviction:
// 0 when none of owner's pods was evicted within the interval.
func (c *controller) sinceEviction(owner types.UID) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for uid, at := range c.evicted {
		if now.Sub(at) >= c.interval {
			delete(c.evicted, uid)
		}
	}
	if at, ok := c.evicted[owner]; ok {
		return c.interval - now.Sub(at)
	}
	return 0
}

func (c *controller) markEvicted(owner types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evicted[owner] = time.Now()
}

// evictPod evicts pod through the Eviction API, which keeps its
// PodDisruptionBudgets: a refusal (429) is tried again later (retry).
func (c *controller) evictPod(ctx context.Context, pod *corev1.Pod, owner *metav1.OwnerReference) (evicted, retry bool, err error) {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}}
	err = c.client.SubResource("eviction").Create(ctx, pod, ev)
	switch {
	case err == nil:
		c.log.Info("evicted a pod without the loglet sidecar", "pod", client.ObjectKeyFromObject(pod), "owner", owner.Kind+"/"+owner.Name)
		c.recorder.Eventf(pod, nil, corev1.EventTypeNormal, ReasonEvicted, "Evict",
			"evicted (reinject: evict) so that its %s %s creates it again with the loglet sidecar", owner.Kind, owner.Name)
		return true, false, nil
	case apierrors.IsTooManyRequests(err):
		c.log.Info("eviction refused for now (a PodDisruptionBudget), trying again later", "pod", client.ObjectKeyFromObject(pod), "in", c.retry, "reason", err.Error())
		return false, true, nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return false, false, nil // gone, or another pod of the same name
	default:
		return false, false, fmt.Errorf("evict pod %s: %w", client.ObjectKeyFromObject(pod), err)
	}
}

// notInjectedMessage is the NotInjected Event's note: what is wrong, why
// it happens, and how to fix it.
func notInjectedMessage(why string, owner *metav1.OwnerReference, evict bool) string {
	msg := "this pod opted in to loglet (" + why + ") but runs without the loglet sidecar, so its logs are not collected: " +
		"it was created while the loglet webhook was unreachable (failurePolicy Ignore) or before a LogConfig selected it. "
	switch {
	case owner == nil && evict:
		return msg + "It has no owner that would create it again, so loglet does not evict it (it would be gone for good): delete it and create it again yourself."
	case owner == nil:
		return msg + "Delete it and create it again (it has no owner that would)."
	case evict:
		return msg + fmt.Sprintf("loglet evicts it (reinject: evict, as its PodDisruptionBudgets allow, one pod of an owner a minute at most) so that its %s %s creates it again with the sidecar.", owner.Kind, owner.Name)
	default:
		return msg + fmt.Sprintf("Create it again: kubectl rollout restart of its workload (its owner is %s %s), or delete the pod; "+
			"or run the webhook with --reinject evict (chart value reinject: evict) to have loglet evict such pods.", owner.Kind, owner.Name)
	}
}

// setReported records the namespace's uninjected pods (nil: none) and
// sets the gauge to the total.
func (c *controller) setReported(namespace string, pods map[types.UID]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(pods) == 0 {
		delete(c.reported, namespace)
	} else {
		c.reported[namespace] = pods
	}
	total := 0
	for _, p := range c.reported {
		total += len(p)
	}
	c.gauge.Set(float64(total))
}
