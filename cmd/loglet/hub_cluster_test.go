//go:build !slim

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loglet/loglet/hub/query"
	"github.com/loglet/loglet/internal/poll"
)

// hubMember is one `loglet hub` process of a cluster, and how to start it
// again after a kill.
type hubMember struct {
	name    string
	client  string // host:port for clients
	args    []string
	proc    *agent
	stdout  *syncBuffer
	started int
}

func (m *hubMember) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(loglet, m.args...)
	m.stdout = &syncBuffer{}
	cmd.Stdout = m.stdout
	m.started++
	m.proc = startCommand(t, cmd, fmt.Sprintf("hub %s (run %d)", m.name, m.started))
}

// ready: the member serves clients and its stream is placed.
func (m *hubMember) ready() bool { return strings.Contains(m.stdout.String(), "hub ready") }

// loopbackPorts returns n loopback ports that were free a moment ago,
// below the kernel's ephemeral range (32768 and up), so an outgoing
// connection cannot take one between this check and the hub's listen.
func loopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		p := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	return ports
}

// startHubCluster starts three `loglet hub` processes forming a cluster
// with an R3 stream, and waits until each has its stream.
func startHubCluster(t *testing.T) []*hubMember {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "route-password")
	if err := os.WriteFile(pwFile, []byte("s3cret-routes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := loopbackPorts(t, 6)
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	var members []*hubMember
	for i := range 3 {
		m := &hubMember{name: fmt.Sprintf("hub-%d", i), client: fmt.Sprintf("127.0.0.1:%d", ports[i])}
		m.args = []string{"hub", "--name", m.name, "--listen", m.client, "--data-dir", filepath.Join(dir, m.name),
			"--cluster-name", "loglet-test", "--cluster-listen", fmt.Sprintf("127.0.0.1:%d", ports[3+i]),
			"--routes", strings.Join(routes, ","), "--cluster-user", "route", "--cluster-password-file", pwFile,
			"--replicas", "3", "--max-age", "0", "--max-bytes", "0"}
		m.start(t)
		members = append(members, m)
	}
	poll.Until(t, 30*time.Second, "three hubs to form a cluster and place the R3 stream", func() bool {
		for _, m := range members {
			if !m.ready() {
				return false
			}
		}
		return true
	})
	return members
}

// streamInfo asks one member about the stream (nil while it cannot say,
// e.g. during an election).
func streamInfo(addr string) *jetstream.StreamInfo {
	nc, err := nats.Connect("nats://"+addr, nats.NoReconnect(), nats.Timeout(time.Second))
	if err != nil {
		return nil
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "LOGLET")
	if err != nil {
		return nil
	}
	return s.CachedInfo()
}

// readStream reads every record of the stream through the member at
// addr, as loglet logs does (hub/query), failing on any message it skips.
func readStream(t *testing.T, addr string, each func(query.Record)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := query.Open(ctx, "nats://"+addr+"/LOGLET")
	if err != nil {
		t.Fatalf("read through %s: %v", addr, err)
	}
	defer r.Close()
	skipped := func(s query.Skipped) { t.Errorf("read through %s skipped %s", addr, s) }
	if err := r.Tail(ctx, query.Filter{}, query.Options{Skipped: skipped}, func(rec query.Record) error { each(rec); return nil }); err != nil {
		t.Fatalf("read through %s: %v", addr, err)
	}
}

// TestHubClusterLeaderKilled: three `loglet hub` processes hold an R3
// stream; an agent ships about 10 MB/s to it, listing all three members;
// the stream's leader is killed with SIGKILL mid-stream and started
// again. The same agent process goes on (another member is elected),
// nothing is lost, nothing is stored twice beyond the packages the agent
// sent again, the restarted member catches up, and `loglet logs` reads
// every record through a member that was not the leader.
func TestHubClusterLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("process test with kill -9 of a hub; runs in make test")
	}
	members := startHubCluster(t)
	var servers []string
	for _, m := range members {
		servers = append(servers, m.client)
	}
	sinkURL := "nats://" + strings.Join(servers, ",") + "/LOGLET"

	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := startAgent(t, "--path", dir+"/*.log", "--state-dir", filepath.Join(dir, "state"), "--sink", sinkURL, "--metrics-addr", "127.0.0.1:0")
	metrics := a.metricsAddr(t)

	// The app writes 10 MB/s: 250-byte lines, 40 KB every 4 ms (a pace,
	// not a synchronisation), 8 s in all. Random hex, so the stream
	// stores about half of it (S2), not the few percent padding would.
	const (
		lineBytes = 250
		perTick   = 160
		ticks     = 2000
		total     = perTick * ticks
	)
	rng := rand.New(rand.NewPCG(1, 2))
	hex := make([]byte, (lineBytes-len("line 00000000 ")-1)/2)
	written := make(chan error, 1)
	go func() {
		tick := time.NewTicker(4 * time.Millisecond)
		defer tick.Stop()
		buf := make([]byte, 0, perTick*lineBytes)
		for i := 0; i < ticks; i++ {
			<-tick.C
			buf = buf[:0]
			for j := range perTick {
				for k := range hex {
					hex[k] = byte(rng.Uint32())
				}
				buf = fmt.Appendf(buf, "line %08d %x\n", i*perTick+j, hex)
			}
			if _, err := f.Write(buf); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	start := time.Now()

	// Kill the stream's leader once a third of the lines are stored.
	var info *jetstream.StreamInfo
	poll.Until(t, 30*time.Second, "a third of the lines stored", func() bool {
		sent, _ := metric(t, metrics, "loglet_records_sent_total")
		if sent < total/3 {
			return false
		}
		info = streamInfo(members[0].client)
		return info != nil && info.Cluster != nil && info.Cluster.Leader != ""
	})
	var leader *hubMember
	var survivor string
	for _, m := range members {
		if m.name == info.Cluster.Leader {
			leader = m
		} else {
			survivor = m.client
		}
	}
	if leader == nil {
		t.Fatalf("the stream's leader %q is none of the members", info.Cluster.Leader)
	}
	sentAtKill, _ := metric(t, metrics, "loglet_packages_sent_total")
	killedAt := time.Now()
	leader.proc.cmd.Process.Signal(syscall.SIGKILL)
	<-leader.proc.done
	t.Logf("killed the leader %s after %s, %.1f MB stored (compressed), %d messages", leader.name, killedAt.Sub(start).Round(time.Millisecond), float64(info.State.Bytes)/1e6, info.State.Msgs)

	// Recovered: another member leads and the agent's packages are
	// acknowledged again. An agent connected to the killed leader sees its
	// connection drop, reconnects to another member and sends again at
	// once; one connected to another member hears nothing of the packages
	// the leader took with it and waits for their acks for the sink's
	// publish timeout (30 s) first.
	poll.Until(t, 60*time.Second, "a new leader storing the agent's packages", func() bool {
		i := streamInfo(survivor)
		sent, _ := metric(t, metrics, "loglet_packages_sent_total")
		return i != nil && i.Cluster != nil && i.Cluster.Leader != "" && i.Cluster.Leader != leader.name && sent > sentAtKill+5
	})
	recovered := time.Since(killedAt)

	leader.start(t)
	restartedAt := time.Now()
	poll.Until(t, 30*time.Second, "the restarted member to rejoin", leader.ready)

	if err := <-written; err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 60*time.Second, "every line acknowledged", func() bool {
		sent, _ := metric(t, metrics, "loglet_records_sent_total")
		return sent >= total
	})
	var caughtUp time.Duration
	poll.Until(t, 30*time.Second, "the restarted member to catch up", func() bool {
		i := streamInfo(leader.client)
		if i == nil || i.Cluster == nil {
			return false
		}
		for _, r := range i.Cluster.Replicas {
			if r.Name == leader.name && r.Current && r.Lag == 0 {
				caughtUp = time.Since(restartedAt)
				return true
			}
		}
		// It may lead again; then the others report on it.
		return i.Cluster.Leader == leader.name && len(i.Cluster.Replicas) == 2 && i.Cluster.Replicas[0].Current && i.Cluster.Replicas[1].Current
	})
	select {
	case <-a.done:
		t.Fatalf("the agent exited (%v); it should have reconnected", a.cmd.ProcessState)
	default:
	}

	// Read everything back through a member that was not the leader.
	seen := make([]int, total)
	dupPackages := map[string]bool{}
	readStream(t, survivor, func(rec query.Record) {
		n, err := strconv.Atoi(strings.Fields(rec.Body + " x")[1])
		if err != nil || n < 0 || n >= total {
			t.Fatalf("a record nobody wrote: %q", rec.Body)
		}
		seen[n]++
		if seen[n] > 1 {
			dupPackages[fmt.Sprintf("%s/%d", rec.SourceID(), rec.PackageID())] = true
		}
	})
	lost, dup := 0, 0
	for n, c := range seen {
		if c == 0 {
			if lost < 5 {
				t.Errorf("line %d is not stored", n)
			}
			lost++
		}
		dup += max(c-1, 0)
	}
	retried, _ := metric(t, metrics, "loglet_packages_retried_total")
	how := "the agent was connected to it: connection lost, reconnected to another member"
	if strings.Contains(a.stderr.String(), "timeout waiting for ack") {
		how = "the agent was connected to another member: waited out the publish timeout for the lost acks"
	}
	t.Logf("%d lines (%.0f MB) written, checked %s after the first: %d lost, %d stored twice (in %d packages); the agent sent %0.f packages again; "+
		"recovered %s after the kill (%s); the restarted member caught up %s after its start",
		total, float64(total*lineBytes)/1e6, time.Since(start).Round(time.Millisecond), lost, dup, len(dupPackages), retried,
		recovered.Round(time.Millisecond), how, caughtUp.Round(time.Millisecond))
	if lost > 0 {
		t.Errorf("%d of %d lines lost", lost, total)
	}
	if len(dupPackages) > int(retried) {
		t.Errorf("%d packages stored twice, but the agent sent only %.0f again", len(dupPackages), retried)
	}
}
