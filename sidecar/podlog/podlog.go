// Package podlog streams the logs of the sidecar's sibling containers from
// the Kubernetes API (pods/log with follow and timestamps: the stdout: api
// mode) into spool files on the shared volume, which the agent then tails
// like any other file. Spooling keeps one delivery path for every source
// (packages, checkpoints, backpressure), and the spool's last lines are the
// resume point after a sidecar restart: the API server passes sinceTime on
// to the kubelet in whole seconds, so lines of that second already in the
// spool are dropped here.
//
// A kubelet's follow stream can end, or stay open and silent, when the
// kubelet rotates the container's log file (kubernetes#59902, #115701,
// #126564). An ended stream is opened again at once; a quiet one is
// checked (stall.go) and, when the log grew meanwhile, resumed from the
// mark. The kubelet serves only the log's current file: what files
// rotated away before the resume held after the mark cannot be read.
package podlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/loglet/loglet/sidecar/podapi"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/loglet/loglet/sidecar/pod"
	"github.com/loglet/loglet/sidecar/spool"
)

// Options say whose logs to stream and where they go.
type Options struct {
	// Client is a core/v1 REST client (NewClient).
	Client rest.Interface
	// Namespace and Pod name the sidecar's own pod.
	Namespace, Pod string
	// Containers are the containers to stream (not loglet's own).
	Containers []string
	// Dir holds a folder per container with its spool files
	// (pod.APISpool).
	Dir string
	// MaxFileBytes and MaxFiles rotate the spool (spool.New).
	MaxFileBytes int64
	MaxFiles     int
	// DrainTimeout bounds, once ctx ends, how long streams still open may
	// take to reach their end (the containers exit after the signal too).
	DrainTimeout time.Duration
	// Backoff is the first wait before reconnecting or polling a container
	// that has not started; it grows, with jitter, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// StallCheck is how long a follow stream may stay quiet before the
	// sidecar asks the kubelet for the log's last line, to see whether the
	// stream stalled (5 s when not positive); while it stays quiet the
	// check repeats, the wait doubling up to MaxStallCheck (20 s), so a
	// stall is noticed within MaxStallCheck of the first line it holds
	// back, and a quiet container costs one small request per
	// MaxStallCheck.
	StallCheck, MaxStallCheck time.Duration
	// RotationInterval is the least time between two rotations of a
	// container's log: the kubelet's containerLogMonitorInterval (10 s
	// when not positive). A resumed stream whose first line comes this
	// long or longer after the last line copied may have missed a whole
	// rotated file, and is counted as a gap; a shorter distance leaves room
	// for one rotation only, whose file the stream had read.
	RotationInterval time.Duration
	Log              *slog.Logger
}

// Streams copies the logs of a pod's containers into their spools.
type Streams struct {
	o       Options
	streams []*stream
	stats   stats
}

// stats are the counts the agent exports as metrics.
type stats struct {
	stalls, gaps atomic.Int64
}

// Stalls is how many times a follow stream was found stalled (quiet while
// its container's log grew) and resumed; the agent exports it as
// loglet_stdout_stalls_total.
func (s *Streams) Stalls() float64 { return float64(s.stats.stalls.Load()) }

// Gaps is how many times a stream resumed on a log the kubelet had rotated
// since the last line copied, so long after it that files rotated away in
// between may have held lines that are lost; the agent exports it as
// loglet_stdout_gaps_total.
func (s *Streams) Gaps() float64 { return float64(s.stats.gaps.Load()) }

// New reads each container's resume mark from its spool.
func New(o Options) (*Streams, error) {
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = 20 * o.Backoff
	}
	if o.StallCheck <= 0 {
		o.StallCheck = 5 * time.Second
	}
	if o.MaxStallCheck <= 0 {
		o.MaxStallCheck = 20 * time.Second
	}
	o.MaxStallCheck = max(o.MaxStallCheck, o.StallCheck)
	if o.RotationInterval <= 0 {
		o.RotationInterval = 10 * time.Second
	}
	s := &Streams{o: o}
	for _, name := range o.Containers {
		st, err := newStream(&s.o, name)
		if err != nil {
			return nil, err
		}
		st.stats = &s.stats
		s.streams = append(s.streams, st)
	}
	return s, nil
}

