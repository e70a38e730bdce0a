// Package podapi is the part of the Kubernetes core/v1 API the agent
// reads: pods (names, labels, annotations, owners, containers' images and
// literal environment, container statuses) and namespaces (labels), with
// a REST client for them.
//
// The types carry core/v1's JSON names, so the API server's answers
// decode into them, and leave out every other field. Linking
// k8s.io/api/core/v1 instead, whose scheme registers every core type
// with its generated conversion and protobuf code, cost the slim binary
// 1.4 MB (issue 24); the webhook, which builds whole pods, still uses it.
//
// +kubebuilder:object:generate=true
package podapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SchemeGroupVersion is core/v1's.
var SchemeGroupVersion = schema.GroupVersion{Version: "v1"}

// AddToScheme registers the types as core/v1 kinds.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &Pod{}, &PodList{}, &Namespace{}, &NamespaceList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

// Pod is a core/v1 Pod, the fields the agent reads.
//
// +kubebuilder:object:root=true
type Pod struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PodSpec   `json:"spec,omitempty"`
	Status            PodStatus `json:"status,omitempty"`
}

// PodList is a list of pods.
//
// +kubebuilder:object:root=true
type PodList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Pod `json:"items"`
}

// PodSpec is a pod's spec.
type PodSpec struct {
	InitContainers []Container   `json:"initContainers,omitempty"`
	Containers     []Container   `json:"containers,omitempty"`
	RestartPolicy  RestartPolicy `json:"restartPolicy,omitempty"`
	NodeName       string        `json:"nodeName,omitempty"`
}

// RestartPolicy is a pod's restart policy.
type RestartPolicy string

// The restart policies ended() tells apart.
const (
	RestartPolicyAlways    RestartPolicy = "Always"
	RestartPolicyOnFailure RestartPolicy = "OnFailure"
	RestartPolicyNever     RestartPolicy = "Never"
)

// Container is a container of a pod's spec.
type Container struct {
	Name  string   `json:"name"`
	Image string   `json:"image,omitempty"`
	Env   []EnvVar `json:"env,omitempty"`
}

// EnvVar is a container's environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	// ValueFrom is set when the value comes from a reference (a Secret, a
	// field), which the API does not resolve; only its presence is read.
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource stands for a variable's reference; its fields are not read.
type EnvVarSource struct{}

// PodStatus is a pod's status.
type PodStatus struct {
	Phase             PodPhase          `json:"phase,omitempty"`
	ContainerStatuses []ContainerStatus `json:"containerStatuses,omitempty"`
}

// PodPhase is a pod's phase.
type PodPhase string

// The phases after which no container runs again.
const (
	PodRunning   PodPhase = "Running"
	PodSucceeded PodPhase = "Succeeded"
	PodFailed    PodPhase = "Failed"
)

// ContainerStatus is what the kubelet reports of a container.
type ContainerStatus struct {
	Name                 string         `json:"name"`
	State                ContainerState `json:"state,omitempty"`
	LastTerminationState ContainerState `json:"lastState,omitempty"`
	RestartCount         int32          `json:"restartCount"`
}

// ContainerState is a container instance's state; at most one is set.
type ContainerState struct {
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateRunning is a running container.
type ContainerStateRunning struct {
	StartedAt metav1.Time `json:"startedAt,omitempty"`
}

// ContainerStateTerminated is a container that exited.
type ContainerStateTerminated struct {
	ExitCode  int32       `json:"exitCode"`
	StartedAt metav1.Time `json:"startedAt,omitempty"`
}

// Namespace is a core/v1 Namespace: its name and labels.
//
// +kubebuilder:object:root=true
type Namespace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
}

// NamespaceList is a list of namespaces.
//
// +kubebuilder:object:root=true
type NamespaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Namespace `json:"items"`
}
