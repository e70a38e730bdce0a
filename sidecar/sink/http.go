package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/loglet/loglet/internal/redact"
	"github.com/loglet/loglet/sidecar/record"
)

// poster is the sink of the HTTP protocols (NDJSON, OTLP): it posts each
// package, encoded by its protocol and gzip-compressed, to one URL and sorts
// the answers: a 2xx acknowledges; 429, 5xx and connection errors are worth
// retrying (honouring Retry-After); any other status rejects the package
// for good.
type poster struct {
	url string
	// shown is url without its password, for errors and logs.
	shown string
	// scheme is what Addr puts before shown's "http": "otlp+" for OTLP.
	scheme      string
	contentType string
	// encode writes p's request body to w, the compressor, encoding it in
	// buf, and returns the headers of its own and buf for the next
	// package.
	encode func(p *record.Package, w io.Writer, buf []byte) ([]byte, http.Header, error)
	client *http.Client
	raw    []byte
	// body is the compressed request body.
	body bytes.Buffer
	gz   *gzip.Writer
}

func newPoster(url, contentType string, encode func(*record.Package, io.Writer, []byte) ([]byte, http.Header, error), opts Options) *poster {
	gz, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	shown := url
	if u, err := neturl.Parse(url); err == nil {
		shown = redact.URL(u)
	}
	return &poster{url: url, shown: shown, contentType: contentType, encode: encode, client: &http.Client{Timeout: opts.Timeout}, gz: gz}
}

// Addr names the endpoint, without its password.
func (s *poster) Addr() string { return s.scheme + s.shown }

// Write posts the packages one by one, in order.
func (s *poster) Write(ctx context.Context, pkgs []*record.Package) (int, error) {
	for i, p := range pkgs {
		if p.Len() == 0 {
			continue
		}
		h, err := s.compress(p)
		if err != nil {
			return i, &RejectedError{Reason: fmt.Sprintf("encoding package %d: %v", p.ID, err)}
		}
		if err := s.post(ctx, h); err != nil {
			return i, err
		}
	}
	return len(pkgs), nil
}

// Close drops idle connections.
func (s *poster) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// RetryAfterError asks the caller to wait at least After before retrying.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// compress encodes p into body, gzip-compressed, and returns the headers
// of its request.
func (s *poster) compress(p *record.Package) (http.Header, error) {
	s.body.Reset()
	s.gz.Reset(&s.body)
	var h http.Header
	var err error
	if s.raw, h, err = s.encode(p, s.gz, s.raw); err != nil {
		return nil, err
	}
	return h, s.gz.Close()
}

func (s *poster) post(ctx context.Context, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(s.body.Bytes()))
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", s.contentType)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := s.client.Do(req)
	if err != nil {
		// The client's error names the URL already (without password).
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, resp.Body)
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("post %s: %s: %s", s.shown, resp.Status, bytes.TrimSpace(msg))
		if after, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return &RetryAfterError{Err: err, After: after}
		}
		return err
	default:
		return &RejectedError{Reason: fmt.Sprintf("post %s: %s: %s", s.shown, resp.Status, bytes.TrimSpace(msg))}
	}
}

// retryAfter reads Retry-After: seconds, or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d, true
		}
	}
	return 0, false
}

// NewHTTP returns a sink posting each package as gzip-compressed NDJSON,
// compressed as it is encoded.
func NewHTTP(url string, opts Options) Sink {
	return newPoster(url, "application/x-ndjson", func(p *record.Package, w io.Writer, buf []byte) ([]byte, http.Header, error) {
		h := http.Header{"Loglet-Source-Id": {p.Origin.SourceID}, "Loglet-Package-Id": {strconv.FormatUint(p.ID, 10)}}
		buf, err := p.WriteNDJSON(w, buf)
		return buf, h, err
	}, opts)
}
