//go:build !slim

package main

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/loglet/loglet/charts"
	"github.com/loglet/loglet/internal/settings"
)

// TestHubClusterChartArgs: `loglet hub` takes the arguments the chart's
// StatefulSet gives each member, for one member and for three.
func TestHubClusterChartArgs(t *testing.T) {
	for _, replicas := range []string{"1", "3"} {
		t.Run("replicas="+replicas, func(t *testing.T) {
			r, err := charts.Render(charts.Dir(), charts.ReleaseName, charts.ReleaseNamespace, "hub.replicas="+replicas)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := charts.Objects(r.Manifests)
			if err != nil {
				t.Fatal(err)
			}
			var sts *appsv1.StatefulSet
			for _, o := range objs {
				if o.GetKind() == "StatefulSet" && o.GetName() == "loglet-hub" {
					b, _ := yaml.Marshal(o.Object)
					sts = &appsv1.StatefulSet{}
					if err := yaml.Unmarshal(b, sts); err != nil {
						t.Fatal(err)
					}
				}
			}
			if sts == nil {
				t.Fatal("no StatefulSet loglet-hub rendered")
			}
			args := sts.Spec.Template.Spec.Containers[0].Args
			if args[0] != "hub" {
				t.Fatalf("the hub container runs %q, want loglet hub", args)
			}
			cmd := hubCommand()
			// Kubernetes expands $(POD_NAME) from the container's env.
			expanded := strings.NewReplacer("$(POD_NAME)", "loglet-hub-0").Replace(strings.Join(args[1:], "\x00"))
			if err := cmd.Flags().Parse(strings.Split(expanded, "\x00")); err != nil {
				t.Fatalf("loglet hub refuses the chart's arguments %q: %v", args, err)
			}
			if _, err := settings.ParseBytes(cmd.Flags().Lookup("max-bytes").Value.String()); err != nil {
				t.Errorf("--max-bytes: %v", err)
			}
			for flag, want := range map[string]string{"name": "loglet-hub-0", "listen": "0.0.0.0:4222", "data-dir": "/data",
				"replicas": replicas, "cluster-name": map[string]string{"1": "", "3": "loglet-hub"}[replicas]} {
				if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
					t.Errorf("--%s = %q, want %q", flag, got, want)
				}
			}
		})
	}
}
