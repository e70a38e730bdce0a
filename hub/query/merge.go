package query

import (
	"context"
	"sync"
)

// merge runs the tails at once and hands their records to emit: ordered
// by when the hub stored them (each tail's records come in that order),
// or, when ordered is false (following), as they come.
func merge(ctx context.Context, tails []func(context.Context, func(Record) error) error, ordered bool, emit func(Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	type item struct {
		rec Record
		err error
		end bool
	}
	chans := make([]chan item, len(tails))
	var wg sync.WaitGroup
	for i, tail := range tails {
		chans[i] = make(chan item, 256)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(chans[i])
			err := tail(ctx, func(rec Record) error {
				select {
				case chans[i] <- item{rec: rec}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			select {
			case chans[i] <- item{err: err, end: true}:
			case <-ctx.Done():
			}
		}()
	}
	// Stop the tails, and wait for them, on the way out.
	defer func() { cancel(); wg.Wait() }()
	if !ordered {
		// As they come: one receiver per tail, emit serialised.
		var (
			mu       sync.Mutex
			firstErr error
			rg       sync.WaitGroup
		)
		for _, ch := range chans {
			rg.Add(1)
			go func() {
				defer rg.Done()
				for it := range ch { // closed once its tail has returned
					mu.Lock()
					if firstErr == nil {
						if it.end {
							firstErr = it.err
						} else if err := emit(it.rec); err != nil {
							firstErr = err
						}
					}
					failed := firstErr != nil
					mu.Unlock()
					if it.end || failed {
						if failed {
							cancel()
						}
						return
					}
				}
			}()
		}
		rg.Wait()
		if ctx.Err() != nil && firstErr == context.Canceled {
			return nil
		}
		return firstErr
	}
	// Ordered: the oldest head of all tails goes first.
	heads := make([]*item, len(tails))
	for {
		pick := -1
		for i, ch := range chans {
			if heads[i] == nil && ch != nil {
				it, ok := <-ch
				if !ok || it.end {
					if it.err != nil {
						return it.err
					}
					chans[i] = nil
					continue
				}
				heads[i] = &it
			}
			if heads[i] != nil && (pick < 0 || heads[i].rec.Stored.Before(heads[pick].rec.Stored)) {
				pick = i
			}
		}
		if pick < 0 {
			return nil
		}
		if err := emit(heads[pick].rec); err != nil {
			return err
		}
		heads[pick] = nil
	}
}
