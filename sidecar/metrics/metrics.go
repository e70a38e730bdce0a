// Package metrics defines the agent's Prometheus metrics and serves them with
// the health endpoints. They are kept by internal/promtext, not client_golang:
// the slim build links no protobuf.
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
	"sync/atomic"
	"time"

	"github.com/loglet/loglet/internal/promtext"
)

// Agent holds the agent's metrics.
type Agent struct {
	Registry *promtext.Registry

	RecordsSent      *promtext.Counter
	BytesSent        *promtext.Counter
	PackagesSent     *promtext.Counter
	PackagesRetried  *promtext.Counter
	PackagesRejected *promtext.Counter
	SendErrors       *promtext.Counter
	// SinkUp is 1 while the hub acknowledges, 0 from a failed delivery
	// attempt until the next acknowledged one. It starts at 1: an agent
	// that has not tried yet has nothing to report, and a 0 before the
	// first package would page someone for a pod that logs nothing. It is
	// for alerts, not readiness: a sidecar turning unready would take its
	// pod out of its Services over the hub's problem, which the agent
	// rides out (reading waits, nothing is lost).
	SinkUp           *promtext.Gauge
	OpenFiles        *promtext.Gauge
	BufferedBytes    *promtext.Gauge
	CheckpointErrors *promtext.Counter
	FilesRefused     *promtext.CounterVec
	StateCorrupt     *promtext.Counter
	// FilesRemoved counts rotated files deleted once the hub acknowledged
	// them to their end (remove-shipped: rotated); VolumeUsed and
	// VolumeLimit are the pod log volume's use (as the kubelet counts an
	// emptyDir: blocks of everything on it) and its sizeLimit (0: not
	// known).
	FilesRemoved *promtext.Counter
	VolumeUsed   *promtext.Gauge
	VolumeLimit  *promtext.Gauge

	lastCheckpoint atomic.Int64
}

// NewAgent registers the agent metrics. Counters the sources keep
// themselves (lines, bytes read) are read through the funcs at scrape time,
// so the read loop touches no Prometheus code.
func NewAgent(read func() Reading) *Agent {
	reg := promtext.NewRegistry()
	if err := promtext.RegisterRuntime(reg); err != nil {
		panic(err) // the names are fixed: an error is a bug
	}
	counter := func(name, help string) *promtext.Counter {
		c := promtext.NewCounter(name, help)
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string) *promtext.Gauge {
		g := promtext.NewGauge(name, help)
		reg.MustRegister(g)
		return g
	}
	m := &Agent{
		Registry:         reg,
		RecordsSent:      counter("loglet_records_sent_total", "Records the hub acknowledged."),
		BytesSent:        counter("loglet_bytes_sent_total", "Bytes of lines (as read) the hub acknowledged."),
		PackagesSent:     counter("loglet_packages_sent_total", "Packages the hub acknowledged."),
		PackagesRetried:  counter("loglet_packages_retried_total", "Packages sent again after a failed attempt."),
		PackagesRejected: counter("loglet_packages_rejected_total", "Packages the hub refused for good; kept in <state-dir>/rejected."),
		SendErrors:       counter("loglet_send_errors_total", "Failed attempts to deliver to the hub."),
		SinkUp:           gauge("loglet_sink_up", "1 while the hub acknowledges deliveries; 0 from a failed attempt until the next acknowledged one (see loglet_send_errors_total and the agent's log for the cause)."),
		OpenFiles:        gauge("loglet_open_files", "Files being read."),
		BufferedBytes:    gauge("loglet_buffered_bytes", "Bytes of packages waiting for the hub's acknowledgement."),
		CheckpointErrors: counter("loglet_checkpoint_errors_total", "Checkpoint writes that failed (retried)."),
		FilesRefused:     promtext.NewCounterVec("loglet_files_refused_total", "Matched files not opened: a link leading outside the allowed folders, or not a regular file (reason).", "reason"),
		StateCorrupt:     counter("loglet_state_corrupt_total", "Damaged checkpoints moved aside (<name>.corrupt); their sources were read again from the start."),
		FilesRemoved:     counter("loglet_files_removed_total", "Rotated files deleted after the hub acknowledged every byte of them (remove-shipped: rotated)."),
		VolumeUsed:       gauge("loglet_volume_used_bytes", "Bytes the pod log volume uses, as the kubelet counts an emptyDir (disk blocks of every file and folder on it); sampled every 10th scan interval."),
		VolumeLimit:      gauge("loglet_volume_limit_bytes", "The pod log volume's sizeLimit, past which the kubelet evicts the pod (volume-size-limit, set by the webhook); 0: not known."),
	}
	reg.MustRegister(m.FilesRefused)
	m.SinkUp.Set(1)
	m.lastCheckpoint.Store(time.Now().UnixNano())
	reg.MustRegister(promtext.NewGaugeFunc("loglet_checkpoint_age_seconds", "Seconds since checkpoints were last written.", func() float64 {
		return time.Since(time.Unix(0, m.lastCheckpoint.Load())).Seconds()
	}))
	read1 := func(name, help string, pick func() int64) {
		reg.MustRegister(promtext.NewCounterFunc(name, help, func() float64 { return float64(pick()) }))
	}
	read1("loglet_lines_read_total", "Lines read from sources.", func() int64 { return read().Lines })
	read1("loglet_bytes_read_total", "Bytes read from sources.", func() int64 { return read().Bytes })
	read1("loglet_lines_split_total", "Parts of lines longer than --max-line-bytes.", func() int64 { return read().Splits })
	read1("loglet_truncations_total", "Files found truncated (copytruncate) and read again from 0.", func() int64 { return read().Truncations })
	read1("loglet_reads_total", "Reads of sources that found new bytes: a file written 100 times a second is read a few times a second.", func() int64 { return read().Reads })
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
	m.Registry.MustRegister(
		promtext.NewFunc(promtext.Desc{Name: "loglet_lag_bytes", Help: "Bytes of all sources not yet acknowledged by the hub.", Type: promtext.TypeGauge},
			func(emit promtext.Emit) {
				var total int64
				for _, l := range lags() {
					total += l.Bytes
				}
				emit(float64(total))
			}),
		promtext.NewFunc(promtext.Desc{Name: "loglet_source_lag_bytes", Type: promtext.TypeGauge, Labels: []string{"source_id", "path"},
			Help: fmt.Sprintf("Bytes of a source not yet acknowledged by the hub, for the %d most lagging sources.", LaggingSources)},
			func(emit promtext.Emit) {
				ls := lags()
				slices.SortFunc(ls, func(a, b SourceLag) int { return cmp.Compare(b.Bytes, a.Bytes) })
				for _, l := range ls[:min(len(ls), LaggingSources)] {
					emit(float64(l.Bytes), l.SourceID, l.Path)
				}
			}))
}

// Checkpointed records that checkpoints were written now.
func (m *Agent) Checkpointed() { m.lastCheckpoint.Store(time.Now().UnixNano()) }

// Serve serves /metrics, /healthz and /readyz on addr until ctx ends.
// ready tells whether the agent has started its sources.
func Serve(ctx context.Context, addr string, reg *promtext.Registry, ready func() bool, log *slog.Logger) (net.Addr, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", reg)
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
