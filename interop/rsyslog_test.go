//go:build interop

package interop

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/internal/freeport"
	"github.com/loglet/loglet/internal/poll"
)

// TestRsyslogForwards: util-linux logger hands two messages (RFC 5424 with
// structured data, and RFC 3164) to an rsyslogd of the test's own (imtcp
// on loopback; no imuxsock, so the host's /dev/log is left alone), which
// forwards each with omfwd twice: over TCP with octet counting in the RFC
// 5424 template RSYSLOG_SyslogProtocol23Format, and over UDP in its
// traditional RFC 3164 format. Every message arrives once on each of the
// agent's two syslog inputs with its hostname, app name, proc id,
// facility and severity, and over TCP with its message id and structured
// data (issue 20, must show 1).
func TestRsyslogForwards(t *testing.T) {
	rsyslogd := client(t, "RSYSLOGD", "hack/rsyslog.sh")
	if _, err := exec.LookPath("logger"); err != nil {
		t.Fatal("logger (util-linux) is needed to hand messages to rsyslog")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	a := startAgent(t, `{"sink":"file://`+out+`","state-dir":"`+filepath.Join(dir, "state")+`","inputs":[
		{"name":"rsyslog-tcp","syslog":{"listen":"tcp://127.0.0.1:0"}},
		{"name":"rsyslog-udp","syslog":{"listen":"udp://127.0.0.1:0"}}]}`)
	addrs := a.listening(t, 2)
	tcpHost, tcpPort, _ := net.SplitHostPort(addrs["rsyslog-tcp"])
	udpHost, udpPort, _ := net.SplitHostPort(addrs["rsyslog-udp"])

	in := freeport.Addr(t)
	inHost, inPort, _ := net.SplitHostPort(in)
	work := filepath.Join(dir, "rsyslog")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "rsyslog.conf")
	// Messages from imtcp go to a ruleset of their own, so rsyslogd's own
	// start-up messages are not forwarded. rsyslog's RFC 3164 parser
	// leaves the space after the tag at the start of msg, which the RFC
	// 5424 template would send as part of MSG (" job ran"); mmrm1stspace
	// is rsyslog's own remedy. The actions retry for ever, as a
	// forwarding rsyslog is set up to.
	writeFile(t, conf, `global(workDirectory="`+work+`")
module(load="imtcp")
module(load="mmrm1stspace")
input(type="imtcp" address="`+inHost+`" port="`+inPort+`" ruleset="forward")
ruleset(name="forward") {
	action(type="mmrm1stspace")
	action(type="omfwd" target="`+tcpHost+`" port="`+tcpPort+`" protocol="tcp" TCP_Framing="octet-counted"
		template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1")
	action(type="omfwd" target="`+udpHost+`" port="`+udpPort+`" protocol="udp"
		template="RSYSLOG_TraditionalForwardFormat" action.resumeRetryCount="-1")
}
`)
	if out, err := exec.Command(rsyslogd, "-N1", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1 rejects the test's configuration: %v\n%s", err, out)
	}
	startProcess(t, "rsyslogd", nil, rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	poll.Until(t, 15*time.Second, "rsyslogd to listen on "+in, func() bool {
		c, err := net.Dial("tcp", in)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	logger := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("logger", append([]string{"-T", "-n", inHost, "-P", inPort}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("logger %v: %v\n%s", args, err, out)
		}
	}
	logger("--rfc5424", "--octet-count", "--msgid", "ID47", "--sd-id", "order@32473", "--sd-param", `id="42"`,
		"--id=4711", "-t", "shop", "-p", "local4.err", "payment declined")
	logger("--rfc3164", "--id=99", "-t", "cron", "-p", "cron.info", "job ran")

	var recs []record
	poll.Until(t, 30*time.Second, "both messages on both inputs", func() bool { recs = readSink(t, out); return len(recs) >= 4 })
	type key struct{ input, body string }
	got := map[key][]record{}
	for _, r := range recs {
		k := key{r.Attributes["loglet.input"].(string), r.Body}
		got[k] = append(got[k], r)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		input, body, severity string
		attrs                 map[string]any
	}{
		{"rsyslog-tcp", "payment declined", "ERROR", map[string]any{"appname": "shop", "proc_id": "4711", "msg_id": "ID47",
			"facility": "local4", "structured_data.order@32473.id": "42"}},
		{"rsyslog-tcp", "job ran", "INFO", map[string]any{"appname": "cron", "proc_id": "99", "facility": "cron"}},
		// RFC 3164 has no message id or structured data: rsyslog's
		// traditional format leaves them out. For a message it took in
		// as RFC 5424 it writes the tag without a colon
		// ("shop[4711] payment declined"), as RFC 3164 4.1.3 allows: a
		// character not alphanumeric ends the TAG.
		{"rsyslog-udp", "payment declined", "ERROR", map[string]any{"appname": "shop", "proc_id": "4711", "facility": "local4"}},
		{"rsyslog-udp", "job ran", "INFO", map[string]any{"appname": "cron", "proc_id": "99", "facility": "cron"}},
	}
	for _, tt := range tests {
		rs := got[key{tt.input, tt.body}]
		if len(rs) != 1 {
			var on []record
			for _, r := range recs {
				if r.Attributes["loglet.input"] == tt.input {
					on = append(on, r)
				}
			}
			t.Errorf("%s: %d records %q, want 1; the input's records: %+v", tt.input, len(rs), tt.body, on)
			continue
		}
		r := rs[0]
		if r.Severity != tt.severity || r.Time == "" {
			t.Errorf("%s %q: severity %q, time %q; want %s and the message's time", tt.input, tt.body, r.Severity, r.Time, tt.severity)
		}
		if h, _ := r.Attributes["hostname"].(string); h != host && !strings.HasPrefix(host, h+".") && !strings.HasPrefix(h, host+".") {
			t.Errorf("%s %q: hostname %v, want %s", tt.input, tt.body, r.Attributes["hostname"], host)
		}
		for k, v := range tt.attrs {
			if r.Attributes[k] != v {
				t.Errorf("%s %q: %s = %v, want %v (attributes %v)", tt.input, tt.body, k, r.Attributes[k], v, r.Attributes)
			}
		}
	}
	if len(recs) != 4 {
		t.Errorf("%d records, want 4 (two messages on two inputs): %+v", len(recs), recs)
	}
}
