// Package v1alpha1 holds the loglet.io/v1alpha1 API: LogConfig and
// ClusterLogConfig, collection configured as Kubernetes objects. The
// webhook injects with them, its controller renders them into each
// namespace's ConfigMap, and the sidecars and node agents read that.
//
// +kubebuilder:object:generate=true
// +groupName=loglet.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API's group and version.
var GroupVersion = schema.GroupVersion{Group: "loglet.io", Version: "v1alpha1"}

// AddToScheme adds LogConfig and ClusterLogConfig (and their lists) to a
// scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &LogConfig{}, &LogConfigList{}, &ClusterLogConfig{}, &ClusterLogConfigList{})
	metav1AddToGroupVersion(s)
	return nil
}
