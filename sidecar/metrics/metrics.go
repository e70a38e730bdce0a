// Package metrics defines the agent's Prometheus metrics and serves them with
// the health endpoints.
package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Agent holds the agent's metrics.
type Agent struct {
	Registry *prometheus.Registry

	RecordsSent      prometheus.Counter
	BytesSent        prometheus.Counter
	PackagesSent     prometheus.Counter
	PackagesRetried  prometheus.Counter
	PackagesRejected prometheus.Counter
	SendErrors       prometheus.Counter
	// SinkUp is 1 while the hub acknowledges, 0 from a failed delivery
	// attempt until the next acknowledged one. It starts at 1: an agent
	// that has not tried yet has nothing to report, and a 0 before the
	// first package would page someone for a pod that logs nothing. It is
	// for alerts, not readiness: a sidecar turning unready would take its
	// pod out of its Services over the hub's problem, which the agent
	// rides out (reading waits, nothing is lost).
	SinkUp           prometheus.Gauge
	OpenFiles        prometheus.Gauge
	BufferedBytes    prometheus.Gauge
	CheckpointErrors prometheus.Counter
	FilesRefused     *prometheus.CounterVec
	StateCorrupt     prometheus.Counter
	// FilesRemoved counts rotated files deleted once the hub acknowledged
	// them to their end (remove-shipped: rotated); VolumeUsed and
	// VolumeLimit are the pod log volume's use (as the kubelet counts an
	// emptyDir: blocks of everything on it) and its sizeLimit (0: not
	// known).
	FilesRemoved prometheus.Counter
	VolumeUsed   prometheus.Gauge
	VolumeLimit  prometheus.Gauge

	lastCheckpoint atomic.Int64
}

// NewAgent registers the agent metrics. Counters the sources keep
// themselves (lines, bytes read) are read through the funcs at scrape time,
// so the read loop touches no Prometheus code.
func NewAgent(read func() Reading) *Agent {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg)
	m := &Agent{
		Registry:         reg,
		RecordsSent:      f.NewCounter(prometheus.CounterOpts{Name: "loglet_records_sent_total", Help: "Records the hub acknowledged."}),
		BytesSent:        f.NewCounter(prometheus.CounterOpts{Name: "loglet_bytes_sent_total", Help: "Bytes of lines (as read) the hub acknowledged."}),
		PackagesSent:     f.NewCounter(prometheus.CounterOpts{Name: "loglet_packages_sent_total", Help: "Packages the hub acknowledged."}),
		PackagesRetried:  f.NewCounter(prometheus.CounterOpts{Name: "loglet_packages_retried_total", Help: "Packages sent again after a failed attempt."}),
		PackagesRejected: f.NewCounter(prometheus.CounterOpts{Name: "loglet_packages_rejected_total", Help: "Packages the hub refused for good; kept in <state-dir>/rejected."}),
		SendErrors:       f.NewCounter(prometheus.CounterOpts{Name: "loglet_send_errors_total", Help: "Failed attempts to deliver to the hub."}),
		SinkUp: f.NewGauge(prometheus.GaugeOpts{Name: "loglet_sink_up",
			Help: "1 while the hub acknowledges deliveries; 0 from a failed attempt until the next acknowledged one (see loglet_send_errors_total and the agent's log for the cause)."}),
		OpenFiles:        f.NewGauge(prometheus.GaugeOpts{Name: "loglet_open_files", Help: "Files being read."}),
		BufferedBytes:    f.NewGauge(prometheus.GaugeOpts{Name: "loglet_buffered_bytes", Help: "Bytes of packages waiting for the hub's acknowledgement."}),
		CheckpointErrors: f.NewCounter(prometheus.CounterOpts{Name: "loglet_checkpoint_errors_total", Help: "Checkpoint writes that failed (retried)."}),
		FilesRefused:     f.NewCounterVec(prometheus.CounterOpts{Name: "loglet_files_refused_total", Help: "Matched files not opened: a link leading outside the allowed folders, or not a regular file (reason)."}, []string{"reason"}),
		StateCorrupt:     f.NewCounter(prometheus.CounterOpts{Name: "loglet_state_corrupt_total", Help: "Damaged checkpoints moved aside (<name>.corrupt); their sources were read again from the start."}),
		FilesRemoved: f.NewCounter(prometheus.CounterOpts{Name: "loglet_files_removed_total",
			Help: "Rotated files deleted after the hub acknowledged every byte of them (remove-shipped: rotated)."}),
		VolumeUsed: f.NewGauge(prometheus.GaugeOpts{Name: "loglet_volume_used_bytes",
			Help: "Bytes the pod log volume uses, as the kubelet counts an emptyDir (disk blocks of every file and folder on it); sampled every 10th scan interval."}),
		VolumeLimit: f.NewGauge(prometheus.GaugeOpts{Name: "loglet_volume_limit_bytes",
			Help: "The pod log volume's sizeLimit, past which the kubelet evicts the pod (volume-size-limit, set by the webhook); 0: not known."}),
	}
	m.SinkUp.Set(1)
	m.lastCheckpoint.Store(time.Now().UnixNano())
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "loglet_checkpoint_age_seconds", Help: "Seconds since checkpoints were last written."}, func() float64 {
		return time.Since(time.Unix(0, m.lastCheckpoint.Load())).Seconds()
	})
	counter := func(name, help string, pick func() int64) {
		f.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(pick()) })
	}
	counter("loglet_lines_read_total", "Lines read from sources.", func() int64 { return read().Lines })
	counter("loglet_bytes_read_total", "Bytes read from sources.", func() int64 { return read().Bytes })
	counter("loglet_lines_split_total", "Parts of lines longer than --max-line-bytes.", func() int64 { return read().Splits })
	counter("loglet_truncations_total", "Files found truncated (copytruncate) and read again from 0.", func() int64 { return read().Truncations })
	counter("loglet_reads_total", "Reads of sources that found new bytes: a file written 100 times a second is read a few times a second.", func() int64 { return read().Reads })
	return m
}

