package config

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/loglet/loglet/internal/settings"
	"github.com/loglet/loglet/sidecar/inbox"
	"github.com/loglet/loglet/sidecar/receive/ingest"
	"github.com/loglet/loglet/sidecar/receive/lumberjack"
	"github.com/loglet/loglet/sidecar/receive/syslog"
)

// Push protocols: an input with one of these blocks listens instead of
// reading files.
const (
	PushSyslog     = "syslog"
	PushHTTP       = "http"
	PushLumberjack = "lumberjack"
)

// pushKinds are the blocks, in the order they are documented.
var pushKinds = []string{PushSyslog, PushHTTP, PushLumberjack}

// Listener is a push input's block: where it listens and what it takes.
// What senders push is kept in the input's inbox on the state volume,
// synced, before they hear yes.
type Listener struct {
	// Listen is the address: tcp://, udp://, unix:///path or
	// unixgram:///path for syslog; host:port for http and lumberjack.
	// Each protocol has a default on 127.0.0.1.
	Listen string `json:"listen,omitempty"`
	// MaxInboxBytes bounds what the inbox holds that the hub has not
	// acknowledged; beyond it senders are told to retry (256MiB).
	MaxInboxBytes string `json:"max-inbox-bytes,omitempty"`
	// MaxConnections bounds the connections served at once.
	MaxConnections int `json:"max-connections,omitempty"`
	// MaxMessageBytes cuts longer syslog messages into parts (64KiB).
	MaxMessageBytes string `json:"max-message-bytes,omitempty"`
	// MaxBodyBytes bounds an HTTP request body, decompressed (8MiB).
	MaxBodyBytes string `json:"max-body-bytes,omitempty"`
	// TokenFile holds the bearer token HTTP senders must give.
	TokenFile string `json:"token-file,omitempty"`
	// TLSCertFile and TLSKeyFile turn TLS on (http, lumberjack);
	// ClientCAFile also asks senders for a certificate it signed (mTLS).
	TLSCertFile  string `json:"tls-cert-file,omitempty"`
	TLSKeyFile   string `json:"tls-key-file,omitempty"`
	ClientCAFile string `json:"client-ca-file,omitempty"`

	// Network and Address are Listen read: tcp, udp, unix or unixgram,
	// and where.
	Network, Address string `json:"-"`
	// InboxBytes, MessageBytes and BodyBytes are the sizes read.
	InboxBytes, MessageBytes, BodyBytes int64 `json:"-"`
}

// listenerKeys are each protocol's keys.
var listenerKeys = map[string][]string{
	PushSyslog:     {"listen", "max-inbox-bytes", "max-connections", "max-message-bytes"},
	PushHTTP:       {"listen", "max-inbox-bytes", "max-connections", "max-body-bytes", "token-file", "tls-cert-file", "tls-key-file", "client-ca-file"},
	PushLumberjack: {"listen", "max-inbox-bytes", "max-connections", "tls-cert-file", "tls-key-file", "client-ca-file"},
}

// ListenerKeyDocs say what each key of a listener block means, for the
// reference.
var ListenerKeyDocs = map[string]string{
	"listen":            "where it listens: tcp://host:port, udp://host:port, unix:///path or unixgram:///path (syslog); host:port (http, lumberjack)",
	"max-inbox-bytes":   "what the inbox on the state volume may hold that the hub has not acknowledged; beyond it senders are told to retry (HTTP 429, no lumberjack acknowledgement, TCP syslog not read)",
	"max-connections":   "connections served at once; further ones wait",
	"max-message-bytes": "longer syslog messages are cut into parts of this size, none lost",
	"max-body-bytes":    "the largest request body, decompressed; larger ones get 413",
	"token-file":        "a file holding the bearer token senders must give (Authorization: Bearer)",
	"tls-cert-file":     "serve TLS with this certificate (and tls-key-file)",
	"tls-key-file":      "the key of tls-cert-file",
	"client-ca-file":    "ask senders for a certificate this CA signed (mTLS)",
}

