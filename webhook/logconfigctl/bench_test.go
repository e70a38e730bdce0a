package logconfigctl_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

// BenchmarkCheckLogConfig: what checking one config costs, as each pass
// over a namespace checks its configs and every ClusterLogConfig.
func BenchmarkCheckLogConfig(b *testing.B) {
	lc := &v1alpha1.LogConfig{Spec: v1alpha1.LogConfigSpec{Inputs: []v1alpha1.Input{
		{Name: "app", Files: []string{"/var/log/app/*.log"}, Format: `regex:^(?P<time>\S+) (?P<level>\w+) (?P<msg>.*)$`, Multiline: &v1alpha1.Multiline{Start: `^\d{4}-`}},
		{Name: "out", Stdout: true, Format: "json"},
	}}}
	for b.Loop() {
		if err := logconfig.Validate(lc.Spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNamespacePass: the pure part of a pass over a namespace of
// 1,000 pods with 100 ClusterLogConfigs (checked once, as the controller
// remembers verdicts) and 10 LogConfigs: the entries, each LogConfig's
// matched pods and the pods without their sidecar.
func BenchmarkNamespacePass(b *testing.B) {
	in := []v1alpha1.Input{{Name: "app", Files: []string{"/var/log/app/*.log"}}}
	var lcs []v1alpha1.LogConfig
	for i := range 10 {
		lcs = append(lcs, v1alpha1.LogConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("lc-%d", i)},
			Spec: v1alpha1.LogConfigSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", i)}}, Inputs: in}})
	}
	var clcs []v1alpha1.ClusterLogConfig
	for i := range 100 {
		clcs = append(clcs, v1alpha1.ClusterLogConfig{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("clc-%d", i)}, Spec: v1alpha1.ClusterLogConfigSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("t-%d", i%3)}},
			LogConfigSpec:     v1alpha1.LogConfigSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": fmt.Sprintf("tier-%d", i)}}, Inputs: in}}})
	}
	var pods []corev1.Pod
	for i := range 1000 {
		pods = append(pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("p-%d", i), UID: types.UID(fmt.Sprint(i)),
			Labels: map[string]string{"app": fmt.Sprintf("app-%d", i%20), "tier": fmt.Sprintf("tier-%d", i%150)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "proxy"}}}})
	}
	configs := logconfigctl.NewConfigs(lcs, clcs)
	decide := decider()
	nsLabels := map[string]string{"team": "t-1"}
	b.ResetTimer()
	for b.Loop() {
		sels := logconfigctl.NewSelectors(configs.Entries(decide, "shop", nsLabels))
		for i := range lcs {
			sel := logconfigctl.NewSelector(logconfig.FromLogConfig(&lcs[i]))
			for j := range pods {
				sel.Matched(&pods[j])
			}
		}
		for j := range pods {
			logconfigctl.Uninjected(&pods[j], nsLabels, sels, decide)
		}
	}
}
