package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func metav1AddToGroupVersion(s *runtime.Scheme) { metav1.AddToGroupVersion(s, GroupVersion) }

// LogConfig selects pods of its namespace and says what their sidecars
// collect. A pod it selects is opted in.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lc,categories=loglet
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Pods",type=integer,JSONPath=`.status.matchedPods`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && self.metadata.name.size() <= 63",message="metadata.name: a LogConfig's name is a DNS label (lower-case letters, digits and -, at most 63): records carry it in loglet.input as <name>/<input>"
type LogConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LogConfigSpec   `json:"spec"`
	Status LogConfigStatus `json:"status,omitempty"`
}

// ClusterLogConfig is a LogConfig for the pods of every namespace its
// namespaceSelector selects.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=clc,categories=loglet
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Pods",type=integer,JSONPath=`.status.matchedPods`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && self.metadata.name.size() <= 63",message="metadata.name: a ClusterLogConfig's name is a DNS label (lower-case letters, digits and -, at most 63): records carry it in loglet.input as cluster/<name>/<input>"
type ClusterLogConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterLogConfigSpec `json:"spec"`
	Status LogConfigStatus      `json:"status,omitempty"`
}

// LogConfigSpec says which pods and containers, and what of them, is
// collected.
type LogConfigSpec struct {
	// Selector selects pods by label; empty or left out: every pod (of
	// the namespace, or of the selected namespaces).
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Containers limits the config to these containers of the selected
	// pods; empty: every container (init containers never).
	// +optional
	// +listType=set
	// +kubebuilder:validation:items:MaxLength=63
	Containers []string `json:"containers,omitempty"`
	// Inputs are what is collected, each read, parsed and routed on its
	// own: the configuration document's inputs (docs/configuration.md),
	// with files as the container sees them.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	Inputs []Input `json:"inputs"`
	// Sink, when set, is where the selected pods' sidecars ship instead
	// of the cluster's hub: the URL in a Secret of the pod's namespace. It
	// is read when the pod is created.
	// +optional
	Sink *SinkRef `json:"sink,omitempty"`
}

// ClusterLogConfigSpec is a LogConfigSpec with the namespaces it applies
// to.
type ClusterLogConfigSpec struct {
	// NamespaceSelector selects namespaces by label; empty or left out:
	// every namespace the webhook injects.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	LogConfigSpec `json:",inline"`
}

// Input is one entry of spec.inputs. Its keys are the configuration
// document's (kebab-case, as in the agent's file), so an input moves
// between a loglet.yaml and a LogConfig unchanged.
//
// +kubebuilder:validation:XValidation:rule="has(self.files) || (has(self.stdout) && self.stdout)",message="an input reads files, the containers' stdout (stdout: true), or both; give files: [/var/log/app/*.log] or stdout: true"
type Input struct {
	// Name is unique among the config's inputs; records carry
	// <config>/<name> as the attribute loglet.input.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	Name string `json:"name"`
	// Files are globs of log files as the containers see them: absolute,
	// the folder plain, the file name a glob (/var/log/app/*.log). The
	// folder is shared with the sidecar when the pod is created; files
	// added later in a folder already shared are read without a restart.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:XValidation:rule="self.startsWith('/')",message="files: a path as the container sees it, absolute, like /var/log/app/*.log"
	// +kubebuilder:validation:items:XValidation:rule="!self.contains('..')",message="files: a path may not hold .. (a parent folder)"
	// +kubebuilder:validation:items:XValidation:rule="!self.matches('^/(proc|sys|dev|etc|var/run/secrets)/')",message="files: /proc, /sys, /dev, /etc and /var/run/secrets are never read"
	Files []string `json:"files,omitempty"`
	// Stdout reads the selected containers' stdout and stderr with this
	// input's parsing.
	// +optional
	Stdout bool `json:"stdout,omitempty"`
	// Exclude are globs of files to leave out (*.gz).
	// +optional
	Exclude []string `json:"exclude,omitempty"`
	// Format: raw, json, logfmt, nginx, csv, syslog or regex:<RE2>.
	// +optional
	Format string `json:"format,omitempty"`
	// ContainerFormat: none, cri, docker or auto.
	// +optional
	// +kubebuilder:validation:Enum=none;cri;docker;auto
	ContainerFormat string `json:"container-format,omitempty"`
	// Multiline joins the lines of a record (stack traces).
	// +optional
	Multiline *Multiline `json:"multiline,omitempty"`
	// CSVFields are the column names of format csv.
	// +optional
	CSVFields []string `json:"csv-fields,omitempty"`
	// TimeKey is the field holding the record's event time.
	// +optional
	TimeKey string `json:"time-key,omitempty"`
	// TimeFormat says how TimeKey is written.
	// +optional
	TimeFormat string `json:"time-format,omitempty"`
	// Encoding is what the application writes its text in (gbk, utf-16…).
	// +optional
	Encoding string `json:"encoding,omitempty"`
	// InvalidUTF8: keep or replace.
	// +optional
	// +kubebuilder:validation:Enum=keep;replace
	InvalidUTF8 string `json:"invalid-utf8,omitempty"`
	// Route is where the input's records go (Kafka topic, JetStream
	// subject suffix).
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	Route string `json:"route,omitempty"`
	// Processors run on the input's records (docs/configuration.md).
	// +optional
	Processors []runtime.RawExtension `json:"processors,omitempty"`
}

// Multiline is an input's multiline block.
type Multiline struct {
	// +optional
	Start string `json:"start,omitempty"`
	// +optional
	End string `json:"end,omitempty"`
	// +optional
	Continue string `json:"continue,omitempty"`
	// +optional
	Preset string `json:"preset,omitempty"`
	// +optional
	MaxLines int32 `json:"max-lines,omitempty"`
	// +optional
	MaxBytes string `json:"max-bytes,omitempty"`
	// +optional
	Timeout string `json:"timeout,omitempty"`
}

// SinkRef names the Secret key holding a sink URL
// (nats://…, kafka://…, https://…).
type SinkRef struct {
	// SecretName is a Secret in the pod's namespace.
	// +kubebuilder:validation:MinLength=1
	SecretName string `json:"secretName"`
	// Key is the Secret's key holding the URL (default sink).
	// +optional
	Key string `json:"key,omitempty"`
}

// LogConfigStatus is what the controller observed.
type LogConfigStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// MatchedPods counts the running pods the config selects.
	// +optional
	MatchedPods int32 `json:"matchedPods,omitempty"`
	// Conditions: Accepted (False with the reason when the inputs do not
	// load).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LogConfigList is a list of LogConfigs.
//
// +kubebuilder:object:root=true
type LogConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LogConfig `json:"items"`
}

// ClusterLogConfigList is a list of ClusterLogConfigs.
//
// +kubebuilder:object:root=true
type ClusterLogConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterLogConfig `json:"items"`
}
