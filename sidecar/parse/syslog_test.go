package parse_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loglet/loglet/sidecar/parse"
)

const syslogErr = `syslog: not an RFC 3164 or RFC 5424 line (<PRI>Mmm dd hh:mm:ss host app[pid]: msg, Mmm dd hh:mm:ss host app[pid]: msg as in /var/log/syslog, or <PRI>1 <RFC 3339 time> host app procid msgid [sd-id name="value"] msg)`

const syslogSDErr = `syslog: RFC 5424 structured data is not - or [sd-id name="value" …] (escape " \ ] in values with \)`

// yearlessWant is what a yearless RFC 3164 stamp read now should become:
// the stamp in time.Local in the latest year that is not more than a day
// after now. It reads the stamp with time.ParseInLocation, apart from the
// parser's own reading.
func yearlessWant(t *testing.T, stamp string) string {
	t.Helper()
	now := time.Now()
	for y := now.Year() + 1; y > now.Year()-8; y-- {
		ts, err := time.ParseInLocation("2006 "+time.Stamp, fmt.Sprintf("%d %s", y, stamp), time.Local)
		if err != nil {
			continue // Feb 29 of a common year
		}
		if !ts.After(now.Add(24 * time.Hour)) {
			return ts.UTC().Format(time.RFC3339Nano)
		}
	}
	t.Fatalf("no year for %q", stamp)
	return ""
}

