package webhook

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestSidecarGetsItsMemoryLimit: the injected sidecar learns its own memory
// limit from the downward API (LOGLET_MEMORY_LIMIT, resourceFieldRef to its
// limits.memory), so it can fit its buffer and GOMEMLIMIT into it; without a
// limit (where the downward API would give the node's allocatable memory)
// the variable is left out, and a cluster-wide setting wins.
func TestSidecarGetsItsMemoryLimit(t *testing.T) {
	noLimit := DefaultConfig()
	noLimit.Limits = corev1.ResourceList{}
	clusterWide := DefaultConfig()
	clusterWide.Agent = map[string]string{MemoryLimitEnv: "none"}
	tests := []struct {
		name        string
		cfg         Config
		annotations map[string]string
		wantRef     bool
		wantLimit   string
	}{
		{"default 64Mi limit", DefaultConfig(), nil, true, "64Mi"},
		{"annotation raises the limit", DefaultConfig(), map[string]string{AnnotationSidecarMemory: "128Mi"}, true, "128Mi"},
		{"no memory limit", noLimit, nil, false, ""},
		{"cluster-wide setting", clusterWide, nil, false, "64Mi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ann := map[string]string{AnnotationInject: "true", AnnotationPaths: "app:/var/log/app/*.log"}
			for k, v := range tc.annotations {
				ann[k] = v
			}
			out, _, _, err := Inject(pod(ann, "app"), "shop", nil, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var sc *corev1.Container
			for i, c := range append(out.Spec.InitContainers, out.Spec.Containers...) {
				if c.Name == SidecarName {
					sc = &append(out.Spec.InitContainers, out.Spec.Containers...)[i]
				}
			}
			if sc == nil {
				t.Fatal("no sidecar injected")
			}
			var refs []*corev1.ResourceFieldSelector
			for _, e := range sc.Env {
				if e.Name == MemoryLimitEnv && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
					refs = append(refs, e.ValueFrom.ResourceFieldRef)
				}
			}
			if !tc.wantRef {
				if len(refs) > 0 {
					t.Fatalf("%s from the downward API although %s", MemoryLimitEnv, tc.name)
				}
			} else {
				want := corev1.ResourceFieldSelector{ContainerName: SidecarName, Resource: "limits.memory"}
				if len(refs) != 1 || refs[0].ContainerName != want.ContainerName || refs[0].Resource != want.Resource || refs[0].Divisor.Cmp(resource.MustParse("1")) != 0 {
					t.Fatalf("%s refs %+v, want one %+v in bytes (divisor 1)", MemoryLimitEnv, refs, want)
				}
			}
			got, ok := sc.Resources.Limits[corev1.ResourceMemory]
			if tc.wantLimit == "" {
				if ok {
					t.Errorf("memory limit %s, want none", got.String())
				}
			} else if !ok || got.Cmp(resource.MustParse(tc.wantLimit)) != 0 {
				t.Errorf("memory limit %s (set %v), want %s", got.String(), ok, tc.wantLimit)
			}
		})
	}
}
