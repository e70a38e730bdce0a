package charts

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// TestHubInstall: by default the chart installs a hub of three members
// and points the webhook's sidecars and the DaemonSet at it; with one
// member it is a plain hub; with hub.install=false nothing of it renders
// and the sink given is used.
func TestHubInstall(t *testing.T) {
	installed := "nats://loglet-hub.loglet-system.svc:4222/LOGLET"
	for _, tc := range []struct {
		name     string
		set      []string
		replicas int    // 0: no hub rendered
		sink     string // what the webhook and the DaemonSet ship to
	}{
		{"defaults", []string{"nodeMode.enabled=true"}, 3, installed},
		{"one member", []string{"nodeMode.enabled=true", "hub.replicas=1", "hub.stream=LOGS"}, 1, "nats://loglet-hub.loglet-system.svc:4222/LOGS"},
		{"own hub", []string{"nodeMode.enabled=true", "hub.install=false", "hub.sink=kafka://k:9092/logs"}, 0, "kafka://k:9092/logs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(Dir(), ReleaseName, ReleaseNamespace, tc.set...)
			if err != nil {
				t.Fatal(err)
			}
			objs := objects(t, r.Manifests)
			d := find[appsv1.Deployment](t, objs, "Deployment", "loglet-webhook")
			if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--sink="+tc.sink) {
				t.Errorf("webhook args %q do not give the sidecars --sink=%s", args, tc.sink)
			}
			ds := find[appsv1.DaemonSet](t, objs, "DaemonSet", "loglet-node")
			if env := ds.Spec.Template.Spec.Containers[0].Env; !slices.Contains(env, corev1.EnvVar{Name: "LOGLET_SINK", Value: tc.sink}) {
				t.Errorf("DaemonSet env %+v does not give LOGLET_SINK=%s", env, tc.sink)
			}
			if !strings.Contains(r.Notes, tc.sink) {
				t.Errorf("NOTES.txt does not name the sink %s", tc.sink)
			}
			if got := strings.Contains(r.Notes, "port-forward svc/loglet-hub"); got != (tc.replicas > 0) {
				t.Errorf("NOTES.txt tells how to read the installed hub: %v, want %v", got, tc.replicas > 0)
			}
			if tc.replicas == 0 {
				for _, o := range objs {
					if o.GetLabels()["app.kubernetes.io/component"] == "hub" {
						t.Errorf("hub.install=false rendered %s %s", o.GetKind(), o.GetName())
					}
				}
				return
			}
			sts := find[appsv1.StatefulSet](t, objs, "StatefulSet", "loglet-hub")
			c := sts.Spec.Template.Spec.Containers[0]
			if int(*sts.Spec.Replicas) != tc.replicas || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement ||
				len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType ||
				c.Args[0] != "hub" || !*c.SecurityContext.ReadOnlyRootFilesystem || c.ReadinessProbe == nil {
				t.Errorf("hub StatefulSet: %+v", sts.Spec)
			}
			svc := find[corev1.Service](t, objs, "Service", "loglet-hub")
			members := find[corev1.Service](t, objs, "Service", "loglet-hub-members")
			if svc.Spec.Ports[0].Port != 4222 || members.Spec.ClusterIP != "None" || sts.Spec.ServiceName != members.Name {
				t.Errorf("hub Services: %+v, %+v", svc.Spec, members.Spec)
			}
			if tc.replicas == 1 {
				for _, o := range objs {
					if o.GetKind() == "PodDisruptionBudget" && o.GetName() == "loglet-hub" || o.GetKind() == "Secret" {
						t.Errorf("one member renders %s %s", o.GetKind(), o.GetName())
					}
				}
				if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--cluster") }) {
					t.Errorf("one member is given cluster flags: %q", c.Args)
				}
				return
			}
			var routes []string
			for i := range tc.replicas {
				routes = append(routes, fmt.Sprintf("nats://loglet-hub-%d.loglet-hub-members.loglet-system.svc:6222", i))
			}
			for _, want := range []string{"--replicas=3", "--cluster-name=loglet-hub", "--routes=" + strings.Join(routes, ","),
				"--cluster-user=route", "--cluster-password-file=/etc/loglet/hub-routes/password", "--name=$(POD_NAME)"} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("hub args %q lack %s", c.Args, want)
				}
			}
			pdb := find[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "loglet-hub")
			if pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("hub PodDisruptionBudget: %+v", pdb.Spec)
			}
			sec := find[corev1.Secret](t, objs, "Secret", "loglet-hub-routes")
			if pw := sec.Data["password"]; len(pw) < 32 || sts.Spec.Template.Spec.Volumes[0].Secret.SecretName != sec.Name {
				t.Errorf("route password Secret %s: %q, mounted from %+v", sec.Name, pw, sts.Spec.Template.Spec.Volumes)
			}
		})
	}
}