func TestSyslog(t *testing.T) {
	cfg := parse.Config{Format: "syslog"}
	// The examples of RFC 5424 section 6.5, the BOM included.
	const bom = "\xef\xbb\xbf"
	rfc5424 := []string{
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " + bom + "'su root' failed for lonvick on /dev/pts/8",
		"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ` + bom + "An application event log entry...",
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
	}
	check(t, []tcase{
		{"rfc 5424 examples", strings.Join(rfc5424, "\n") + "\n", cfg, []rec{
			{Body: "'su root' failed for lonvick on /dev/pts/8", Severity: "FATAL", Time: "2003-10-11T22:14:15.003Z",
				Attrs: map[string]string{"facility": "auth", "priority": "34", "hostname": "mymachine.example.com", "appname": "su", "msg_id": "ID47"}},
			{Body: "%% It's time to make the do-nuts.", Severity: "INFO", Time: "2003-08-24T12:14:15.000003Z",
				Attrs: map[string]string{"facility": "local4", "priority": "165", "hostname": "192.0.2.1", "appname": "myproc", "proc_id": "8710"}},
			{Body: "An application event log entry...", Severity: "INFO", Time: "2003-10-11T22:14:15.003Z",
				Attrs: map[string]string{"facility": "local4", "priority": "165", "hostname": "mymachine.example.com", "appname": "evntslog", "msg_id": "ID47",
					"structured_data.exampleSDID@32473.iut": "3", "structured_data.exampleSDID@32473.eventSource": "Application", "structured_data.exampleSDID@32473.eventID": "1011"}},
			{Body: "", Severity: "INFO", Time: "2003-10-11T22:14:15.003Z",
				Attrs: map[string]string{"facility": "local4", "priority": "165", "hostname": "mymachine.example.com", "appname": "evntslog", "msg_id": "ID47",
					"structured_data.exampleSDID@32473.iut": "3", "structured_data.exampleSDID@32473.eventSource": "Application", "structured_data.exampleSDID@32473.eventID": "1011",
					"structured_data.examplePriority@32473.class": "high"}},
		}},
		{"rfc 5424 nil values, escapes, an element without params", `<15>1 - - - - - [origin][meta x="a \"q\" \] \\ \n"] debug line` + "\n" +
			"<191>1 2026-12-01T10:00:01+01:00 h a p m -\n", cfg, []rec{
			{Body: "debug line", Severity: "DEBUG",
				Attrs: map[string]string{"facility": "user", "priority": "15", "structured_data.origin": "true", "structured_data.meta.x": `a "q" ] \ \n`}},
			{Body: "", Severity: "DEBUG", Time: "2026-12-01T09:00:01Z",
				Attrs: map[string]string{"facility": "local7", "priority": "191", "hostname": "h", "appname": "a", "proc_id": "p", "msg_id": "m"}},
		}},
		{"rfc 3164 as sent", "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8\n" +
			"<13>Feb  5 17:32:18 10.0.0.99 myapp: Use the BFG!\n", cfg, []rec{
			{Body: "'su root' failed for lonvick on /dev/pts/8", Severity: "FATAL", Time: yearlessWant(t, "Oct 11 22:14:15"),
				Attrs: map[string]string{"facility": "auth", "priority": "34", "hostname": "mymachine", "appname": "su", "proc_id": "123"}},
			{Body: "Use the BFG!", Severity: "INFO", Time: yearlessWant(t, "Feb  5 17:32:18"),
				Attrs: map[string]string{"facility": "user", "priority": "13", "hostname": "10.0.0.99", "appname": "myapp"}},
		}},
		// rsyslog's omfwd forwards an RFC 5424 message in its default
		// RSYSLOG_TraditionalForwardFormat with the TAG "app[pid]" and no
		// colon; a word before a space is not a TAG without a pid.
		{"rfc 3164 tag without a colon", "<163>Dec  2 10:00:01 vm shop[4711] payment declined\n" +
			"<13>Dec  2 10:00:02 vm shop payment declined\n" +
			"<13>Dec  2 10:00:03 vm shop[] empty pid\n", cfg, []rec{
			{Body: "payment declined", Severity: "ERROR", Time: yearlessWant(t, "Dec  2 10:00:01"),
				Attrs: map[string]string{"facility": "local4", "priority": "163", "hostname": "vm", "appname": "shop", "proc_id": "4711"}},
			{Body: "shop payment declined", Severity: "INFO", Time: yearlessWant(t, "Dec  2 10:00:02"),
				Attrs: map[string]string{"facility": "user", "priority": "13", "hostname": "vm"}},
			{Body: "shop[] empty pid", Severity: "INFO", Time: yearlessWant(t, "Dec  2 10:00:03"),
				Attrs: map[string]string{"facility": "user", "priority": "13", "hostname": "vm"}},
		}},
		// /var/log/syslog as rsyslog writes it (RSYSLOG_TraditionalFileFormat
		// and RSYSLOG_FileFormat): no PRI, so the severity is the body's
		// level word, if any.
		{"rsyslog files", "Dec  1 10:00:01 host app[42]: msg\n" +
			"Dec  1 10:00:02 node-1 kernel: [    0.000000] Linux version 6.1.0-27-amd64\n" +
			"Dec  1 10:00:03 node-1 CRON[81234]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)\n" +
			"Dec  1 10:00:04 node-1 app: ERROR disk full\n" +
			"2026-12-01T10:00:01.123456+00:00 host app[42]: msg\n" +
			"2026-12-01T11:00:01.5+01:00 node-1 systemd[1]: Started session-3.scope - Session 3 of User ann.\n" +
			"Dec  1 10:00:05 node-1 a message without a tag\n", cfg, []rec{
			{Body: "msg", Time: yearlessWant(t, "Dec  1 10:00:01"), Attrs: map[string]string{"hostname": "host", "appname": "app", "proc_id": "42"}},
			{Body: "[    0.000000] Linux version 6.1.0-27-amd64", Time: yearlessWant(t, "Dec  1 10:00:02"), Attrs: map[string]string{"hostname": "node-1", "appname": "kernel"}},
			{Body: "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)", Time: yearlessWant(t, "Dec  1 10:00:03"),
				Attrs: map[string]string{"hostname": "node-1", "appname": "CRON", "proc_id": "81234"}},
			{Body: "ERROR disk full", Severity: "ERROR", Time: yearlessWant(t, "Dec  1 10:00:04"), Attrs: map[string]string{"hostname": "node-1", "appname": "app"}},
			{Body: "msg", Time: "2026-12-01T10:00:01.123456Z", Attrs: map[string]string{"hostname": "host", "appname": "app", "proc_id": "42"}},
			{Body: "Started session-3.scope - Session 3 of User ann.", Time: "2026-12-01T10:00:01.5Z", Attrs: map[string]string{"hostname": "node-1", "appname": "systemd", "proc_id": "1"}},
			{Body: "a message without a tag", Time: yearlessWant(t, "Dec  1 10:00:05"), Attrs: map[string]string{"hostname": "node-1"}},
		}},
		// systemd-journald's ForwardToSyslog= writes "<PRI>Mmm dd hh:mm:ss
		// identifier[pid]: message" (no host) to /run/systemd/journal/syslog;
		// ForwardToKMsg= writes "<PRI>identifier[pid]: message".
		{"journald forwarding", "<30>Dec  1 10:00:01 systemd[1]: Starting apt-daily.service...\n" +
			"<38>Dec  1 10:00:02 sshd[912]: Accepted publickey for ann from 192.0.2.7 port 50122 ssh2\n" +
			"<28>systemd-journald[210]: Under memory pressure, flushing caches.\n", cfg, []rec{
			{Body: "Starting apt-daily.service...", Severity: "INFO", Time: yearlessWant(t, "Dec  1 10:00:01"),
				Attrs: map[string]string{"facility": "daemon", "priority": "30", "appname": "systemd", "proc_id": "1"}},
			{Body: "Accepted publickey for ann from 192.0.2.7 port 50122 ssh2", Severity: "INFO", Time: yearlessWant(t, "Dec  1 10:00:02"),
				Attrs: map[string]string{"facility": "auth", "priority": "38", "appname": "sshd", "proc_id": "912"}},
			{Body: "Under memory pressure, flushing caches.", Severity: "WARN",
				Attrs: map[string]string{"facility": "daemon", "priority": "28", "appname": "systemd-journald", "proc_id": "210"}},
		}},
		{"not syslog: kept whole and marked", "plain text line\n\n<999>Oct 11 22:14:15 host app: x\nOct 32 22:14:15 host app: x\nFeb 30 10:00:00 host app: x\n" +
			"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [broken\n<165>1 yesterday host app - - - msg\n<165>1 2003-10-11T22:14:15.003Z host app - ID47\n" +
			"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a b=c] unquoted\n", cfg, []rec{
			{Body: "plain text line", Attrs: map[string]string{"loglet.parse_error": syslogErr}},
			{Body: "", Attrs: map[string]string{"loglet.parse_error": syslogErr}},
			{Body: "<999>Oct 11 22:14:15 host app: x", Attrs: map[string]string{"loglet.parse_error": syslogErr}},
			{Body: "Oct 32 22:14:15 host app: x", Attrs: map[string]string{"loglet.parse_error": syslogErr}},
			{Body: "Feb 30 10:00:00 host app: x", Attrs: map[string]string{"loglet.parse_error": syslogErr}},
			{Body: "<165>1 2003-10-11T22:14:15.003Z host app - ID47 [broken", Attrs: map[string]string{"loglet.parse_error": syslogSDErr}},
			{Body: "<165>1 yesterday host app - - - msg", Attrs: map[string]string{"loglet.parse_error": syslogErr}},
			{Body: "<165>1 2003-10-11T22:14:15.003Z host app - ID47", Attrs: map[string]string{"loglet.parse_error": syslogErr}},
			{Body: "<165>1 2003-10-11T22:14:15.003Z host app - ID47 [a b=c] unquoted", Attrs: map[string]string{"loglet.parse_error": syslogSDErr}},
		}},
		{"syslog inside cri keeps the container time when the line has none", criLines("2026-11-25T10:00:00Z", "stdout", "<11>app: failed") +
			criLines("2026-11-25T10:00:00Z", "stdout", "not syslog"),
			parse.Config{Container: "cri", Format: "syslog"}, []rec{
				{Body: "failed", Severity: "ERROR", Time: "2026-11-25T10:00:00Z", Stream: "stdout", Attrs: map[string]string{"facility": "user", "priority": "11", "appname": "app"}},
				{Body: "not syslog", Time: "2026-11-25T10:00:00Z", Stream: "stdout", Attrs: map[string]string{"loglet.parse_error": syslogErr}},
			}},
	})
}

