package modes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/loglet/loglet/sidecar/config"
	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/metrics"
	"github.com/loglet/loglet/sidecar/receive"
	"github.com/loglet/loglet/sidecar/receive/ingest"
	"github.com/loglet/loglet/sidecar/receive/lumberjack"
	"github.com/loglet/loglet/sidecar/receive/syslog"
)

// Push runs the inputs that listen (syslog, HTTP, lumberjack): each takes
// what senders push into its inbox on the state volume, which the pipeline
// reads as the input's files.
type Push struct {
	inputs []*pushInput
}

type pushInput struct {
	name, kind string
	l          *config.Listener
	dir        string
	stats      receive.Stats
	box        *inbox.Inbox
	ln         net.Listener
	pc         net.PacketConn
	tls        *tls.Config
	token      string
}

// reclaimEvery is how often inboxes drop what the hub acknowledged.
const reclaimEvery = time.Second

// newPush finds the inputs that listen and points each at its inbox: the
// pipeline reads the inbox's segments as the input's files. Nil when none
// listens.
func newPush(c *config.Agent) *Push {
	p := &Push{}
	for i := range c.Inputs {
		in := &c.Inputs[i]
		kind, l := in.Push()
		if kind == "" {
			continue
		}
		pi := &pushInput{name: in.Name, kind: kind, l: l, dir: config.InboxDir(c.StateDir, in.Name)}
		in.Files = []string{filepath.Join(pi.dir, "*", "*.log")}
		p.inputs = append(p.inputs, pi)
	}
	if len(p.inputs) == 0 {
		return nil
	}
	return p
}

// Metrics are every input's counters.
func (p *Push) Metrics() []metrics.PushInput {
	var out []metrics.PushInput
	for _, in := range p.inputs {
		out = append(out, metrics.PushInput{Input: in.name, Protocol: in.kind, Stats: &in.stats, Held: func() int64 {
			if in.box == nil {
				return 0
			}
			return in.box.Held()
		}})
	}
	return out
}

// Listen opens the inboxes and binds every listener, so that an address
// in use stops the agent at its start. acked says how far the hub
// acknowledged a segment (pipeline.Agent.Acknowledged); appended is told
// each segment an append made durable (pipeline.Agent.Wake).
func (p *Push) Listen(acked func(path string, dev, ino uint64) int64, appended func(path string)) error {
	for _, in := range p.inputs {
		if err := in.listen(acked, appended); err != nil {
			p.Close()
			return fmt.Errorf("input %s: %w", in.name, err)
		}
	}
	return nil
}

func (in *pushInput) listen(acked func(path string, dev, ino uint64) int64, appended func(path string)) error {
	var err error
	if in.box, err = inbox.Open(in.dir, inbox.Options{MaxBytes: in.l.InboxBytes, Acked: acked, Appended: appended}); err != nil {
		return err
	}
	if in.l.TokenFile != "" {
		b, err := os.ReadFile(in.l.TokenFile)
		if err != nil {
			return fmt.Errorf("%s.token-file: %w", in.kind, err)
		}
		if in.token = strings.TrimSpace(string(b)); in.token == "" {
			return fmt.Errorf("%s.token-file: %s is empty; write the token senders must give into it", in.kind, in.l.TokenFile)
		}
	}
	if in.l.TLSCertFile != "" {
		if in.tls, err = serverTLS(in.l); err != nil {
			return fmt.Errorf("%s: %w", in.kind, err)
		}
	}
	switch in.l.Network {
	case "udp", "unixgram":
		if in.l.Network == "unixgram" {
			removeStaleSocket(in.l.Address)
		}
		if in.pc, err = net.ListenPacket(in.l.Network, in.l.Address); err != nil {
			return fmt.Errorf("%s.listen %s: %w", in.kind, in.l.Listen, err)
		}
	default:
		if in.l.Network == "unix" {
			removeStaleSocket(in.l.Address)
		}
		if in.ln, err = net.Listen(in.l.Network, in.l.Address); err != nil {
			return fmt.Errorf("%s.listen %s: %w", in.kind, in.l.Listen, err)
		}
	}
	if strings.HasPrefix(in.l.Network, "unix") {
		// The pod's containers may run as other users: the socket lies on
		// the pod's own volume, which only they share.
		os.Chmod(in.l.Address, 0o666)
	}
	return nil
}

// removeStaleSocket removes a socket an agent that was killed left, so
// that its successor can bind the path again. Only a socket is removed.
func removeStaleSocket(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
}

func serverTLS(l *config.Listener) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(l.TLSCertFile, l.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert-file, tls-key-file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if l.ClientCAFile != "" {
		pem, err := os.ReadFile(l.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client-ca-file: %s holds no PEM certificate", l.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Addrs are the addresses the inputs listen on, by input name (a port 0
// resolved).
func (p *Push) Addrs() map[string]string {
	m := map[string]string{}
	for _, in := range p.inputs {
		switch {
		case in.ln != nil:
			m[in.name] = in.ln.Addr().String()
		case in.pc != nil:
			m[in.name] = in.pc.LocalAddr().String()
		}
	}
	return m
}

// Serve serves every listener until ctx ends, then stops taking pushes
// and returns once every listener has stored what it took: what the
// inboxes hold is then for the pipeline to drain.
func (p *Push) Serve(ctx context.Context, log *slog.Logger) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(p.inputs))
	for _, in := range p.inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.serve(ctx, log.With("input", in.name)); err != nil {
				errs <- fmt.Errorf("input %s: %w", in.name, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(reclaimEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				for _, in := range p.inputs {
					in.box.Reclaim()
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	p.Close()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func (in *pushInput) serve(ctx context.Context, log *slog.Logger) error {
	switch in.kind {
	case config.PushSyslog:
		opt := syslog.Options{Appender: in.box, Stats: &in.stats, Log: log, MaxMessageBytes: int(in.l.MessageBytes), MaxConns: in.l.MaxConnections}
		if in.pc != nil {
			return syslog.ServePacket(ctx, in.pc, opt)
		}
		return syslog.ServeStream(ctx, in.ln, opt)
	case config.PushLumberjack:
		return lumberjack.Serve(ctx, in.ln, lumberjack.Options{Appender: in.box, Stats: &in.stats, Log: log, TLS: in.tls, MaxConns: in.l.MaxConnections})
	default:
		return ingest.Serve(ctx, in.ln, ingest.Options{Appender: in.box, Stats: &in.stats, Log: log, TLS: in.tls, Token: in.token,
			MaxConns: in.l.MaxConnections, MaxBodyBytes: in.l.BodyBytes})
	}
}

// Close closes the listeners and inboxes.
func (p *Push) Close() {
	for _, in := range p.inputs {
		if in.ln != nil {
			in.ln.Close()
		}
		if in.pc != nil {
			in.pc.Close()
		}
		if in.box != nil {
			in.box.Close()
		}
	}
}
