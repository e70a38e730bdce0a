package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/loglet/loglet/sidecar/record"
)

// HTTP posts each package as gzip-compressed NDJSON. A 2xx acknowledges it;
// 429, 5xx and connection errors are retried; any other status rejects it.
type HTTP struct {
	url    string
	client *http.Client
	raw    []byte
	body   bytes.Buffer
	gz     *gzip.Writer
}

// NewHTTP returns a sink posting to url.
func NewHTTP(url string, opts Options) *HTTP {
	gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return &HTTP{url: url, client: &http.Client{Timeout: opts.Timeout}, gz: gz}
}

// RetryAfterError asks the caller to wait at least After before retrying.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Write posts the packages one by one, in order.
func (s *HTTP) Write(ctx context.Context, pkgs []*record.Package) (int, error) {
	for i, p := range pkgs {
		if p.Len() == 0 {
			continue
		}
		if err := s.post(ctx, p); err != nil {
			return i, err
		}
	}
	return len(pkgs), nil
}

func (s *HTTP) post(ctx context.Context, p *record.Package) error {
	s.raw = p.AppendNDJSON(s.raw[:0])
	s.body.Reset()
	s.gz.Reset(&s.body)
	if _, err := s.gz.Write(s.raw); err != nil {
		return err
	}
	if err := s.gz.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(s.body.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Loglet-Source-Id", p.Origin.SourceID)
	req.Header.Set("Loglet-Package-Id", strconv.FormatUint(p.ID, 10))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, resp.Body)
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("post %s: %s: %s", s.url, resp.Status, bytes.TrimSpace(msg))
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			return &RetryAfterError{Err: err, After: time.Duration(secs) * time.Second}
		}
		return err
	default:
		return &RejectedError{Reason: fmt.Sprintf("post %s: %s: %s", s.url, resp.Status, bytes.TrimSpace(msg))}
	}
}

// Close drops idle connections.
func (s *HTTP) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
