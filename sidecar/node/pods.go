package node

import (
	"context"
	"sync"
	"time"

	"github.com/loglet/loglet/sidecar/podapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Pods holds what the API says of the node's pods: an informer on pods
// with spec.nodeName = the node, kept to the fields node mode reads. A
// deleted pod is remembered for a while, as the kubelet keeps its logs
// for a while and they are read to their end.
type Pods struct {
	store cache.Indexer
	ctrl  cache.Controller
	keep  time.Duration

	mu   sync.Mutex
	gone map[types.UID]deleted
}

type deleted struct {
	pod *podapi.Pod
	at  time.Time
}

const byUID = "uid"

// NewPods watches the pods of node through client (core/v1); deleted
// pods are remembered for keep.
func NewPods(client rest.Interface, node string, keep time.Duration) *Pods {
	p := &Pods{keep: keep, gone: map[types.UID]deleted{}}
	lw := cache.NewListWatchFromClient(client, "pods", metav1.NamespaceAll, fields.OneTermEqualSelector("spec.nodeName", node))
	var store cache.Store
	store, p.ctrl = cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &podapi.Pod{},
		Indexers: cache.Indexers{byUID: func(obj any) ([]string, error) {
			return []string{string(obj.(*podapi.Pod).UID)}, nil
		}},
		Transform: trim,
		Handler:   cache.ResourceEventHandlerFuncs{DeleteFunc: p.onDelete},
	})
	p.store = store.(cache.Indexer) // with Indexers set, the store is an Indexer
	return p
}

func (p *Pods) onDelete(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*podapi.Pod)
	if !ok {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone[pod.UID] = deleted{pod, now}
	for uid, d := range p.gone {
		if now.Sub(d.at) > p.keep {
			delete(p.gone, uid)
		}
	}
}

// trim keeps what node mode reads of a pod (init containers among the
// containers), so a node's worth of pods costs little memory.
func trim(obj any) (any, error) {
	pod, ok := obj.(*podapi.Pod)
	if !ok {
		return obj, nil // a deletion marker
	}
	t := &podapi.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: pod.Name, GenerateName: pod.GenerateName, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
		CreationTimestamp: pod.CreationTimestamp, Labels: pod.Labels, Annotations: pod.Annotations,
	}}
	// The owners, for the workload attributes (pod.Workload).
	for _, o := range pod.OwnerReferences {
		t.OwnerReferences = append(t.OwnerReferences, metav1.OwnerReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name})
	}
	for _, list := range [][]podapi.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			k := podapi.Container{Name: c.Name, Image: c.Image}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					k.Env = append(k.Env, podapi.EnvVar{Name: e.Name, Value: e.Value})
				}
			}
			t.Spec.Containers = append(t.Spec.Containers, k)
		}
	}
	return t, nil
}

// Run keeps the pods current until ctx ends.
func (p *Pods) Run(ctx context.Context) { p.ctrl.RunWithContext(ctx) }

// Synced tells whether the node's pods have been listed.
func (p *Pods) Synced() bool { return p.ctrl.HasSynced() }

// Lookup returns the pod with uid, also one deleted not long ago.
func (p *Pods) Lookup(uid string) (*podapi.Pod, bool) {
	if objs, _ := p.store.ByIndex(byUID, uid); len(objs) > 0 {
		return objs[0].(*podapi.Pod), true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.gone[types.UID(uid)]
	return d.pod, ok
}
