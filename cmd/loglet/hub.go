//go:build !slim

package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglet/loglet/hub"
	"github.com/loglet/loglet/hub/console"
	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/settings"
)

func hubCommand() *cobra.Command {
	var (
		listen, dataDir, maxBytes string
		consoleAddr, consoleToken string
		maxAge                    time.Duration
		o                         hub.Options
	)
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the embedded log hub (NATS JetStream, stored on disk)",
		Long: `Run the embedded log hub: a NATS server with JetStream storing the LOGLET
stream on disk. Agents ship to the URL it prints; loglet logs reads from it.
The same stream layout works on an external NATS cluster.

Several hubs form a JetStream cluster: give each the same --cluster-name,
its own --name, a --cluster-listen address and the others' --routes; with
--replicas 3 every record is stored on three members, and the stream goes
on (a new leader is elected) while one of them is down. Agents list the
members in their sink: nats://hub-0:4222,hub-1:4222,hub-2:4222/LOGLET.`,
		Example: `  loglet hub --listen 0.0.0.0:4222 --name hub-0 --data-dir /data \
    --cluster-name loglet --cluster-listen 0.0.0.0:6222 \
    --routes nats://hub-1:6222,nats://hub-2:6222 --replicas 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			limit, err := settings.ParseBytes(maxBytes)
			if err != nil {
				return fmt.Errorf("max-bytes %q: want a size like 10GiB", maxBytes)
			}
			o.Listen, o.DataDir, o.MaxAge, o.MaxBytes = listen, dataDir, maxAge, limit
			if o.Cluster.Name != "" {
				// A cluster's member says when routes come and go and
				// leaders change: what its operator looks for.
				log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
				o.Logf = func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) }
			}
			// The console's address and token are checked before the hub
			// starts: a console that cannot start is a hub that does not.
			var token string
			if consoleAddr != "" {
				if token, err = readToken(consoleToken); err != nil {
					return err
				}
				if consoleAddr, err = console.Addr(consoleAddr, token != ""); err != nil {
					return err
				}
			} else if consoleToken != "" {
				return fmt.Errorf("console-token-file %s given without --console ADDR", consoleToken)
			}
			h, err := hub.Start(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer h.Shutdown()
			fmt.Fprintf(cmd.OutOrStdout(), "hub ready: agents use --sink %s\n", h.SinkURL())
			if consoleAddr == "" {
				<-cmd.Context().Done()
				return nil
			}
			return serveConsole(cmd, h, consoleAddr, token)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:4222", "host:port to serve NATS on (port 0: any free port)")
	f.StringVar(&dataDir, "data-dir", "loglet-hub-data", "folder for the stream's files")
	f.DurationVar(&maxAge, "max-age", 24*time.Hour, "drop records older than this (0: keep)")
	f.StringVar(&maxBytes, "max-bytes", "10GiB", "drop the oldest records beyond this size (0: no limit)")
	f.StringVar(&o.Stream, "stream", "LOGLET", "the stream's name")
	f.StringVar(&o.Name, "name", "", "this server's name, distinct for each member of a cluster (default: the host name in a cluster)")
	f.IntVar(&o.Replicas, "replicas", 1, "members holding each record (1, or 3 in a cluster of three or more)")
	f.StringVar(&o.Cluster.Name, "cluster-name", "", "join a JetStream cluster of this name (every member gives the same)")
	f.StringVar(&o.Cluster.Listen, "cluster-listen", "", "host:port the other members' routes connect to, e.g. 0.0.0.0:6222")
	f.StringSliceVar(&o.Cluster.Routes, "routes", nil, "the members to connect to, e.g. nats://hub-1:6222,nats://hub-2:6222")
	f.StringVar(&o.Cluster.User, "cluster-user", "", "user the members authenticate their routes with")
	f.StringVar(&o.Cluster.PasswordFile, "cluster-password-file", "", "file holding the routes' password (with --cluster-user)")
	f.StringVar(&o.Auth.User, "user", "", "clients must connect as this user (nats://user:password@host:4222/LOGLET)")
	f.StringVar(&o.Auth.PasswordFile, "password-file", "", "file holding the clients' password (with --user)")
	f.StringVar(&o.Auth.NkeysFile, "nkeys-file", "", "file of public user nkeys (U…, one per line) clients may connect with")
	f.StringVar(&o.TLS.CertFile, "tls-cert", "", "serve clients and routes over TLS with this certificate (PEM)")
	f.StringVar(&o.TLS.KeyFile, "tls-key", "", "the certificate's key (PEM)")
	f.StringVar(&consoleAddr, "console", "", "serve the console (a web page and its JSON API) on this host:port; :port is 127.0.0.1:port (default: off)")
	f.StringVar(&consoleToken, "console-token-file", "", "file holding the token the console requires (bearer, or basic auth's password); needed to listen beyond 127.0.0.1")
	f.StringVar(&o.TLS.CAFile, "tls-ca", "", "CA the members' certificates are checked against on the routes (then each member's certificate must allow server and client use)")
	return cmd
}

// readToken reads the console's token from a file (empty path: none).
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("console-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < 16 {
		return "", fmt.Errorf("console-token-file %s: the token is %d characters; want at least 16 (e.g. head -c 32 /dev/urandom | base64)", path, len(token))
	}
	return token, nil
}

// serveConsole serves the console on addr, reading the hub in process
// (whatever TLS or credentials its clients need), until the command's
// context ends.
func serveConsole(cmd *cobra.Command, h *hub.Hub, addr, token string) error {
	// The URL names the stream; the connection is in process, so a TLS
	// hub's tls:// scheme does not apply to it.
	hubURL := h.SinkURL()
	if rest, ok := strings.CutPrefix(hubURL, "tls://"); ok {
		hubURL = "nats://" + rest
	}
	r, err := query.Open(cmd.Context(), hubURL, h.Local()...)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	defer r.Close()
	srv, err := console.New(console.Options{Hub: r, Token: token})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	auth := "no token (loopback only)"
	if token != "" {
		auth = "token required"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "console ready: http://%s/ (%s)\n", l.Addr(), auth)
	return srv.Serve(cmd.Context(), l)
}
