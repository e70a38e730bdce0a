package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/loglet/loglet/sidecar/record"
	"github.com/loglet/loglet/sidecar/sink"
)

// maxBatch bounds how many queued packages go to the sink in one Write.
const maxBatch = 64

// hubHealth is what the agent tells about the hub: the sink's address
// for the log lines about it, and how long it has been down.
type hubHealth struct {
	addr string
	// downSince is when the current outage's first attempt failed (zero
	// while the hub acknowledges).
	downSince time.Time
}

// dispatch delivers queued packages in order until the queue closes or ctx
// (the drain deadline) ends.
func (a *Agent) dispatch(ctx context.Context) {
	hub := &hubHealth{addr: sink.Addr(a.sink)}
	batch := make([]*record.Package, 0, maxBatch)
	for p := range a.queue {
		batch = append(batch[:0], p)
	more:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-a.queue:
				if !ok {
					break more
				}
				batch = append(batch, p)
			default:
				break more
			}
		}
		if err := a.deliver(ctx, batch, hub); err != nil {
			// Past the drain deadline: what is left stays unacknowledged
			// and is read again on the next start.
			for range a.queue {
			}
			return
		}
	}
}

// deliver writes batch until the hub acknowledged all of it, retrying with
// exponential backoff and jitter for as long as it takes (reading waits
// meanwhile), and setting aside packages the hub refuses for good. Every
// failed attempt counts in loglet_send_errors_total and sets loglet_sink_up
// to 0 until an attempt succeeds; the first one of an outage is logged as
// an error naming the hub and the cause, at once: how soon an outage is
// noticed is up to the sink, which must fail an attempt it cannot deliver
// within seconds, not minutes.
func (a *Agent) deliver(ctx context.Context, batch []*record.Package, hub *hubHealth) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = a.retry.first
	bo.MaxInterval = a.retry.max
	bo.MaxElapsedTime = 0
	bo.Reset() // the first interval is taken at a reset: without it, the default 500 ms
	// A sink that knows when its hub is back ends the wait at once: after
	// a minute's outage the backoff waits 15 to 45 s, and a pod's small
	// volume fills meanwhile. A stale signal costs one early attempt.
	back := sink.Reconnected(a.sink)
	failures := 0
	for len(batch) > 0 {
		n, err := a.sink.Write(ctx, batch)
		a.acked(batch[:n])
		batch = batch[n:]
		if err == nil || sink.IsRejected(err) {
			// A refusal is an answer: the hub is up.
			a.hubAnswered(hub, failures)
		}
		if err == nil {
			continue
		}
		if sink.IsRejected(err) && len(batch) > 0 {
			if rerr := a.reject(batch[0], err); rerr == nil {
				a.acked(batch[:1])
				batch = batch[1:]
				bo.Reset()
				continue
			} else {
				err = errors.Join(err, rerr)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures++
		a.metrics.SendErrors.Inc()
		a.metrics.PackagesRetried.Add(float64(len(batch)))
		if !sink.IsRejected(err) {
			a.metrics.SinkUp.Set(0)
			if hub.downSince.IsZero() {
				hub.downSince = time.Now()
			}
		}
		wait := bo.NextBackOff()
		var ra *sink.RetryAfterError
		if errors.As(err, &ra) && ra.After > wait {
			wait = ra.After
		}
		// The first failure and then every tenth: an outage of hours must
		// not flood the log.
		if failures%10 == 1 {
			a.log.Error("hub did not acknowledge; retrying", "sink", hub.addr, "packages", len(batch), "attempt", failures, "retry_in", wait.Round(time.Millisecond).String(), "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-back:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return nil
}

// retryBounds are the first and the longest wait of deliver's backoff.
type retryBounds struct{ first, max time.Duration }

// hubAnswered records an attempt the hub answered, and the end of an
// outage if there was one.
func (a *Agent) hubAnswered(hub *hubHealth, failures int) {
	a.metrics.SinkUp.Set(1)
	if hub.downSince.IsZero() {
		return
	}
	a.log.Info("hub acknowledged again", "sink", hub.addr, "failed_attempts", failures, "down_for", time.Since(hub.downSince).Round(time.Millisecond).String())
	hub.downSince = time.Time{}
}

// acked records what the hub acknowledged and frees its memory.
func (a *Agent) acked(pkgs []*record.Package) {
	if len(pkgs) == 0 {
		return
	}
	now := time.Now()
	for _, p := range pkgs {
		a.ledger.ack(p, now)
		if p.End {
			a.released(p.Origin.SourceID)
			a.wakeReap()
		}
		if p.Len() > 0 {
			a.metrics.PackagesSent.Inc()
			a.metrics.RecordsSent.Add(float64(p.Len()))
			a.metrics.BytesSent.Add(float64(len(p.Data)))
			a.done.records.Add(int64(p.Len()))
			a.done.bytes.Add(int64(len(p.Data)))
		}
		a.budget.release(int64(cap(p.Data)))
		a.pool.Put(p)
	}
	a.wakeCheckpoints()
}

// reject keeps a package the hub refused in <state-dir>/rejected, with the
// reason beside it, so nothing is dropped silently.
func (a *Agent) reject(p *record.Package, why error) error {
	dir := filepath.Join(filepath.Dir(a.store.Dir()), "rejected")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("rejected dir: %w", err)
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", p.Origin.SourceID, p.ID))
	if err := os.WriteFile(base+".ndjson", p.AppendNDJSON(nil), 0o640); err != nil {
		return fmt.Errorf("keep rejected package: %w", err)
	}
	if err := os.WriteFile(base+".reason", []byte(why.Error()+"\n"), 0o640); err != nil {
		return fmt.Errorf("keep rejected package: %w", err)
	}
	a.metrics.PackagesRejected.Inc()
	a.done.rejected.Add(1)
	a.log.Error("hub rejected a package; kept it on disk", "file", base+".ndjson", "records", p.Len(), "reason", why)
	return nil
}

func (a *Agent) wakeCheckpoints() {
	select {
	case a.ckWake <- struct{}{}:
	default:
	}
}

// DefaultCheckpointEvery is the least time between two rounds of
// checkpoint writes. At full speed the hub acknowledges hundreds of
// packages a second, and writing a checkpoint (a journal record and a
// sync shared by the round) for each costs more than reading them; a
// crash re-sends at most what was acknowledged in this window.
const DefaultCheckpointEvery = 100 * time.Millisecond

// checkpoints writes acknowledged progress as it comes. Writes coalesce:
// while one round syncs, and for Config.CheckpointEvery after it, later
// acknowledgements collect for the next.
func (a *Agent) checkpoints(stop <-chan struct{}) {
	// retry is armed after a round that failed: its changes are dirty
	// again, and no acknowledgement may come to wake this loop. Otherwise
	// nothing wakes it but work.
	var retry <-chan time.Time
	for {
		select {
		case <-a.ckWake:
		case <-retry:
		case <-stop:
			a.writeCheckpoints()
			return
		}
		retry = nil
		if !a.writeCheckpoints() {
			retry = time.After(time.Second)
		}
		pause := time.NewTimer(cmp.Or(a.cfg.CheckpointEvery, DefaultCheckpointEvery))
		select {
		case <-pause.C:
		case <-stop:
			pause.Stop()
			a.writeCheckpoints()
			return
		}
	}
}

// writeCheckpoints writes the changes acknowledged since the last round;
// false if one failed (it is dirty again, for the next round).
func (a *Agent) writeCheckpoints() bool {
	changes := a.ledger.takeDirty()
	if len(changes) == 0 {
		return true
	}
	var failed atomic.Int64
	inParallel(len(changes), checkpointWriters, func(i int) {
		c := changes[i]
		var err error
		if c.forget {
			err = a.store.Remove(c.cp.SourceID)
		} else {
			err = a.store.Save(c.cp)
		}
		if err != nil {
			failed.Add(1)
			a.ledger.retry(c)
			a.metrics.CheckpointErrors.Inc()
			a.log.Error("checkpoint not written; will retry", "source_id", c.cp.SourceID, "err", err)
		}
	})
	if failed.Load() > 0 {
		return false
	}
	a.metrics.Checkpointed()
	return true
}