// Run streams every container into its spool. It returns nil once every
// container has ended for good (the pod completed, or the container exited
// and will not restart) and its log was read to the end; when ctx ends it
// lets open streams reach their end within DrainTimeout, then returns
// ctx's error.
func (s *Streams) Run(ctx context.Context) error {
	if s.o.Log == nil {
		s.o.Log = slog.Default() // as set by the time the agent runs
	}
	// Requests outlive ctx by the drain time, so streams end on their own.
	reqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(s.o.DrainTimeout, cancel) })
	defer stop()
	var wg sync.WaitGroup
	for _, st := range s.streams {
		wg.Go(func() {
			defer st.spool.Close()
			st.run(ctx, reqCtx)
		})
	}
	wg.Wait()
	return ctx.Err()
}

// stream copies one container's log.
type stream struct {
	o     *Options
	name  string
	log   *slog.Logger
	stats *stats
	spool *spool.File
	// mu guards mark, which the stall check reads while copy moves it.
	mu   sync.Mutex
	mark mark
	// markInstance is the restart count of the instance whose line is the
	// mark (-1: not known, after a sidecar restart).
	markInstance int32
	// firstServed is the time of the first line the last stream served.
	firstServed time.Time
	// onFirst, set while fetch copies, is told that time as soon as it is
	// known: a resumed follow stays open, and a gap is counted at once.
	onFirst func(time.Time)
	// restarts is the restart count of the instance streamed last.
	restarts int32
	buf      []byte
}

// instance names one run of the container: its restart count and when it
// started (zero when not known).
type instance struct {
	restarts int32
	started  time.Time
}

func newStream(o *Options, name string) (*stream, error) {
	s := &stream{o: o, name: name, spool: spool.New(filepath.Join(o.Dir, name), pod.APISpool, o.MaxFileBytes, o.MaxFiles),
		restarts: -1, markInstance: -1, stats: &stats{}, log: slog.Default()}
	m, err := resumeMark(s.spool, time.Now())
	if err != nil {
		return nil, fmt.Errorf("container %s: resume from spool: %w", name, err)
	}
	s.mark = m
	return s, nil
}

// run copies until the container ended for good or reqCtx ends.
func (s *stream) run(ctx, reqCtx context.Context) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = s.o.Backoff, s.o.MaxBackoff, 0
	log := s.o.Log.With("container", s.name)
	s.log = log
	for {
		draining := ctx.Err() != nil
		pod, cs, err := s.status(reqCtx)
		switch {
		case apierrors.IsNotFound(err):
			log.Info("pod is gone: its logs cannot be read any more")
			return
		case err != nil:
			if reqCtx.Err() != nil {
				return
			}
			log.Warn("reading the pod's status", "err", err)
		case !started(cs):
			if draining {
				return // it never ran: there is nothing to read
			}
		default:
			if cs.LastTerminationState.Terminated != nil && cs.RestartCount > s.restarts {
				// The instance before this one may hold lines not yet
				// copied: the container restarted since the last stream,
				// or the sidecar itself restarted.
				prev := instance{cs.RestartCount - 1, cs.LastTerminationState.Terminated.StartedAt.Time}
				if _, err := s.fetch(reqCtx, true, false, prev); err != nil {
					log.Warn("reading the previous instance's log", "err", err)
				}
			}
			s.restarts = cs.RestartCount
			// Once ctx ended, a container that has exited has no more to
			// say; one still running is followed until it exits, within
			// DrainTimeout (it got the same signal).
			final := ended(pod, cs) || draining && cs.State.Terminated != nil
			n, err := s.fetch(reqCtx, false, cs.State.Terminated == nil, instance{cs.RestartCount, startedAt(cs)})
			if errors.Is(err, errStalled) {
				bo.Reset()
				continue // resume from the mark at once
			}
			if err != nil {
				log.Debug("log stream ended", "err", err)
			}
			if final && err == nil {
				return
			}
			if n > 0 {
				bo.Reset()
				continue // the stream ended after copying: reconnect at once
			}
		}
		if sleep(reqCtx, bo.NextBackOff()) != nil {
			return
		}
	}
}

