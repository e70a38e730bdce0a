package webhook

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/metrics"
)

// TestBuildInfo: the webhook's /metrics (controller-runtime's metrics
// server, which Serve starts on --metrics-addr) says which version runs:
// loglet_build_info{goversion, version} 1, a gauge, as the agent's
// (issue 25).
func TestBuildInfo(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	info := BuildInfo("v1.2.3")
	if err := crmetrics.Registry.Register(info); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crmetrics.Registry.Unregister(info) })

	addr := freeport.Addr(t)
	srv, err := metricsserver.NewServer(metricsserver.Options{BindAddress: addr}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("metrics server: %v", err)
		}
	})

	var body string
	poll.Until(t, 10*time.Second, "the webhook's /metrics to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	f, ok := families[metrics.BuildInfoName]
	if !ok {
		t.Fatalf("/metrics has no %s", metrics.BuildInfoName)
	}
	if f.GetType() != dto.MetricType_GAUGE || len(f.GetMetric()) != 1 {
		t.Fatalf("%s: %s with %d series, want one gauge", metrics.BuildInfoName, f.GetType(), len(f.GetMetric()))
	}
	m := f.GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if len(labels) != 2 || labels["version"] != "v1.2.3" || labels["goversion"] != runtime.Version() {
		t.Errorf("%s labels %v, want version v1.2.3 and goversion %s", metrics.BuildInfoName, labels, runtime.Version())
	}
	if v := m.GetGauge().GetValue(); v != 1 {
		t.Errorf("%s is %v, want 1", metrics.BuildInfoName, v)
	}
}
