package node

import (
	"slices"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/podapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/loglet/loglet/sidecar/parse"
	"github.com/loglet/loglet/sidecar/record"
)

// informerPods is Pods holding pods as the informer stores them (through
// trim), without an API server: TestChooseWithTheAPI runs the informer.
func informerPods(t *testing.T, pods ...*podapi.Pod) *Pods {
	t.Helper()
	p := &Pods{gone: map[types.UID]deleted{}, store: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{byUID: func(obj any) ([]string, error) {
		return []string{string(obj.(*podapi.Pod).UID)}, nil
	}})}
	for _, pod := range pods {
		obj, _ := trim(pod)
		if err := p.store.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestChooseWorkload: node mode's records carry the pod's workload
// attributes and service.name from the informer's pod, derived as the
// webhook derives them for a sidecar; and the path's identity replaces
// the agent-wide one rather than the resource naming two pods.
func TestChooseWorkload(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	ref := func(apiVersion, kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: "owner-uid"}}
	}
	meta := func(name, generate, uid string, owners []metav1.OwnerReference, labels, annotations map[string]string) *podapi.Pod {
		return &podapi.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, GenerateName: generate, Namespace: "shop", UID: types.UID(uid),
			CreationTimestamp: created, OwnerReferences: owners, Labels: labels, Annotations: annotations},
			Spec: podapi.PodSpec{Containers: []podapi.Container{{Name: "app", Image: "web:1"}}}}
	}
	pods := informerPods(t,
		meta("web-7d9f8c6b5-x2x4q", "web-7d9f8c6b5-", "u-web", ref("apps/v1", "ReplicaSet", "web-7d9f8c6b5"), map[string]string{"pod-template-hash": "7d9f8c6b5"}, nil),
		meta("db-0", "db-", "u-db", ref("apps/v1", "StatefulSet", "db"), map[string]string{"app.kubernetes.io/name": "postgres"}, nil),
		meta("backup-29935320-abcde", "backup-29935320-", "u-cron", ref("batch/v1", "Job", "backup-29935320"), nil, nil),
		meta("debug", "", "u-debug", nil, nil, nil),
		meta("scratch-q7k2p", "scratch-", "u-gen", nil, nil, map[string]string{"resource.opentelemetry.io/service.name": "scratchpad"}),
		meta("tmp-z9x8c", "tmp-", "u-tmp", nil, nil, nil),
	)
	d := &Dir{Root: "/var/log/pods", Parse: parse.Config{Container: "auto", Format: "raw", MaxLineBytes: 1 << 10, MultilineTimeout: time.Second},
		Pods: pods, Base: []record.KeyValue{{Key: "k8s.node.name", Value: "node-1"}, {Key: "k8s.pod.name", Value: "loglet-abcde"}}}
	for _, tc := range []struct {
		pod, uid string
		want     map[string]string
	}{
		{"web-7d9f8c6b5-x2x4q", "u-web", map[string]string{"k8s.deployment.name": "web", "k8s.replicaset.name": "web-7d9f8c6b5", "service.name": "web"}},
		{"db-0", "u-db", map[string]string{"k8s.statefulset.name": "db", "service.name": "postgres"}},
		{"backup-29935320-abcde", "u-cron", map[string]string{"k8s.cronjob.name": "backup", "k8s.job.name": "backup-29935320", "service.name": "backup"}},
		{"debug", "u-debug", map[string]string{"service.name": "debug"}},
		{"scratch-q7k2p", "u-gen", map[string]string{"service.name": "scratchpad"}},
		{"tmp-z9x8c", "u-tmp", map[string]string{"service.name": "app"}},
		{"unknown-pod", "u-none", map[string]string{"service.name": "app"}},
	} {
		t.Run(tc.pod, func(t *testing.T) {
			d.Wait = 0
			path := "/var/log/pods/shop_" + tc.pod + "_" + tc.uid + "/app/0.log"
			c := d.Choose(path)
			if c.Later {
				c = d.Choose(path) // an unknown pod is held once
			}
			got := map[string]string{}
			pods := 0
			for _, kv := range c.Resource {
				got[kv.Key] = kv.Value
				if kv.Key == "k8s.pod.name" {
					pods++
				}
			}
			if pods != 1 || got["k8s.pod.name"] != tc.pod {
				t.Errorf("k8s.pod.name %d times, %q; want once, %q", pods, got["k8s.pod.name"], tc.pod)
			}
			for _, k := range []string{"k8s.deployment.name", "k8s.replicaset.name", "k8s.statefulset.name", "k8s.daemonset.name",
				"k8s.job.name", "k8s.cronjob.name", "service.name"} {
				if got[k] != tc.want[k] {
					t.Errorf("%s = %q, want %q (resource %v)", k, got[k], tc.want[k], c.Resource)
				}
			}
			if !slices.Equal(d.Base, []record.KeyValue{{Key: "k8s.node.name", Value: "node-1"}, {Key: "k8s.pod.name", Value: "loglet-abcde"}}) {
				t.Errorf("Choose changed the base: %v", d.Base)
			}
		})
	}
}
