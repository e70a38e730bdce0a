package modes

import (
	"slices"
	"testing"
)

// TestSidecarRemovesOnlyWhatAnInputAsks: a sidecar's pipeline gauges and
// deletes on the pod's volume; the files of an input with remove-shipped:
// rotated carry its patterns, those of another input and the containers'
// stdout copies none.
func TestSidecarRemovesOnlyWhatAnInputAsks(t *testing.T) {
	vol := t.TempDir()
	doc := `{"mode":"sidecar","stdout":"wrap","pod-volume":"` + vol + `","container-images":"{\"app\":\"shop:1\"}","volume-size-limit":"256MiB",
	  "inputs":[{"name":"app","files":["` + vol + `/c/app/0/*.log"],"remove-shipped":"rotated","rotated-pattern":["app.log.*"]},
	            {"name":"audit","files":["` + vol + `/c/app/1/*.log"]}]}`
	a, err := Wire(load(t, []string{"LOGLET_CONFIG=" + doc}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Pipeline.Volume != vol || a.Pipeline.VolumeLimit != 256<<20 {
		t.Errorf("pipeline volume %q limit %d, want %q 256MiB", a.Pipeline.Volume, a.Pipeline.VolumeLimit, vol)
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{vol + "/c/app/0/app.log", []string{"app.log.*"}},
		{vol + "/c/app/1/audit.log", nil},
		{vol + "/stdout/app/stdout.log", nil},
	} {
		if got := a.Pipeline.Select(tc.path).Remove; !slices.Equal(got, tc.want) {
			t.Errorf("%s: Remove %q, want %q", tc.path, got, tc.want)
		}
	}
}
