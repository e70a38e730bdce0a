// Command otlpapp is the e2e tests' app that pushes its logs: it logs
// through the OpenTelemetry Go SDK (sdk/log, the otlploghttp exporter) and
// finds where to send them only in the variables the SDK reads itself —
// OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, which loglet's webhook sets for
// pods annotated loglet.io/inputs: otlp, and OTEL_SERVICE_NAME. Test
// infrastructure, not product code.
//
// It emits -n numbered records, "otlp record <i>", each with a severity
// (INFO, WARN, ERROR in turn), the attribute record.index and a span
// context whose ids name the record (trace id 4bf92f3577b34da6a3ce929d
// followed by i as 8 hex digits, span id 00f067aa followed by i+1), from the
// logger shop/checkout; flushes them; says so on stdout; and then waits
// for SIGTERM, as a server does, so the pod stays up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/trace"
)

func main() {
	n := flag.Int("n", 100, "how many records to emit")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "otlpapp:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Without it the exporter would send to localhost:4318 all the same:
	// refuse, so that a pod the webhook did not set up says why.
	if os.Getenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") == "" {
		return errors.New("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is not set; loglet's webhook sets it in pods annotated loglet.io/inputs: otlp")
	}
	exp, err := otlploghttp.New(ctx)
	if err != nil {
		return fmt.Errorf("the OTLP exporter: %w", err)
	}
	// No resource given: the SDK's default, with service.name from
	// OTEL_SERVICE_NAME, as an app configured by its environment has.
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	logger := lp.Logger("shop/checkout")
	severities := []otellog.Severity{otellog.SeverityInfo, otellog.SeverityWarn, otellog.SeverityError}
	for i := range n {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID(i), SpanID: spanID(i), TraceFlags: trace.FlagsSampled})
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetSeverity(severities[i%len(severities)])
		r.SetBody(attribute.StringValue(fmt.Sprintf("otlp record %d", i)))
		r.AddAttributes(attribute.Int("record.index", i))
		logger.Emit(trace.ContextWithSpanContext(ctx, sc), r)
	}
	if err := lp.ForceFlush(ctx); err != nil {
		return fmt.Errorf("flushing %d records: %w", n, err)
	}
	fmt.Printf("sent %d records\n", n)
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return lp.Shutdown(shut)
}

// traceID is record i's trace id.
func traceID(i int) trace.TraceID {
	return trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// spanID is record i's span id (never zero, which means none).
func spanID(i int) trace.SpanID {
	j := i + 1
	return trace.SpanID{0x00, 0xf0, 0x67, 0xaa, byte(j >> 24), byte(j >> 16), byte(j >> 8), byte(j)}
}