// ListenerDefaults are the defaults of a listener block's keys that have
// one, per protocol.
func ListenerDefaults(kind string) map[string]string {
	conns := map[string]int{PushSyslog: syslog.DefaultMaxConns, PushHTTP: ingest.DefaultMaxConns, PushLumberjack: lumberjack.DefaultMaxConns}[kind]
	return map[string]string{"listen": defaultListen[kind], "max-inbox-bytes": settings.FormatBytes(inbox.DefaultMaxBytes),
		"max-connections": strconv.Itoa(conns), "max-message-bytes": settings.FormatBytes(syslog.DefaultMaxMessageBytes),
		"max-body-bytes": settings.FormatBytes(ingest.DefaultMaxBodyBytes)}
}

// ListenerKeys are the keys of kind's block, in the order they are
// documented.
func ListenerKeys(kind string) []string { return listenerKeys[kind] }

// defaultListen is where each protocol listens when listen is left out:
// on the loopback only, where a sidecar's pod reaches it and nothing
// else does.
var defaultListen = map[string]string{
	PushSyslog:     "tcp://127.0.0.1:5514",
	PushHTTP:       "127.0.0.1:4318",
	PushLumberjack: "127.0.0.1:5044",
}

// Push returns the input's protocol and block; "" when it reads files.
func (in *Input) Push() (string, *Listener) {
	switch {
	case in.Syslog != nil:
		return PushSyslog, in.Syslog
	case in.HTTP != nil:
		return PushHTTP, in.HTTP
	case in.Lumberjack != nil:
		return PushLumberjack, in.Lumberjack
	}
	return "", nil
}

// InboxDir is where an input's inbox lies in the state dir.
func InboxDir(stateDir, input string) string { return filepath.Join(stateDir, "inbox", input) }

// takePush removes an input's push block from m, checks it and returns
// it; kind is "" for an input that reads files. The input's format
// defaults to syslog for a syslog block.
func takePush(m map[string]any, where string) (kind string, l *Listener, err error) {
	for _, k := range pushKinds {
		block, ok := m[k]
		if !ok {
			continue
		}
		if kind != "" {
			return "", nil, fmt.Errorf("%s: %s and %s: an input listens for one protocol; give each its own input", where, kind, k)
		}
		kind = k
		delete(m, k)
		if block == nil {
			block = map[string]any{} // syslog: with no keys, the defaults
		}
		b, ok := block.(map[string]any)
		if !ok {
			return "", nil, fmt.Errorf("%s.%s: want a map like {listen: %s}, got %v", where, k, defaultListen[k], block)
		}
		if l, err = readListener(k, b, where+"."+k); err != nil {
			return "", nil, err
		}
	}
	if kind == "" {
		return "", nil, nil
	}
	for _, key := range []string{"files", "exclude", "container-format"} {
		if _, ok := m[key]; ok {
			return "", nil, fmt.Errorf("%s: %s: an input that listens (%s) reads no files; give files in an input of their own", where, key, kind)
		}
	}
	m["container-format"] = "inbox"
	if _, ok := m["format"]; !ok && kind == PushSyslog {
		m["format"] = "syslog"
	}
	return kind, l, nil
}

