package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/loglet/loglet/hub/query"
)

// ownParams are the API's parameters beyond the CLI's flags.
var ownParams = map[string]bool{"limit": true, "format": true, "buckets": true, "source": true, "package": true, "offset": true, "before": true, "after": true, "cursor": true}

// parse reads the query's parameters, refusing names neither the CLI nor
// the API knows (a typo would otherwise widen the query silently).
func (s *Server) parse(v url.Values) (query.Filter, query.Options, error) {
	for name := range v {
		if !query.IsParam(name) && !ownParams[name] {
			return query.Filter{}, query.Options{}, fmt.Errorf("parameter %q: not one the console knows (see docs/console.md)", name)
		}
	}
	p, err := query.ParseParams(v)
	if err != nil {
		return query.Filter{}, query.Options{}, err
	}
	if p.Follow {
		return query.Filter{}, query.Options{}, errors.New("follow: use /api/v1/tail for new records")
	}
	f, o, err := p.Build(s.o.Now())
	// A request holds at most this many bytes of packages read ahead: the
	// console runs inside the hub, whose memory many requests must not
	// exhaust.
	o.BufferBytes = readAhead
	return f, o, err
}

// readAhead is what one request reads ahead of what it decodes.
const readAhead = 8 << 20

// intParam reads an integer parameter in [lo, hi], def when absent.
func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want a number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// budget bounds one request; scale widens it for a download.
func (s *Server) budget(scale int) (*query.Budget, time.Duration) {
	timeout := s.o.Timeout * time.Duration(scale)
	return &query.Budget{MaxBytes: s.o.MaxScanBytes * int64(scale), Deadline: time.Now().Add(timeout)}, timeout
}

// hubContext ends a request's reading a little after its budget's
// deadline: the budget stops the reading with what it found, the context
// only a reader stuck on the hub.
func hubContext(r *http.Request, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), timeout+5*time.Second)
}

