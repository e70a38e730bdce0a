package record

import (
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	for v, want := range map[string]string{
		"nginx_access_log":      "nginx_access_log",
		"app.kubernetes.io":     "app_kubernetes_io",
		"a b*c>d":               "a_b_c_d",
		strings.Repeat("x", 70): strings.Repeat("x", 64),
		"ü":                     "__",
	} {
		got := RouteFrom(v)
		if got != want || !ValidRoute(got) {
			t.Errorf("RouteFrom(%q) = %q (valid %v), want %q", v, got, ValidRoute(got), want)
		}
	}
	for _, bad := range []string{"", "a.b", strings.Repeat("x", 65), "a/b"} {
		if ValidRoute(bad) {
			t.Errorf("ValidRoute(%q) = true", bad)
		}
	}
}
