package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/loglet/loglet/sidecar/record"
)

// TestLoadWorkloadResource: the pod's workload and service.name the
// webhook hands a sidecar in OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME (the OpenTelemetry SDKs' variables) join the
// resource after the pod's identity, OTEL_SERVICE_NAME winning as the
// specification says; node mode, whose records are other pods', leaves
// its own out; a malformed value is refused naming the variable.
func TestLoadWorkloadResource(t *testing.T) {
	side := []string{"--mode", "sidecar", "--stdout", "off", "--path", "/var/loglet/c/app/0/*.log"}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    []record.KeyValue // after host.name
		wantErr string
	}{
		{"sidecar", map[string]string{"LOGLET_POD_NAME": "web-1", "OTEL_RESOURCE_ATTRIBUTES": "k8s.deployment.name=web,k8s.replicaset.name=web-7d9f8c6b5",
			"OTEL_SERVICE_NAME": "web"}, side,
			[]record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}, {Key: "k8s.deployment.name", Value: "web"},
				{Key: "k8s.replicaset.name", Value: "web-7d9f8c6b5"}, {Key: "service.name", Value: "web"}}, ""},
		{"OTEL_SERVICE_NAME wins", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=a,k8s.job.name=j", "OTEL_SERVICE_NAME": "b"}, side,
			[]record.KeyValue{{Key: "service.name", Value: "b"}, {Key: "k8s.job.name", Value: "j"}}, ""},
		{"identity wins", map[string]string{"LOGLET_POD_NAME": "web-1", "OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.name=other"}, side,
			[]record.KeyValue{{Key: "k8s.pod.name", Value: "web-1"}}, ""},
		{"local", map[string]string{"OTEL_SERVICE_NAME": "batch"}, []string{"--path", "/var/log/*.log"},
			[]record.KeyValue{{Key: "service.name", Value: "batch"}}, ""},
		{"node leaves its own out", map[string]string{"OTEL_SERVICE_NAME": "loglet", "OTEL_RESOURCE_ATTRIBUTES": "k8s.daemonset.name=loglet"},
			[]string{"--mode", "node", "--pod-metadata=false"}, nil, ""},
		{"malformed", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "k8s.deployment.name"}, side, nil,
			`OTEL_RESOURCE_ATTRIBUTES: "k8s.deployment.name" is not key=value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.env, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Pipeline.Resource[1:]; !slices.Equal(got, tc.want) {
				t.Errorf("resource after host.name %v, want %v", got, tc.want)
			}
		})
	}
}
