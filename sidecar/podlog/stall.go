package podlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"sync/atomic"
	"time"
)

// errStalled ends a follow stream found stalled.
var errStalled = errors.New("the follow stream stayed quiet while the container's log grew (a kubelet's follow can stall at log rotation)")

// activity is a reader that notes when data last came.
type activity struct {
	r    io.Reader
	last atomic.Int64 // UnixNano
}

func (a *activity) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// watch checks a follow stream that has been quiet for StallCheck, and
// again while it stays quiet (the wait doubling up to MaxStallCheck), and
// cancels it with errStalled once the log holds a line the spool lacks:
// the stream should have served it. It returns when ctx ends.
func (s *stream) watch(ctx context.Context, a *activity, stalled context.CancelCauseFunc) {
	wait := s.o.StallCheck
	seen := a.last.Load()
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l := a.last.Load(); l != seen {
			// Data came: the stream is alive; check once it has been
			// quiet for StallCheck.
			seen, wait = l, s.o.StallCheck
			t.Reset(time.Until(time.Unix(0, l).Add(wait)))
			continue
		}
		grew, err := s.grew(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Debug("checking whether a quiet log stream stalled", "err", err)
		case grew && a.last.Load() == seen:
			s.stats.stalls.Add(1)
			s.log.Warn("the log stream stalled (quiet while the container's log grew, as a kubelet's follow does at log rotation): resuming",
				"quiet", time.Since(time.Unix(0, seen)).Round(time.Millisecond))
			stalled(errStalled)
			return
		}
		wait = min(2*wait, s.o.MaxStallCheck)
		t.Reset(wait)
	}
}

// probeBytes bounds the stall check's answer: the last line's time and
// key are all it needs.
const probeBytes = keyBytes + 64

// grew asks for the last line of the container's log — tailLines=1, which
// the kubelet reads from the end of the file: a cheap request — and says
// whether the spool lacks it.
func (s *stream) grew(ctx context.Context) (bool, error) {
	rc, err := s.logRequest().Param("timestamps", "true").Param("tailLines", "1").
		Param("limitBytes", strconv.Itoa(probeBytes)).Stream(ctx)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, probeBytes))
	if err != nil {
		return false, err
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	}
	t, ok := lineTime(b)
	if !ok {
		return false, nil // no line yet (a file just rotated)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.mark.time.IsZero() || t.After(s.mark.time):
		return true, nil
	case t.Equal(s.mark.time):
		return s.mark.seen[lineKey(b)] == 0, nil
	}
	return false, nil
}
