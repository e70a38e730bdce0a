// Package sink delivers packages to the hub. A sink reports how many
// packages (in order) the hub acknowledged; the agent checkpoints only those.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/loglet/loglet/sidecar/record"
)

// Sink is a destination for packages.
type Sink interface {
	// Write delivers pkgs in order and returns how many leading packages
	// the hub acknowledged. With an error, the rest are to be retried,
	// unless the error is a *RejectedError: then pkgs[acked] can never be
	// accepted and is set aside.
	Write(ctx context.Context, pkgs []*record.Package) (acked int, err error)
	// Close releases connections; it does not wait for unsent packages.
	Close() error
}

// Addr names where s delivers, without credentials, for the agent's logs:
// an outage report must say which hub failed. A sink that cannot say is
// named by its type.
func Addr(s Sink) string {
	if a, ok := s.(interface{ Addr() string }); ok {
		return a.Addr()
	}
	return fmt.Sprintf("%T", s)
}

// Reconnected is signalled when s has connected to its hub again (the
// NATS sink's client does so by itself); nil for a sink that cannot tell,
// which the agent retries when its backoff ends.
func Reconnected(s Sink) <-chan struct{} {
	if r, ok := s.(interface{ Reconnected() <-chan struct{} }); ok {
		return r.Reconnected()
	}
	return nil
}

// RejectedError says the hub refused a package for good (an HTTP 400, a
// Kafka record too large): retrying would fail the same way.
type RejectedError struct {
	Reason string
}

func (e *RejectedError) Error() string { return "rejected by the hub: " + e.Reason }

// IsRejected reports whether err is a *RejectedError.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}

// Options tune the sinks.
type Options struct {
	Logger *slog.Logger
	// Timeout bounds one request to a remote hub.
	Timeout time.Duration
}

// Schemes lists the URL forms Open accepts, for help and error messages.
const Schemes = "file:///path, stdout://, null://, http(s)://host/path, kafka://broker1,broker2/topic, nats://host:4222/STREAM, otlp+http(s)://host:4318"

// Open returns the sink for a URL.
func Open(ctx context.Context, raw string, opts Options) (Sink, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("sink %q: not a URL; use one of %s", raw, Schemes)
	}
	switch scheme {
	case "null":
		return Null{}, nil
	case "stdout":
		return newStdout(), nil
	case "file":
		u, err := url.Parse(raw)
		if err != nil || u.Path == "" || u.Host != "" {
			return nil, fmt.Errorf("sink %q: want file:///absolute/path.ndjson", raw)
		}
		return OpenFile(u.Path, opts.Logger)
	case "http", "https":
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("sink %q: want %s://host[:port]/path", raw, scheme)
		}
		return NewHTTP(u.String(), opts), nil
	case "kafka":
		return OpenKafka(ctx, rest, opts)
	case "nats":
		return OpenNATS(ctx, raw, opts)
	case "otlp+http", "otlp+https":
		return OpenOTLP(raw, opts)
	default:
		return nil, fmt.Errorf("sink %q: unknown scheme %q; use one of %s", raw, scheme, Schemes)
	}
}

// Null discards everything and acknowledges at once: for benchmarks.
type Null struct{}

// Write acknowledges every package.
func (Null) Write(_ context.Context, pkgs []*record.Package) (int, error) { return len(pkgs), nil }

// Close does nothing.
func (Null) Close() error { return nil }

// Addr names the sink.
func (Null) Addr() string { return "null://" }