// status returns the pod and the container's status (nil before the
// kubelet reported it).
func (s *stream) status(ctx context.Context) (*podapi.Pod, *podapi.ContainerStatus, error) {
	var pod podapi.Pod
	err := s.o.Client.Get().Namespace(s.o.Namespace).Resource("pods").Name(s.o.Pod).Do(ctx).Into(&pod)
	if err != nil {
		return nil, nil, err
	}
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == s.name {
			return &pod, &pod.Status.ContainerStatuses[i], nil
		}
	}
	return &pod, nil, nil
}

// startedAt is when the container's current instance started.
func startedAt(cs *podapi.ContainerStatus) time.Time {
	switch {
	case cs.State.Running != nil:
		return cs.State.Running.StartedAt.Time
	case cs.State.Terminated != nil:
		return cs.State.Terminated.StartedAt.Time
	}
	return time.Time{}
}

func started(cs *podapi.ContainerStatus) bool {
	return cs != nil && (cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil)
}

// ended says the container will write nothing more: it exited, and the
// pod's restart policy (or the pod's end) means it does not come back.
func ended(pod *podapi.Pod, cs *podapi.ContainerStatus) bool {
	if pod.Status.Phase == podapi.PodSucceeded || pod.Status.Phase == podapi.PodFailed {
		return true
	}
	t := cs.State.Terminated
	switch {
	case t == nil:
		return false
	case pod.DeletionTimestamp != nil:
		return true
	case pod.Spec.RestartPolicy == podapi.RestartPolicyNever:
		return true
	case pod.Spec.RestartPolicy == podapi.RestartPolicyOnFailure:
		return t.ExitCode == 0
	}
	return false
}

// fetch copies the log of the current (or previous) instance in from the
// resume mark on; with follow it returns when the stream ends, or with
// errStalled when the stall check found it silent while the log grew.
func (s *stream) fetch(ctx context.Context, previous, follow bool, in instance) (int64, error) {
	at := s.mark.time
	req := s.logRequest().Param("timestamps", "true")
	if follow {
		req = req.Param("follow", "true")
	}
	if previous {
		req = req.Param("previous", "true")
	}
	if !at.IsZero() {
		// With nanoseconds, a server that keeps them resends only the
		// mark's own lines; the filter drops those, and the rest of the
		// mark's second that one keeping whole seconds resends.
		req = req.Param("sinceTime", at.UTC().Format(time.RFC3339Nano))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rc, err := req.Stream(ctx)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var r io.Reader = rc
	if follow {
		a := &activity{r: rc}
		a.last.Store(time.Now().UnixNano())
		r = a
		watchCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { s.watch(watchCtx, a, cancel) })
		defer func() { stop(); wg.Wait() }()
	}
	s.onFirst = func(first time.Time) {
		s.firstServed = first
		s.checkGap(at, in)
	}
	n, err := s.copy(r)
	s.onFirst = nil
	if errors.Is(context.Cause(ctx), errStalled) {
		err = errStalled
	}
	if n > 0 {
		s.markInstance = in.restarts
	}
	return n, err
}

// logRequest is a pods/log request for the container.
func (s *stream) logRequest() *rest.Request {
	return s.o.Client.Get().Namespace(s.o.Namespace).Resource("pods").Name(s.o.Pod).SubResource("log").
		Param("container", s.name)
}

// checkGap counts a gap when the stream just served began on a log the
// kubelet rotated since the mark at (its first line comes after the mark)
// and so long after it that a whole file may have been rotated away in
// between. A log that starts after the mark is a log of another instance
// (not a gap) unless the mark is known to be this instance's.
func (s *stream) checkGap(at time.Time, in instance) {
	first := s.firstServed
	if at.IsZero() || first.IsZero() || !first.After(at) {
		return
	}
	// started has whole seconds: a mark in the second the instance
	// started may be the previous instance's.
	same := s.markInstance == in.restarts ||
		s.markInstance < 0 && !in.started.IsZero() && !at.Before(in.started.Add(time.Second))
	if !same || first.Sub(at) < s.o.RotationInterval {
		return
	}
	s.stats.gaps.Add(1)
	s.log.Warn("the container's log was rotated more than once since the last line copied, it seems: "+
		"the lines the rotated files held after it cannot be read through the API and are lost",
		"last_copied", at, "first_served", first, "unseen", first.Sub(at))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
