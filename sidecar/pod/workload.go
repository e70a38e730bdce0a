package pod

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loglet/loglet/sidecar/record"
)

// Workload returns the OpenTelemetry resource attributes of the workload
// that owns a pod, from what the pod itself says (its ownerReferences and
// labels): the webhook sees that at admission and node mode in its
// informer, neither asking the API for the owners' owners.
//
//   - k8s.replicaset.name, k8s.statefulset.name, k8s.daemonset.name,
//     k8s.job.name: the pod's owner of that kind (apps/batch).
//   - k8s.deployment.name: a Deployment names its ReplicaSets
//     <deployment>-<pod-template-hash> and labels their pods with that
//     hash, so it is the ReplicaSet's name less "-" and the pod's
//     pod-template-hash label; a ReplicaSet without that label (made by
//     hand, or by another controller) has no Deployment.
//   - k8s.cronjob.name: a CronJob names its Jobs <cronjob>-<N>, N the
//     scheduled time in minutes since the epoch, and its Job's pods start
//     after that time: a Job whose name ends in such a number, at most a
//     week before the pod was created (ten minutes after, for clocks that
//     differ), is taken for a CronJob's. A Job made by hand whose name
//     ends in another number (backup-2, migrate-20261201) is not; a Job
//     started from a CronJob by hand (kubectl create job --from) has no
//     scheduled time in its name and gets no k8s.cronjob.name.
//
// created is when the pod was created (at admission: now).
func Workload(owners []metav1.OwnerReference, labels map[string]string, created time.Time) []record.KeyValue {
	var out []record.KeyValue
	add := func(key, value string) {
		if value != "" && !has(out, key) {
			out = append(out, record.KeyValue{Key: key, Value: value})
		}
	}
	for _, o := range owners {
		group, _, _ := strings.Cut(o.APIVersion, "/")
		switch {
		case group == "apps" && o.Kind == "ReplicaSet":
			if hash := labels["pod-template-hash"]; hash != "" {
				if d, ok := strings.CutSuffix(o.Name, "-"+hash); ok {
					add("k8s.deployment.name", d)
				}
			}
			add("k8s.replicaset.name", o.Name)
		case group == "apps" && o.Kind == "Deployment":
			add("k8s.deployment.name", o.Name)
		case group == "apps" && o.Kind == "StatefulSet":
			add("k8s.statefulset.name", o.Name)
		case group == "apps" && o.Kind == "DaemonSet":
			add("k8s.daemonset.name", o.Name)
		case group == "batch" && o.Kind == "Job":
			add("k8s.cronjob.name", cronJobOf(o.Name, created))
			add("k8s.job.name", o.Name)
		case group == "batch" && o.Kind == "CronJob":
			add("k8s.cronjob.name", o.Name)
		}
	}
	return out
}

// cronJobOf is the CronJob that made the Job named job, or "" (see
// Workload).
func cronJobOf(job string, created time.Time) string {
	i := strings.LastIndexByte(job, '-')
	if i <= 0 || i == len(job)-1 || job[i+1] == '0' {
		return ""
	}
	n, err := strconv.ParseInt(job[i+1:], 10, 64)
	if err != nil || n > created.Unix()/60+10 || n < created.Add(-7*24*time.Hour).Unix()/60 {
		return ""
	}
	return job[:i]
}

// ServiceNameAnnotation sets a pod's service.name, as the OpenTelemetry
// semantic conventions and operator read it.
const ServiceNameAnnotation = "resource.opentelemetry.io/service.name"

// ServiceName derives a pod's service.name as the OpenTelemetry operator
// does (its chooseServiceName; the semantic conventions' "How service.name
// should be calculated"): the first that is set of
//
//  1. the pod's annotation resource.opentelemetry.io/service.name,
//  2. its label app.kubernetes.io/instance, then app.kubernetes.io/name
//     (the operator reads these when its Instrumentation says
//     useLabelsForResourceAttributes; loglet always does),
//  3. k8s.deployment.name, k8s.replicaset.name, k8s.statefulset.name,
//     k8s.daemonset.name, k8s.cronjob.name, k8s.job.name (workload, from
//     Workload),
//  4. the pod's name, when it was given one (name is "" for a name the
//     API server generates, as at admission),
//
// or "", for the caller to use the container's name (the operator's last
// choice).
func ServiceName(annotations, labels map[string]string, workload []record.KeyValue, name string) string {
	if v := annotations[ServiceNameAnnotation]; v != "" {
		return v
	}
	for _, l := range []string{"app.kubernetes.io/instance", "app.kubernetes.io/name"} {
		if v := labels[l]; v != "" {
			return v
		}
	}
	for _, k := range []string{"k8s.deployment.name", "k8s.replicaset.name", "k8s.statefulset.name",
		"k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name"} {
		if v := Get(workload, k); v != "" {
			return v
		}
	}
	return name
}

// Get returns key's value in res, or "".
func Get(res []record.KeyValue, key string) string {
	for _, kv := range res {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

func has(res []record.KeyValue, key string) bool {
	for _, kv := range res {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// Set gives key the value in res: in place where res has it (once, the
// later ones dropped), else appended. A source's own container or pod
// then replaces what the agent-wide identity said, rather than the
// resource naming two.
func Set(res []record.KeyValue, key, value string) []record.KeyValue {
	out := res[:0:0]
	found := false
	for _, kv := range res {
		if kv.Key != key {
			out = append(out, kv)
		} else if !found {
			out = append(out, record.KeyValue{Key: key, Value: value})
			found = true
		}
	}
	if !found {
		out = append(out, record.KeyValue{Key: key, Value: value})
	}
	return out
}

// The environment variables the webhook hands the sidecar the pod's
// workload and service.name in: the OpenTelemetry SDKs' own, which the
// OpenTelemetry operator sets the same way for the containers it
// instruments.
const (
	ResourceEnv    = "OTEL_RESOURCE_ATTRIBUTES"
	ServiceNameEnv = "OTEL_SERVICE_NAME"
)

// FormatResourceEnv writes res as OTEL_RESOURCE_ATTRIBUTES' value:
// key=value pairs separated by commas, values percent-encoded where they
// hold a comma, an equals sign, a percent sign, a space or a control
// character (the W3C baggage octets the specification names).
func FormatResourceEnv(res []record.KeyValue) string {
	var b strings.Builder
	for i, kv := range res {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv.Key)
		b.WriteByte('=')
		for _, c := range []byte(kv.Value) {
			if c <= ' ' || c == ',' || c == '=' || c == '%' || c == '"' || c == ';' || c == '\\' || c >= 0x7f {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// ParseResourceEnv reads OTEL_RESOURCE_ATTRIBUTES' value, in order; an
// empty value has none.
func ParseResourceEnv(v string) ([]record.KeyValue, error) {
	var out []record.KeyValue
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	for _, pair := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %q is not key=value; write key1=value1,key2=value2 (values percent-encoded)", ResourceEnv, pair)
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: the value of %s: %w; percent-encode %% as %%25", ResourceEnv, k, err)
		}
		out = Set(out, k, dec)
	}
	return out, nil
}
