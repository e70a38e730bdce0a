package pod

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loglet/loglet/sidecar/record"
)

func owner(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, Controller: new(true)}
}

// TestWorkload: the owner attributes of the OpenTelemetry semantic
// conventions, from a pod's ownerReferences and labels as the webhook sees
// them at admission (and the node-mode informer later).
func TestWorkload(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)
	// A CronJob's Job is named after its scheduled time, in minutes.
	minutes := func(t time.Time) string { return strconv.FormatInt(t.Unix()/60, 10) }
	for _, tc := range []struct {
		name   string
		owners []metav1.OwnerReference
		labels map[string]string
		want   []record.KeyValue
	}{
		{"deployment", []metav1.OwnerReference{owner("apps/v1", "ReplicaSet", "web-7d9f8c6b5")}, map[string]string{"pod-template-hash": "7d9f8c6b5"},
			[]record.KeyValue{{Key: "k8s.deployment.name", Value: "web"}, {Key: "k8s.replicaset.name", Value: "web-7d9f8c6b5"}}},
		{"replicaset of its own", []metav1.OwnerReference{owner("apps/v1", "ReplicaSet", "cache-1")}, nil,
			[]record.KeyValue{{Key: "k8s.replicaset.name", Value: "cache-1"}}},
		{"hash that is not the name's", []metav1.OwnerReference{owner("apps/v1", "ReplicaSet", "web-abc")}, map[string]string{"pod-template-hash": "xyz"},
			[]record.KeyValue{{Key: "k8s.replicaset.name", Value: "web-abc"}}},
		{"statefulset", []metav1.OwnerReference{owner("apps/v1", "StatefulSet", "db")}, nil,
			[]record.KeyValue{{Key: "k8s.statefulset.name", Value: "db"}}},
		{"daemonset", []metav1.OwnerReference{owner("apps/v1", "DaemonSet", "agent")}, nil,
			[]record.KeyValue{{Key: "k8s.daemonset.name", Value: "agent"}}},
		{"job", []metav1.OwnerReference{owner("batch/v1", "Job", "migrate")}, nil,
			[]record.KeyValue{{Key: "k8s.job.name", Value: "migrate"}}},
		{"cronjob's job", []metav1.OwnerReference{owner("batch/v1", "Job", "backup-"+minutes(created.Add(-30*time.Second)))}, nil,
			[]record.KeyValue{{Key: "k8s.cronjob.name", Value: "backup"}, {Key: "k8s.job.name", Value: "backup-" + minutes(created.Add(-30*time.Second))}}},
		{"cronjob's job, pod made days later", []metav1.OwnerReference{owner("batch/v1", "Job", "nightly-report-"+minutes(created.Add(-6*24*time.Hour)))}, nil,
			[]record.KeyValue{{Key: "k8s.cronjob.name", Value: "nightly-report"}, {Key: "k8s.job.name", Value: "nightly-report-" + minutes(created.Add(-6*24*time.Hour))}}},
		{"job named with a small number", []metav1.OwnerReference{owner("batch/v1", "Job", "backup-2")}, nil,
			[]record.KeyValue{{Key: "k8s.job.name", Value: "backup-2"}}},
		{"job named with a date", []metav1.OwnerReference{owner("batch/v1", "Job", "migrate-20261201")}, nil,
			[]record.KeyValue{{Key: "k8s.job.name", Value: "migrate-20261201"}}},
		{"job named with a time to come", []metav1.OwnerReference{owner("batch/v1", "Job", "later-"+minutes(created.Add(time.Hour)))}, nil,
			[]record.KeyValue{{Key: "k8s.job.name", Value: "later-" + minutes(created.Add(time.Hour))}}},
		{"another group's ReplicaSet", []metav1.OwnerReference{owner("example.com/v1", "ReplicaSet", "web-7d9f8c6b5")}, map[string]string{"pod-template-hash": "7d9f8c6b5"}, nil},
		{"bare pod", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Workload(tc.owners, tc.labels, created); !slices.Equal(got, tc.want) {
				t.Errorf("Workload = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestServiceName: the OpenTelemetry operator's order.
func TestServiceName(t *testing.T) {
	deploy := []record.KeyValue{{Key: "k8s.deployment.name", Value: "web"}, {Key: "k8s.replicaset.name", Value: "web-7d9f8c6b5"}}
	cron := []record.KeyValue{{Key: "k8s.cronjob.name", Value: "backup"}, {Key: "k8s.job.name", Value: "backup-29410000"}}
	for _, tc := range []struct {
		name                string
		annotations, labels map[string]string
		workload            []record.KeyValue
		pod, want           string
	}{
		{"annotation first", map[string]string{ServiceNameAnnotation: "checkout"},
			map[string]string{"app.kubernetes.io/instance": "shop", "app.kubernetes.io/name": "web"}, deploy, "web-1", "checkout"},
		{"instance label", nil, map[string]string{"app.kubernetes.io/instance": "shop", "app.kubernetes.io/name": "web"}, deploy, "", "shop"},
		{"name label", nil, map[string]string{"app.kubernetes.io/name": "web-ui"}, deploy, "", "web-ui"},
		{"deployment before replicaset", nil, nil, deploy, "", "web"},
		{"replicaset", nil, nil, deploy[1:], "", "web-7d9f8c6b5"},
		{"cronjob before job", nil, nil, cron, "", "backup"},
		{"job", nil, nil, cron[1:], "", "backup-29410000"},
		{"statefulset", nil, nil, []record.KeyValue{{Key: "k8s.statefulset.name", Value: "db"}}, "db-0", "db"},
		{"a pod's given name", nil, map[string]string{"app": "x"}, nil, "debug", "debug"},
		{"nothing: the caller's container", nil, nil, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ServiceName(tc.annotations, tc.labels, tc.workload, tc.pod); got != tc.want {
				t.Errorf("ServiceName = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestResourceEnv: OTEL_RESOURCE_ATTRIBUTES as the webhook writes it
// reads back the same; a value of another writer's is read as the
// specification says; a malformed one is refused naming the variable.
func TestResourceEnv(t *testing.T) {
	res := []record.KeyValue{{Key: "k8s.deployment.name", Value: "web"}, {Key: "odd", Value: "a,b=c %d é\"x\""}}
	env := FormatResourceEnv(res)
	if env != `k8s.deployment.name=web,odd=a%2Cb%3Dc%20%25d%20%C3%A9%22x%22` {
		t.Errorf("FormatResourceEnv = %s", env)
	}
	for _, tc := range []struct {
		in      string
		want    []record.KeyValue
		wantErr string
	}{
		{env, res, ""},
		{"", nil, ""},
		{" service.name = web , k8s.cluster.name=prod", []record.KeyValue{{Key: "service.name", Value: "web"}, {Key: "k8s.cluster.name", Value: "prod"}}, ""},
		{"a=1,a=2", []record.KeyValue{{Key: "a", Value: "2"}}, ""},
		{"a=", []record.KeyValue{{Key: "a", Value: ""}}, ""},
		{"novalue", nil, `OTEL_RESOURCE_ATTRIBUTES: "novalue" is not key=value`},
		{"a=1,,b=2", nil, `OTEL_RESOURCE_ATTRIBUTES: "" is not key=value`},
		{"a=100%", nil, "OTEL_RESOURCE_ATTRIBUTES: the value of a"},
	} {
		got, err := ParseResourceEnv(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseResourceEnv(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseResourceEnv(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzResourceEnv: any value reads without a panic, and any resource
// written reads back the same.
func FuzzResourceEnv(f *testing.F) {
	for _, s := range []string{"a=b", "k8s.deployment.name=web,odd=a%2Cb", "a=%zz", ",,", "a=1,a=2", "=x"} {
		f.Add(s, "value, with = odd % bytes\x00\xff")
	}
	f.Fuzz(func(t *testing.T, env, value string) {
		_, _ = ParseResourceEnv(env)
		res := []record.KeyValue{{Key: "k", Value: value}, {Key: "k8s.pod.name", Value: "x"}}
		got, err := ParseResourceEnv(FormatResourceEnv(res))
		if err != nil || !slices.Equal(got, res) {
			t.Fatalf("%q read back as %v, %v", value, got, err)
		}
	})
}

// TestSet: Set replaces in place, keeps one, appends when absent, and
// never writes into the slice it was given.
func TestSet(t *testing.T) {
	base := []record.KeyValue{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "a", Value: "3"}}
	for _, tc := range []struct {
		key, value string
		want       []record.KeyValue
	}{
		{"a", "x", []record.KeyValue{{Key: "a", Value: "x"}, {Key: "b", Value: "2"}}},
		{"c", "y", []record.KeyValue{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "a", Value: "3"}, {Key: "c", Value: "y"}}},
	} {
		before := slices.Clone(base)
		if got := Set(base, tc.key, tc.value); !slices.Equal(got, tc.want) {
			t.Errorf("Set(%s=%s) = %v, want %v", tc.key, tc.value, got, tc.want)
		}
		if !slices.Equal(base, before) {
			t.Errorf("Set wrote into its argument: %v", base)
		}
	}
}
