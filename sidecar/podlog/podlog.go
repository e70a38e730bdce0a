// Package podlog streams the logs of the sidecar's sibling containers from
// the Kubernetes API (pods/log with follow and timestamps: the stdout: api
// mode) into spool files on the shared volume, which the agent then tails
// like any other file. Spooling keeps one delivery path for every source
// (packages, checkpoints, backpressure), and the spool's last lines are the
// resume point after a sidecar restart: the API's sinceTime has whole
// seconds, so lines of that second already in the spool are dropped here.
package podlog

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
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
	Log                 *slog.Logger
}

// NewClient returns a REST client for core/v1 at cfg (rest.InClusterConfig
// in a pod). Only core/v1 is linked: the slim build stays small.
func NewClient(cfg *rest.Config) (rest.Interface, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = "loglet"
	}
	return rest.RESTClientFor(c)
}

// Streams copies the logs of a pod's containers into their spools.
type Streams struct {
	o       Options
	streams []*stream
}

// New reads each container's resume mark from its spool.
func New(o Options) (*Streams, error) {
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = 20 * o.Backoff
	}
	s := &Streams{o: o}
	for _, name := range o.Containers {
		st, err := newStream(&s.o, name)
		if err != nil {
			return nil, err
		}
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
	spool *spool.File
	mark  mark
	// restarts is the restart count of the instance streamed last.
	restarts int32
	buf      []byte
}

func newStream(o *Options, name string) (*stream, error) {
	s := &stream{o: o, name: name, spool: spool.New(filepath.Join(o.Dir, name), pod.APISpool, o.MaxFileBytes, o.MaxFiles), restarts: -1}
	m, err := resumeMark(s.spool)
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
				if _, err := s.fetch(reqCtx, true, false); err != nil {
					log.Warn("reading the previous instance's log", "err", err)
				}
			}
			s.restarts = cs.RestartCount
			// Once ctx ended, a container that has exited has no more to
			// say; one still running is followed until it exits, within
			// DrainTimeout (it got the same signal).
			final := ended(pod, cs) || draining && cs.State.Terminated != nil
			n, err := s.fetch(reqCtx, false, cs.State.Terminated == nil)
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
func (s *stream) status(ctx context.Context) (*corev1.Pod, *corev1.ContainerStatus, error) {
	var pod corev1.Pod
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

func started(cs *corev1.ContainerStatus) bool {
	return cs != nil && (cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil)
}

// ended says the container will write nothing more: it exited, and the
// pod's restart policy (or the pod's end) means it does not come back.
func ended(pod *corev1.Pod, cs *corev1.ContainerStatus) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return true
	}
	t := cs.State.Terminated
	switch {
	case t == nil:
		return false
	case pod.DeletionTimestamp != nil:
		return true
	case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
		return true
	case pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure:
		return t.ExitCode == 0
	}
	return false
}

// fetch copies the log of the current (or previous) instance from the
// resume mark on; with follow it returns when the stream ends.
func (s *stream) fetch(ctx context.Context, previous, follow bool) (int64, error) {
	req := s.o.Client.Get().Namespace(s.o.Namespace).Resource("pods").Name(s.o.Pod).SubResource("log").
		Param("container", s.name).Param("timestamps", "true")
	if follow {
		req = req.Param("follow", "true")
	}
	if previous {
		req = req.Param("previous", "true")
	}
	if !s.mark.time.IsZero() {
		req = req.Param("sinceTime", s.mark.time.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	rc, err := req.Stream(ctx)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return s.copy(rc)
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