// QueryAnswer is what /api/v1/query answers.
type QueryAnswer struct {
	// Records are the records as the agent wrote them, newest first.
	Records []json.RawMessage `json:"records"`
	// More says there may be older records: ask again with Next.
	More bool `json:"more"`
	// Next is the cursor of the next page (the parameter cursor): it
	// takes the records stored before this page's.
	Next string `json:"next,omitempty"`
	// Partial says the query stopped at its budget (bytes read or time):
	// older records may match that are not here. Reason says which.
	Partial bool   `json:"partial"`
	Reason  string `json:"reason,omitempty"`
	// ScannedBytes is how many bytes of packages the query read.
	ScannedBytes int64 `json:"scanned_bytes"`
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f, o, err := s.parse(v)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if v.Get("format") == "ndjson" {
		s.download(w, r, f, o)
		return
	}
	if count, _ := strconv.ParseBool(v.Get("count")); count {
		s.count(w, r, f, o)
		return
	}
	if fm := v.Get("format"); fm != "" && fm != "json" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("format %q: want json or ndjson", fm))
		return
	}
	limit, err := intParam(v, "limit", 100, 1, s.o.PageLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if o.Last == 0 || o.Last > limit {
		o.Last = limit
	}
	if c := v.Get("cursor"); c != "" {
		if o.Before, err = query.ParseCursor(c); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	budget, timeout := s.budget(1)
	o.Budget = budget
	ctx, cancel := hubContext(r, timeout)
	defer cancel()
	var recs []query.Record
	err = s.o.Hub.Tail(ctx, f, o, func(rec query.Record) error { recs = append(recs, rec); return nil })
	ans := QueryAnswer{Records: []json.RawMessage{}, ScannedBytes: budget.Read()}
	if errors.Is(err, query.ErrPartial) {
		ans.Partial, ans.Reason = true, partialReason(budget, s.o.MaxScanBytes)
	} else if err != nil {
		writeError(w, hubStatus(err), fmt.Errorf("query: %w", err))
		return
	}
	// Tail hands the last records stored, oldest first; the page shows
	// them newest first. (Stored order is the records' time order but for
	// an agent catching up on old lines: it is what pages can be cut by.)
	if len(recs) == o.Last {
		ans.More = true
		ans.Next = query.CursorOf(recs, o.Before).String()
	}
	for i := len(recs) - 1; i >= 0; i-- {
		ans.Records = append(ans.Records, recs[i].Raw)
	}
	writeJSON(w, http.StatusOK, ans)
}

func partialReason(b *query.Budget, maxBytes int64) string {
	if b.Read() > maxBytes {
		return fmt.Sprintf("read %d MiB of packages, the console's cap for one request: narrow the time range or the query", maxBytes>>20)
	}
	return "reached the console's time limit for one request: narrow the time range or the query"
}

// hubStatus is 504 for a hub that did not answer in time, 502 otherwise.
func hubStatus(err error) int {
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// download streams every record the query selects as NDJSON, oldest
// first. Whether it stopped at its budget comes in the trailer
// Loglet-Partial, as the status is sent before the first record.
func (s *Server) download(w http.ResponseWriter, r *http.Request, f query.Filter, o query.Options) {
	budget, timeout := s.budget(6)
	budget.MaxBytes = s.o.MaxScanBytes * 16
	o.Budget = budget
	ctx, cancel := hubContext(r, timeout)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="loglet-%s.ndjson"`, s.o.Now().UTC().Format("20060102T150405Z")))
	h.Set("Cache-Control", "no-store")
	h.Set("Trailer", "Loglet-Partial")
	err := s.o.Hub.Tail(ctx, f, o, func(rec query.Record) error {
		if _, err := w.Write(rec.Raw); err != nil {
			return err
		}
		_, err := w.Write([]byte{'\n'})
		return err
	})
	h.Set("Loglet-Partial", strconv.FormatBool(err != nil))
}

// CountAnswer is what /api/v1/query?count=true answers: how many records
// the query selects (as loglet logs tail --count prints).
type CountAnswer struct {
	Count        int64  `json:"count"`
	Partial      bool   `json:"partial"`
	Reason       string `json:"reason,omitempty"`
	ScannedBytes int64  `json:"scanned_bytes"`
}

// count counts the records the query selects, reading only their time
// and severity where the query needs no more.
func (s *Server) count(w http.ResponseWriter, r *http.Request, f query.Filter, o query.Options) {
	budget, timeout := s.budget(1)
	o.Budget = budget
	f.TimeAndSeverity = true
	ctx, cancel := hubContext(r, timeout)
	defer cancel()
	var ans CountAnswer
	err := s.o.Hub.Tail(ctx, f, o, func(query.Record) error { ans.Count++; return nil })
	ans.ScannedBytes = budget.Read()
	if errors.Is(err, query.ErrPartial) {
		ans.Partial, ans.Reason = true, partialReason(budget, s.o.MaxScanBytes)
	} else if err != nil {
		writeError(w, hubStatus(err), fmt.Errorf("count: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// ContextAnswer is what /api/v1/context answers.
type ContextAnswer struct {
	Records []json.RawMessage `json:"records"`
	// At is the index of the record asked for in Records.
	At int `json:"at"`
}

func (s *Server) context(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	for name := range v {
		if !ownParams[name] {
			writeError(w, http.StatusBadRequest, fmt.Errorf("parameter %q: context takes source, package, offset, before and after", name))
			return
		}
	}
	source := v.Get("source")
	if source == "" {
		writeError(w, http.StatusBadRequest, errors.New("source: want the record's loglet.source_id"))
		return
	}
	pkg, err := strconv.ParseUint(v.Get("package"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("package %q: want the record's loglet.package_id, a number", v.Get("package")))
		return
	}
	offset, err := intParam(v, "offset", -1, 0, 1<<30)
	if err == nil && offset < 0 {
		err = errors.New("offset: want the record's loglet.offset, a number")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	before, err := intParam(v, "before", 20, 0, s.o.PageLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	after, err := intParam(v, "after", 20, 0, s.o.PageLimit)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := hubContext(r, s.o.Timeout)
	defer cancel()
	recs, at, err := s.o.Hub.Context(ctx, source, pkg, offset, before, after)
	if err != nil {
		status := http.StatusNotFound
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		writeError(w, status, fmt.Errorf("context: %w", err))
		return
	}
	ans := ContextAnswer{Records: make([]json.RawMessage, 0, len(recs)), At: at}
	for _, rec := range recs {
		ans.Records = append(ans.Records, rec.Raw)
	}
	writeJSON(w, http.StatusOK, ans)
}

// tail streams new records the query selects as server-sent events
// (event "record", data the record's JSON), with a comment every 15 s so
// proxies keep the connection. Server-sent events rather than a
// WebSocket: one direction is all a tail needs, EventSource reconnects by
// itself, and it is plain HTTP (the same auth, the same headers).
func (s *Server) tail(w http.ResponseWriter, r *http.Request) {
	f, o, err := s.parse(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	o.Follow, o.OnlyNew, o.Last = true, true, 0
	// New records only: a since would drop the records of a package
	// stored now but written before it.
	f.Since, f.Until = time.Time{}, time.Time{}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex // the records and the heartbeat write in turn
	write := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write([]byte(": tailing\n\n")); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if write([]byte(": keepalive\n\n")) != nil {
					cancel()
					return
				}
			}
		}
	}()
	err = s.o.Hub.Tail(ctx, f, o, func(rec query.Record) error {
		// A record's JSON is one line: data holds it whole.
		return write(append(append([]byte("event: record\ndata: "), rec.Raw...), '\n', '\n'))
	})
	if err != nil && ctx.Err() == nil {
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		write(append(append([]byte("event: failure\ndata: "), b...), '\n', '\n'))
	}
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request) {
	src, ok := s.o.Hub.(query.Sourcer)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"sources": []query.Source{}})
		return
	}
	ctx, cancel := hubContext(r, s.o.Timeout)
	defer cancel()
	list, err := src.Sources(ctx)
	if err != nil {
		writeError(w, hubStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": list})
}
