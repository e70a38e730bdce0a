package hub

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Cluster makes the hub one member of a NATS JetStream cluster. The zero
// value is a hub on its own.
type Cluster struct {
	// Name of the cluster; every member gives the same. Empty: no cluster.
	Name string
	// Listen is host:port for the routes from the other members (6222 by
	// convention).
	Listen string
	// Routes are the other members, nats://host:6222 each (listing this
	// member too is harmless: the server knows itself and skips it).
	Routes []string
	// User and PasswordFile authenticate the routes: a member that does
	// not know them cannot join and take over streams.
	User         string
	PasswordFile string
}

// Auth is what a client (an agent, loglet logs) must show. The zero value
// lets anyone connect.
type Auth struct {
	// User and PasswordFile: one user with a password read from a file (a
	// mounted Secret), so it appears neither in flags nor in ps.
	User         string
	PasswordFile string
	// NkeysFile lists public user nkeys (U…), one per line; a client
	// connects by signing the server's nonce with the matching seed.
	NkeysFile string
}

// TLS serves clients and routes over TLS.
type TLS struct {
	// CertFile and KeyFile are the server's certificate (PEM); its names
	// must cover the address clients and members use.
	CertFile, KeyFile string
	// CAFile, when set, is the CA members' certificates are checked
	// against on the routes (each member presents its certificate to the
	// others), so only holders of a certificate from it can join. Each
	// member's certificate must then allow both server and client use.
	CAFile string
}

// readSecret reads a password file, without the trailing newline editors
// and `kubectl create secret --from-file` leave.
func readSecret(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s %s is empty: write the password into it", what, path)
	}
	return s, nil
}

// readNkeys reads public user nkeys, one per line; blank lines and lines
// starting with # are skipped.
func readNkeys(path string) ([]*server.NkeyUser, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nkeys file: %w", err)
	}
	return parseNkeys(path, b)
}

// parseNkeys parses the content b of the nkeys file path.
func parseNkeys(path string, b []byte) ([]*server.NkeyUser, error) {
	var users []*server.NkeyUser
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The server itself takes any string here, and a mistyped key
		// would only ever refuse its agent.
		if !nkeys.IsValidPublicUserKey(line) {
			return nil, fmt.Errorf("nkeys file %s line %d: %.12q… is not a public user nkey (56 characters starting with U; `nk -gen user -pubout` makes one)", path, i+1, line)
		}
		users = append(users, &server.NkeyUser{Nkey: line})
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("nkeys file %s holds no key: one public user nkey (U…) per line", path)
	}
	return users, nil
}

// hostPort splits host:port; port 0 means any free port.
func hostPort(what, hp string) (string, int, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: want host:port, e.g. 0.0.0.0:6222", what, hp)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port", what, hp)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	return host, p, nil
}

// apply sets the cluster, authentication and TLS options on so.
func (o Options) apply(so *server.Options) error {
	c := o.Cluster
	if c.Name == "" {
		if c.Listen != "" || len(c.Routes) > 0 {
			return errors.New("cluster: routes and a cluster listen address need a cluster name (--cluster-name)")
		}
	} else {
		if c.Listen == "" {
			return errors.New("cluster " + c.Name + ": give the address members reach this one on (--cluster-listen, e.g. 0.0.0.0:6222)")
		}
		host, port, err := hostPort("cluster listen", c.Listen)
		if err != nil {
			return err
		}
		so.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
		var routeUser *url.Userinfo
		if c.User != "" {
			pw, err := readSecret("cluster password file", c.PasswordFile)
			if err != nil {
				return err
			}
			so.Cluster.Username, so.Cluster.Password = c.User, pw
			routeUser = url.UserPassword(c.User, pw)
		} else if c.PasswordFile != "" {
			return errors.New("cluster password file given without a cluster user (--cluster-user)")
		}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "nats-route" && u.Scheme != "tls") {
				return fmt.Errorf("route %q: want nats://host:6222", r)
			}
			if u.User == nil {
				u.User = routeUser
			}
			so.Routes = append(so.Routes, u)
		}
	}

	a := o.Auth
	if a.User != "" {
		pw, err := readSecret("password file", a.PasswordFile)
		if err != nil {
			return err
		}
		so.Users = append(so.Users, &server.User{Username: a.User, Password: pw})
	} else if a.PasswordFile != "" {
		return errors.New("password file given without a user (--user)")
	}
	if a.NkeysFile != "" {
		users, err := readNkeys(a.NkeysFile)
		if err != nil {
			return err
		}
		so.Nkeys = users
	}

	t := o.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("tls: give both the certificate and its key (--tls-cert and --tls-key)")
	}
	if t.CertFile == "" {
		if t.CAFile != "" {
			return errors.New("tls: a CA (--tls-ca) needs the member's own certificate and key (--tls-cert, --tls-key)")
		}
		return nil
	}
	cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: t.CertFile, KeyFile: t.KeyFile})
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	so.TLSConfig, so.TLS = cfg, true
	so.TLSTimeout = 2
	if c.Name != "" && t.CAFile != "" {
		rcfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: t.CertFile, KeyFile: t.KeyFile, CaFile: t.CAFile, Verify: true})
		if err != nil {
			return fmt.Errorf("tls for routes: %w", err)
		}
		// A member is the client of the routes it dials and the server of
		// those it takes: it checks the others' certificates against the
		// CA both ways (GenTLSConfig fills only the server side).
		rcfg.RootCAs = rcfg.ClientCAs
		rcfg.MinVersion = tls.VersionTLS12
		so.Cluster.TLSConfig, so.Cluster.TLSTimeout = rcfg, 2
	}
	return nil
}

// logger hands the server's notices, warnings and errors to logf; debug
// and trace are off.
type logger func(format string, args ...any)

func (l logger) Noticef(format string, v ...any) { l("notice: "+format, v...) }
func (l logger) Warnf(format string, v ...any)   { l("warning: "+format, v...) }
func (l logger) Fatalf(format string, v ...any)  { l("fatal: "+format, v...) }
func (l logger) Errorf(format string, v ...any)  { l("error: "+format, v...) }
func (l logger) Debugf(format string, v ...any)  {}
func (l logger) Tracef(format string, v ...any)  {}