// TestSyslogFromLogger parses lines that logger(1) of util-linux writes,
// in both formats, with their fields checked against what was asked of it.
func TestSyslogFromLogger(t *testing.T) {
	if _, err := exec.LookPath("logger"); err != nil {
		t.Skipf("logger(1) is not installed (util-linux): %v", err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want rec // Time is checked against the clock, not here
		// shortHost: RFC 3164 lines carry the host name up to its first dot.
		shortHost bool
	}{
		{"rfc5424", []string{"--rfc5424", "-t", "myapp", "-p", "local4.warning", "--msgid", "ID47", "--sd-id", "exampleSDID@32473", "--sd-param", `iut="3"`, "--sd-param", `eventSource="App \"x\""`, "disk almost full"},
			rec{Body: "disk almost full", Severity: "WARN", Attrs: map[string]string{"facility": "local4", "priority": "164", "appname": "myapp", "msg_id": "ID47",
				"structured_data.exampleSDID@32473.iut": "3", "structured_data.exampleSDID@32473.eventSource": `App "x"`,
				"structured_data.timeQuality.tzKnown": "1", "structured_data.timeQuality.isSynced": "*"}}, false},
		{"rfc5424 with pid", []string{"--rfc5424", "-i", "-t", "worker", "-p", "daemon.debug", "tick"},
			rec{Body: "tick", Severity: "DEBUG", Attrs: map[string]string{"facility": "daemon", "priority": "31", "appname": "worker", "proc_id": "PID",
				"structured_data.timeQuality.tzKnown": "1", "structured_data.timeQuality.isSynced": "*"}}, false},
		{"rfc3164", []string{"--rfc3164", "-i", "-t", "su", "-p", "auth.crit", "'su root' failed for lonvick on /dev/pts/8"},
			rec{Body: "'su root' failed for lonvick on /dev/pts/8", Severity: "FATAL", Attrs: map[string]string{"facility": "auth", "priority": "34", "appname": "su", "proc_id": "PID"}}, true},
		// logger sends kern as user (only the kernel logs as kern).
		{"rfc3164 emerg", []string{"--rfc3164", "-t", "kernel", "-p", "local0.emerg", "panic"},
			rec{Body: "panic", Severity: "FATAL", Attrs: map[string]string{"facility": "local0", "priority": "128", "appname": "kernel"}}, true},
		{"rfc3164 notice without a tag's pid", []string{"--rfc3164", "-t", "backup", "-p", "user.notice", "done: 3 files"},
			rec{Body: "done: 3 files", Severity: "INFO", Attrs: map[string]string{"facility": "user", "priority": "13", "appname": "backup"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// --no-act with --stderr writes the line logger would send,
			// and sends nothing.
			cmd := exec.Command("logger", append([]string{"--stderr", "--no-act", "--socket-errors=off"}, tc.args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			before := time.Now().Truncate(time.Second)
			if err := cmd.Run(); err != nil {
				t.Fatalf("logger: %v: %s", err, stderr.String())
			}
			after := time.Now()
			line := stderr.String()
			got := readRecords(t, line, parse.Config{Format: "syslog"}, 1<<20)
			if len(got) != 1 {
				t.Fatalf("logger wrote %q: got %d records, want 1:\n%s", line, len(got), dump(got))
			}
			r := got[0]
			want := tc.want
			want.Attrs = map[string]string{}
			for k, v := range tc.want.Attrs {
				want.Attrs[k] = v
			}
			want.Attrs["hostname"] = host
			if tc.shortHost {
				want.Attrs["hostname"], _, _ = strings.Cut(host, ".")
			}
			if want.Attrs["proc_id"] == "PID" {
				want.Attrs["proc_id"] = strconv.Itoa(cmd.Process.Pid)
			}
			for k, v := range want.Attrs {
				if v == "*" { // set by logger from the clock's state: any value
					want.Attrs[k] = r.Attrs[k]
				}
			}
			ts, err := time.Parse(time.RFC3339Nano, r.Time)
			if err != nil || ts.Before(before) || ts.After(after) {
				t.Errorf("logger wrote %q: time %q, want one between %s and %s", line, r.Time, before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
			}
			want.Time = r.Time
			if msg := diff(r, want); msg != "" {
				t.Errorf("logger wrote %q: %s", line, msg)
			}
		})
	}
}
