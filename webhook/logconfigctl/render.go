package logconfigctl

import (
	"encoding/json"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/loglet/loglet/logconfig"
)

// Render is the ConfigMap's document for entries (in order): the same
// entries give the same bytes (encoding/json sorts map keys), so the
// ConfigMap is written only when what applies changed.
func Render(entries []logconfig.Entry) ([]byte, error) {
	return json.Marshal(logconfig.Rendered{Version: logconfig.Version, Configs: entries})
}

// CacheOptions are the manager's cache settings the controller needs:
// only loglet's ConfigMaps (by name and label: RBAC can then grant the
// one name), and pods trimmed to what the controller reads, so a large
// cluster's pods do not fill the webhook's memory. Code reading pods
// through the manager's cached client gets them trimmed (TrimPod); read
// through the API reader for the whole pod.
func CacheOptions() cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Transform: TrimPod},
		&corev1.ConfigMap{}: {
			Field: fields.OneTermEqualSelector("metadata.name", logconfig.ConfigMapName),
			Label: labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedBy}),
		},
	}}
}

// TrimPod keeps of a pod what the controller reads: its metadata (but
// managed fields and kubectl's last-applied copy), the names of its
// containers and its phase.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone: passed on as it is
	}
	out := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: pod.ObjectMeta}
	out.ManagedFields = nil
	if _, ok := pod.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		out.Annotations = maps.Clone(pod.Annotations)
		delete(out.Annotations, corev1.LastAppliedConfigAnnotation)
	}
	for _, c := range pod.Spec.Containers {
		out.Spec.Containers = append(out.Spec.Containers, corev1.Container{Name: c.Name})
	}
	for _, c := range pod.Spec.InitContainers {
		out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{Name: c.Name})
	}
	out.Spec.NodeName = pod.Spec.NodeName
	out.Status.Phase = pod.Status.Phase
	return out, nil
}

// podChanges passes the pod events that can change what the controller
// concludes (labels, annotations, phase, deletion, creation and removal),
// not the many status updates of a running pod.
func podChanges() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*corev1.Pod)
		n, ok2 := e.ObjectNew.(*corev1.Pod)
		if !ok1 || !ok2 {
			return true
		}
		return o.Status.Phase != n.Status.Phase || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
			!maps.Equal(o.Labels, n.Labels) || !maps.Equal(o.Annotations, n.Annotations)
	}}
}