func readListener(kind string, b map[string]any, where string) (*Listener, error) {
	if err := settings.CheckKeys(b, listenerKeys[kind], where); err != nil {
		return nil, err
	}
	str := func(key string) (string, error) {
		v, ok := b[key]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s.%s: want a string, got %v", where, key, v)
		}
		return s, nil
	}
	l := &Listener{}
	var err error
	for key, dst := range map[string]*string{"listen": &l.Listen, "max-inbox-bytes": &l.MaxInboxBytes, "max-message-bytes": &l.MaxMessageBytes,
		"max-body-bytes": &l.MaxBodyBytes, "token-file": &l.TokenFile, "tls-cert-file": &l.TLSCertFile, "tls-key-file": &l.TLSKeyFile, "client-ca-file": &l.ClientCAFile} {
		if *dst, err = str(key); err != nil {
			return nil, err
		}
	}
	if v, ok := b["max-connections"]; ok {
		n, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil || n < 1 || n > 1<<16 {
			return nil, fmt.Errorf("%s.max-connections: invalid value %v: want a number from 1 to 65536", where, v)
		}
		l.MaxConnections = n
	}
	sizes := []struct {
		key  string
		val  string
		dst  *int64
		def  int64
		high int64
	}{
		{"max-inbox-bytes", l.MaxInboxBytes, &l.InboxBytes, inbox.DefaultMaxBytes, 1 << 40},
		{"max-message-bytes", l.MaxMessageBytes, &l.MessageBytes, syslog.DefaultMaxMessageBytes, 64 << 20},
		{"max-body-bytes", l.MaxBodyBytes, &l.BodyBytes, ingest.DefaultMaxBodyBytes, 1 << 30},
	}
	for _, s := range sizes {
		*s.dst = s.def
		if s.val == "" {
			continue
		}
		n, err := settings.ParseBytes(s.val)
		if err != nil || n < 1<<10 || n > s.high {
			return nil, fmt.Errorf("%s.%s: invalid value %q: want a size from 1KiB to %s, like 64MiB", where, s.key, s.val, settings.FormatBytes(s.high))
		}
		*s.dst = n
	}
	if (l.TLSCertFile == "") != (l.TLSKeyFile == "") {
		return nil, fmt.Errorf("%s: tls-cert-file and tls-key-file: give both, or neither", where)
	}
	if l.ClientCAFile != "" && l.TLSCertFile == "" {
		return nil, fmt.Errorf("%s: client-ca-file needs tls-cert-file and tls-key-file: client certificates are asked for over TLS", where)
	}
	if l.Listen == "" {
		l.Listen = defaultListen[kind]
	}
	if l.Network, l.Address, err = parseListen(kind, l.Listen); err != nil {
		return nil, fmt.Errorf("%s.listen: %w", where, err)
	}
	if kind == PushHTTP && l.TokenFile == "" && l.ClientCAFile == "" && !loopback(l.Address) {
		return nil, fmt.Errorf("%s.listen: %s is reachable from other hosts, and anyone who reaches it could write records: give token-file (senders send Authorization: Bearer) or client-ca-file (mTLS), or listen on 127.0.0.1", where, l.Listen)
	}
	return l, nil
}

// parseListen reads a listen address for kind.
func parseListen(kind, s string) (network, addr string, err error) {
	network, addr = "tcp", s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		network, addr = scheme, rest
	}
	switch {
	case kind == PushSyslog && (network == "unix" || network == "unixgram"):
		if !filepath.IsAbs(addr) {
			return "", "", fmt.Errorf("%q: want an absolute socket path, like unix:///var/run/loglet/syslog.sock", s)
		}
		return network, filepath.Clean(addr), nil
	case kind == PushSyslog && network != "tcp" && network != "udp":
		return "", "", fmt.Errorf("%q: want tcp://host:port, udp://host:port, unix:///path or unixgram:///path", s)
	case kind == PushHTTP && (network == "http" || network == "https"):
		network = "tcp"
	case kind != PushSyslog && network != "tcp":
		return "", "", fmt.Errorf("%q: want host:port, like %s", s, defaultListen[kind])
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("%q: want host:port, like %s: %w", s, defaultListen[kind], err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	return network, net.JoinHostPort(host, port), nil
}

// loopback reports whether addr (host:port) listens on the loopback only.
func loopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkListeners refuses two inputs that listen on one address, and an
// input that listens in an agent that exits once its files are read.
func checkListeners(inputs []Input, once bool) error {
	seen := map[string]string{}
	for _, in := range inputs {
		kind, l := in.Push()
		if kind == "" {
			continue
		}
		if once {
			return fmt.Errorf("input %s: %s: once reads files to their end and exits, and an input that listens has no end; leave once out, or give %s an agent of its own", in.Name, kind, in.Name)
		}
		key := l.Network + " " + l.Address
		if other, ok := seen[key]; ok && !strings.HasSuffix(l.Address, ":0") {
			return fmt.Errorf("input %s: listen %s: input %s listens there too; give each its own port", in.Name, l.Listen, other)
		}
		seen[key] = in.Name
	}
	return nil
}
