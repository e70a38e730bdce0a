package modes

import (
	"testing"

	"github.com/loglet/loglet/sidecar/podapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/sidecar/source"
)

// objects is a logConfigSource holding fixed objects.
type objects struct {
	lcs        []*v1alpha1.LogConfig
	clcs       []*v1alpha1.ClusterLogConfig
	namespaces map[string]map[string]string
}

func (o *objects) In(ns string) []*v1alpha1.LogConfig {
	var out []*v1alpha1.LogConfig
	for _, lc := range o.lcs {
		if lc.Namespace == ns {
			out = append(out, lc)
		}
	}
	return out
}
func (o *objects) Cluster() []*v1alpha1.ClusterLogConfig { return o.clcs }
func (o *objects) NamespaceLabels(ns string) (map[string]string, bool) {
	l, ok := o.namespaces[ns]
	return l, ok
}
func (o *objects) Changed() <-chan struct{} { return nil }

func logConfig(name string, spec v1alpha1.LogConfigSpec, accepted metav1.ConditionStatus) *v1alpha1.LogConfig {
	lc := &v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: spec}
	if accepted != "" {
		lc.Status.Conditions = []metav1.Condition{{Type: "Accepted", Status: accepted, Reason: "Test"}}
	}
	return lc
}

func stdoutInput(name, format string) v1alpha1.Input {
	return v1alpha1.Input{Name: name, Stdout: true, Format: format}
}

// TestNodeLogConfigsChoose: in node mode, a container's log is read by
// the first stdout input of the configs selecting its pod, LogConfigs
// before ClusterLogConfigs, each by name; a config the controller refused,
// one for other containers or other namespaces, an input that reads files
// only or does not load, gives nothing; an input that did not change
// keeps its compiled parsing.
func TestNodeLogConfigsChoose(t *testing.T) {
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	for _, tc := range []struct {
		name string
		objs objects
		want string // input name; empty: the agent's choice stays
	}{
		{"none", objects{}, ""},
		{"a LogConfig before a ClusterLogConfig", objects{
			lcs: []*v1alpha1.LogConfig{logConfig("z", v1alpha1.LogConfigSpec{Selector: web, Inputs: []v1alpha1.Input{stdoutInput("out", "json")}}, "")},
			clcs: []*v1alpha1.ClusterLogConfig{{ObjectMeta: metav1.ObjectMeta{Name: "a"},
				Spec: v1alpha1.ClusterLogConfigSpec{LogConfigSpec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{stdoutInput("out", "logfmt")}}}}},
			namespaces: map[string]map[string]string{"shop": {}},
		}, "z/out"},
		{"two LogConfigs: by name", objects{lcs: []*v1alpha1.LogConfig{
			logConfig("b", v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{stdoutInput("out", "json")}}, metav1.ConditionTrue),
			logConfig("a", v1alpha1.LogConfigSpec{Selector: web, Inputs: []v1alpha1.Input{stdoutInput("x", "logfmt")}}, metav1.ConditionTrue),
		}}, "a/x"},
		{"refused by the controller", objects{lcs: []*v1alpha1.LogConfig{
			logConfig("a", v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{stdoutInput("out", "json")}}, metav1.ConditionFalse),
		}}, ""},
		{"other pods", objects{lcs: []*v1alpha1.LogConfig{
			logConfig("a", v1alpha1.LogConfigSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, Inputs: []v1alpha1.Input{stdoutInput("out", "json")}}, ""),
		}}, ""},
		{"other containers", objects{lcs: []*v1alpha1.LogConfig{
			logConfig("a", v1alpha1.LogConfigSpec{Containers: []string{"side"}, Inputs: []v1alpha1.Input{stdoutInput("out", "json")}}, ""),
		}}, ""},
		{"files only, then stdout", objects{lcs: []*v1alpha1.LogConfig{
			logConfig("a", v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{{Name: "files", Files: []string{"/var/log/app/*.log"}}, stdoutInput("out", "json")}}, ""),
		}}, "a/out"},
		{"does not load, then the next", objects{lcs: []*v1alpha1.LogConfig{
			logConfig("a", v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{stdoutInput("bad", "regex:(")}}, ""),
			logConfig("b", v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{stdoutInput("out", "json")}}, ""),
		}}, "b/out"},
		{"a ClusterLogConfig for other namespaces", objects{
			clcs: []*v1alpha1.ClusterLogConfig{{ObjectMeta: metav1.ObjectMeta{Name: "a"},
				Spec: v1alpha1.ClusterLogConfigSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}},
					LogConfigSpec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{stdoutInput("out", "json")}}}}},
			namespaces: map[string]map[string]string{"shop": {"team": "a"}},
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := load(t, nil, "--mode", "node", "--pod-metadata=false", "--pods-dir", "/var/log/pods")
			n := newNodeLogConfigs(&tc.objs, c, "auto")
			pod := &podapi.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{"app": "web"}},
				Spec: podapi.PodSpec{Containers: []podapi.Container{{Name: "app"}, {Name: "side"}}}}
			base := source.Choice{Input: "", Route: "agent"}
			got := n.choose(pod, "app", base)
			if got.Input != tc.want {
				t.Fatalf("input %q, want %q", got.Input, tc.want)
			}
			if tc.want == "" {
				if got.Parse != nil || got.Route != "agent" {
					t.Errorf("the agent's choice changed: %+v", got)
				}
				return
			}
			if got.Parse == nil {
				t.Fatal("no parsing")
			}
			if again := n.choose(pod, "app", base); again.Parse != got.Parse || again.Process != got.Process {
				t.Error("the same input compiled again: the files it reads would be read again")
			}
		})
	}
}
