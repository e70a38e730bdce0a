package node

import (
	"context"
	"sync"

	"github.com/loglet/loglet/sidecar/podapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/loglet/loglet/api/v1alpha1"
)

// LogConfigs holds the cluster's LogConfigs and ClusterLogConfigs
// (loglet.io/v1alpha1), and the namespaces' labels their namespace
// selectors look at, through informers: node mode applies them to the
// node's pods. Changed tells of every change, so the agent re-decides how
// the files it reads are read.
type LogConfigs struct {
	lcs, clcs, nss cache.Store
	ctrls          []cache.Controller
	changed        chan struct{}
}

// NewLogConfigs watches LogConfigs and ClusterLogConfigs through client
// (the loglet.io/v1alpha1 group) and namespaces through core (core/v1).
// The agent's service account needs list and watch on all three.
func NewLogConfigs(client, core rest.Interface) *LogConfigs {
	l := &LogConfigs{changed: make(chan struct{}, 1)}
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { l.notify() },
		UpdateFunc: func(any, any) { l.notify() },
		DeleteFunc: func(any) { l.notify() },
	}
	for _, w := range []struct {
		client   rest.Interface
		resource string
		obj      runtime.Object
		store    *cache.Store
		trim     cache.TransformFunc
	}{
		{client, "logconfigs", &v1alpha1.LogConfig{}, &l.lcs, nil},
		{client, "clusterlogconfigs", &v1alpha1.ClusterLogConfig{}, &l.clcs, nil},
		{core, "namespaces", &podapi.Namespace{}, &l.nss, trimNamespace},
	} {
		lw := cache.NewListWatchFromClient(w.client, w.resource, metav1.NamespaceAll, fields.Everything())
		var ctrl cache.Controller
		*w.store, ctrl = cache.NewInformerWithOptions(cache.InformerOptions{
			ListerWatcher: lw, ObjectType: w.obj, Handler: notify, Transform: w.trim,
		})
		l.ctrls = append(l.ctrls, ctrl)
	}
	return l
}

// trimNamespace keeps a namespace's name and labels, all a namespace
// selector reads.
func trimNamespace(obj any) (any, error) {
	ns, ok := obj.(*podapi.Namespace)
	if !ok {
		return obj, nil // a deletion marker
	}
	return &podapi.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: ns.Labels, ResourceVersion: ns.ResourceVersion}}, nil
}

func (l *LogConfigs) notify() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// Run keeps the objects current until ctx ends.
func (l *LogConfigs) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range l.ctrls {
		wg.Go(func() { c.RunWithContext(ctx) })
	}
	wg.Wait()
}

// Synced tells whether every kind has been listed.
func (l *LogConfigs) Synced() bool {
	for _, c := range l.ctrls {
		if !c.HasSynced() {
			return false
		}
	}
	return true
}

// Changed receives after objects changed (several changes may make one).
func (l *LogConfigs) Changed() <-chan struct{} { return l.changed }

// In returns the LogConfigs of namespace.
func (l *LogConfigs) In(namespace string) []*v1alpha1.LogConfig {
	var out []*v1alpha1.LogConfig
	for _, o := range l.lcs.List() {
		if lc := o.(*v1alpha1.LogConfig); lc.Namespace == namespace {
			out = append(out, lc)
		}
	}
	return out
}

// Cluster returns the ClusterLogConfigs.
func (l *LogConfigs) Cluster() []*v1alpha1.ClusterLogConfig {
	var out []*v1alpha1.ClusterLogConfig
	for _, o := range l.clcs.List() {
		out = append(out, o.(*v1alpha1.ClusterLogConfig))
	}
	return out
}

// NamespaceLabels returns namespace's labels; ok is false while the
// namespace is not known.
func (l *LogConfigs) NamespaceLabels(namespace string) (map[string]string, bool) {
	o, ok, _ := l.nss.GetByKey(namespace)
	if !ok {
		return nil, false
	}
	return o.(*podapi.Namespace).Labels, true
}