// Reading is what the sources have read so far.
type Reading struct {
	Lines, Bytes, Splits, Truncations, Reads int64
}

// SourceLag is how many bytes of one source the hub has not acknowledged.
type SourceLag struct {
	SourceID, Path string
	Bytes          int64
}

// LaggingSources is how many sources get a lag series of their own: the
// most lagging ones. A node has thousands of files, and a series per file
// made every scrape cost more than a second; the total covers the rest.
const LaggingSources = 10

// ServeLag registers loglet_lag_bytes (every source) and
// loglet_source_lag_bytes (the LaggingSources most lagging), computed from
// lags at scrape time.
func (m *Agent) ServeLag(lags func() []SourceLag) {
	m.Registry.MustRegister(lagCollector(lags))
}

var (
	lagTotalDesc  = prometheus.NewDesc("loglet_lag_bytes", "Bytes of all sources not yet acknowledged by the hub.", nil, nil)
	lagSourceDesc = prometheus.NewDesc("loglet_source_lag_bytes", fmt.Sprintf("Bytes of a source not yet acknowledged by the hub, for the %d most lagging sources.", LaggingSources), []string{"source_id", "path"}, nil)
)

type lagCollector func() []SourceLag

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagTotalDesc
	ch <- lagSourceDesc
}

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	lags := c()
	var total int64
	for _, l := range lags {
		total += l.Bytes
	}
	ch <- prometheus.MustNewConstMetric(lagTotalDesc, prometheus.GaugeValue, float64(total))
	slices.SortFunc(lags, func(a, b SourceLag) int { return cmp.Compare(b.Bytes, a.Bytes) })
	for _, l := range lags[:min(len(lags), LaggingSources)] {
		// A file name is whatever bytes an app chose; a label value must
		// be UTF-8, and an invalid one would fail the whole scrape.
		ch <- prometheus.MustNewConstMetric(lagSourceDesc, prometheus.GaugeValue, float64(l.Bytes), LabelValue(l.SourceID), LabelValue(l.Path))
	}
}

// LabelValue makes s a valid label value: invalid UTF-8 becomes U+FFFD, as
// in records.
func LabelValue(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// Checkpointed records that checkpoints were written now.
func (m *Agent) Checkpointed() { m.lastCheckpoint.Store(time.Now().UnixNano()) }

// Serve serves /metrics, /healthz and /readyz on addr until ctx ends.
// ready tells whether the agent has started its sources.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, ready func() bool, log *slog.Logger) (net.Addr, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", addr, "err", err)
		}
	}()
	return ln.Addr(), nil
}
