package podapi

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// TestDecodesCoreV1: a pod and a namespace as the API server writes them
// (core/v1's own types, encoded) decode into this package's types with
// every field the agent reads, through the codec NewClient uses.
func TestDecodesCoreV1(t *testing.T) {
	started := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	ctrl := true
	in := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", GenerateName: "web-", Namespace: "shop", UID: "u-1", ResourceVersion: "42",
			CreationTimestamp: started, Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"loglet.io/format": "json"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9", UID: "u-rs", Controller: &ctrl}}},
		Spec: corev1.PodSpec{
			NodeName:       "node-1",
			RestartPolicy:  corev1.RestartPolicyOnFailure,
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1"}},
			Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/x/web:1.4", Env: []corev1.EnvVar{
				{Name: "TEAM", Value: "a"},
				{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
			}, Ports: []corev1.ContainerPort{{ContainerPort: 80}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: 2,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, StartedAt: started}},
		}}},
	}
	want := &Pod{
		TypeMeta:   in.TypeMeta,
		ObjectMeta: in.ObjectMeta,
		Spec: PodSpec{
			NodeName:       "node-1",
			RestartPolicy:  RestartPolicyOnFailure,
			InitContainers: []Container{{Name: "init", Image: "busybox:1"}},
			Containers:     []Container{{Name: "app", Image: "ghcr.io/x/web:1.4", Env: []EnvVar{{Name: "TEAM", Value: "a"}, {Name: "SECRET", ValueFrom: &EnvVarSource{}}}}},
		},
		Status: PodStatus{Phase: PodRunning, ContainerStatuses: []ContainerStatus{{
			Name: "app", RestartCount: 2,
			State:                ContainerState{Running: &ContainerStateRunning{StartedAt: started}},
			LastTerminationState: ContainerState{Terminated: &ContainerStateTerminated{ExitCode: 137, StartedAt: started}},
		}}},
	}
	var got Pod
	decode(t, in, &got)
	if !equality.Semantic.DeepEqual(want, &got) {
		t.Errorf("pod\n got %+v\nwant %+v", &got, want)
	}
	if c := got.DeepCopyObject().(*Pod); !equality.Semantic.DeepEqual(c, &got) || &c.Spec.Containers[0] == &got.Spec.Containers[0] {
		t.Errorf("DeepCopyObject is not a deep copy")
	}

	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	var gotNS Namespace
	decode(t, ns, &gotNS)
	if want := (&Namespace{TypeMeta: ns.TypeMeta, ObjectMeta: ns.ObjectMeta}); !equality.Semantic.DeepEqual(want, &gotNS) {
		t.Errorf("namespace\n got %+v\nwant %+v", &gotNS, want)
	}
}

// decode encodes in as JSON and decodes it with the codec of NewClient.
func decode(t *testing.T, in any, out runtime.Object) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	codecs := serializer.NewCodecFactory(scheme)
	if _, _, err := codecs.UniversalDeserializer().Decode(b, nil, out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
