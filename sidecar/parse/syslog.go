package parse

import (
	"bytes"
	"time"

	"github.com/loglet/loglet/sidecar/record"
)

// syslogParser reads syslog lines as daemons send them and as rsyslog and
// syslog-ng write them to files:
//
//	RFC 5424:  <165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] An application event
//	RFC 3164:  <34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8
//	files:     Dec  1 10:00:01 host app[42]: msg               (rsyslog's default file format, no <PRI>)
//	           2026-12-01T10:00:01.123456+00:00 host app[42]: msg   (rsyslog's high-precision format)
//	journald:  <30>Dec  1 10:00:01 app[42]: msg                (ForwardToSyslog: no host)
//
// The body is the MSG part (an RFC 5424 BOM dropped). The attributes are
// named as the OpenTelemetry Collector's syslog parser names them, so that
// queries written for it work on loglet's records:
//
//	hostname, appname, proc_id, msg_id   the header fields; absent when NILVALUE (-) or not in the line
//	facility                             its keyword: kern, user, mail, daemon, auth, syslog, lpr, news,
//	                                     uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0…local7
//	priority                             the PRI number (facility×8 + severity), which keeps the exact
//	                                     syslog severity the record severity folds together
//	structured_data.<SD-ID>.<PARAM-NAME> each SD-PARAM, unescaped; an SD-ELEMENT without params gives
//	                                     structured_data.<SD-ID> = true
//
// The record severity comes from PRI: emerg, alert, crit → FATAL; err →
// ERROR; warning → WARN; notice, info → INFO; debug → DEBUG. A line without
// PRI (a file) gets its severity from a leading level word of MSG, as raw
// lines do.
//
// The event time: RFC 5424 and RFC 3339 stamps carry their zone. An RFC
// 3164 stamp (Oct 11 22:14:15) has neither year nor zone: it is read in the
// agent's local time zone (time.Local, from TZ or /etc/localtime), since
// the daemon writing the file wrote its own local time, and takes the year
// that puts it nearest to the time the line was read without being more
// than a day after it (a day of slack for clocks and zones that disagree):
// a line stamped Dec 31 23:59:59 read on Jan 1 is from the old year, and a
// file read long after it was written gets the latest year that fits.
//
// Hand-written, like the nginx parser: it runs for every line, and keeps
// what it finds as references into the line.
type syslogParser struct {
	err, errSD                          int
	hostname, appname, procID, msgID    int
	facility, priority, sdPrefix, true_ int
	facilities                          [24]int
	// loc is the zone of stamps written without one: time.Local (tests
	// set another).
	loc     *time.Location
	rfc3339 secondCache
	stamps  stampCache
}

// newSyslogParser adds the parser's keys and messages to s; each stage
// gets its own copy, as its time caches are per source.
func newSyslogParser(s *Spec) syslogParser {
	sp := syslogParser{
		err:      s.addString("syslog: not an RFC 3164 or RFC 5424 line (<PRI>Mmm dd hh:mm:ss host app[pid]: msg, Mmm dd hh:mm:ss host app[pid]: msg as in /var/log/syslog, or <PRI>1 <RFC 3339 time> host app procid msgid [sd-id name=\"value\"] msg)"),
		errSD:    s.addString(`syslog: RFC 5424 structured data is not - or [sd-id name="value" …] (escape " \ ] in values with \)`),
		hostname: s.addString("hostname"),
		appname:  s.addString("appname"),
		procID:   s.addString("proc_id"),
		msgID:    s.addString("msg_id"),
		facility: s.addString("facility"),
		priority: s.addString("priority"),
		sdPrefix: s.addString("structured_data."),
		true_:    s.addString("true"),
		loc:      time.Local,
	}
	for i, name := range facilityNames {
		sp.facilities[i] = s.addString(name)
	}
	return sp
}

// facilityNames are the keywords of the facility codes 0–23 (RFC 5424
// table 1, named as syslog.conf and rsyslog name them).
var facilityNames = [24]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// syslogSeverity maps the syslog severity (PRI mod 8) to the record's.
var syslogSeverity = [8]record.Severity{
	record.SeverityFatal, // emerg
	record.SeverityFatal, // alert
	record.SeverityFatal, // crit
	record.SeverityError, // err
	record.SeverityWarn,  // warning
	record.SeverityInfo,  // notice
	record.SeverityInfo,  // info
	record.SeverityDebug, // debug
}

func (sp *syslogParser) parse(f *fields, b []byte) {
	pri, i := syslogPRI(b)
	if pri >= 0 && i < len(b) && b[i] >= '1' && b[i] <= '9' {
		// A version: "<PRI>1 " is RFC 5424, where an RFC 3339 stamp
		// ("<PRI>2026-…") has a dash after four digits.
		j := i + 1
		for j < len(b) && j < i+3 && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j < len(b) && b[j] == ' ' {
			sp.parse5424(f, b, pri, i, j+1)
			return
		}
	}
	sp.parse3164(f, b, pri, i)
}

// syslogPRI reads "<PRI>" (0–191, no leading zeros but "<0>") at the start
// of b: it returns -1 and 0 when there is none.
func syslogPRI(b []byte) (pri, next int) {
	if len(b) < 3 || b[0] != '<' {
		return -1, 0
	}
	pri = 0
	i := 1
	for ; i < len(b) && i <= 4 && b[i] >= '0' && b[i] <= '9'; i++ {
		pri = pri*10 + int(b[i]-'0')
	}
	digits := i - 1
	if digits == 0 || digits > 3 || i >= len(b) || b[i] != '>' || pri > 191 || (digits > 1 && b[1] == '0') {
		return -1, 0
	}
	return pri, i + 1
}

// addPRI sets the severity and adds facility and priority.
func (sp *syslogParser) addPRI(f *fields, pri, end int) {
	f.entry.Severity = syslogSeverity[pri%8]
	f.levelField = true
	f.add(record.StringRef(sp.facility), record.StringRef(sp.facilities[pri/8]), false)
	f.add(record.StringRef(sp.priority), f.sub(1, end-1), true)
}

// parse5424 reads an RFC 5424 line from its TIMESTAMP at b[i] (its PRI
// ends before b[priEnd]):
// TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG].
func (sp *syslogParser) parse5424(f *fields, b []byte, pri, priEnd, i int) {
	var tok [5][2]int // timestamp, hostname, app-name, procid, msgid
	for k := range tok {
		j := bytes.IndexByte(b[i:], ' ')
		if j <= 0 {
			f.fail(sp.err)
			return
		}
		tok[k] = [2]int{i, i + j}
		i += j + 1
	}
	if ts := b[tok[0][0]:tok[0][1]]; !isNil(ts) {
		t, ok := sp.rfc3339.parse(ts)
		if !ok {
			f.fail(sp.err)
			return
		}
		f.entry.Time = t
	}
	sp.addPRI(f, pri, priEnd)
	for k, key := range [4]int{sp.hostname, sp.appname, sp.procID, sp.msgID} {
		s, e := tok[k+1][0], tok[k+1][1]
		if !isNil(b[s:e]) {
			f.add(record.StringRef(key), f.sub(s, e), false)
		}
	}
	// STRUCTURED-DATA: "-" or one or more [SD-ID *(SP PARAM="VALUE")].
	switch {
	case i < len(b) && b[i] == '-':
		i++
	case i < len(b) && b[i] == '[':
		var ok bool
		if i, ok = sp.structuredData(f, b, i); !ok {
			f.fail(sp.errSD)
			return
		}
	default:
		f.fail(sp.errSD)
		return
	}
	switch {
	case i == len(b):
		f.body = f.sub(i, i)
	case b[i] == ' ':
		i++
		if bytes.HasPrefix(b[i:], []byte("\xef\xbb\xbf")) {
			i += 3 // the BOM that says MSG is UTF-8
		}
		f.body = f.sub(i, len(b))
	default:
		f.fail(sp.errSD)
	}
}

func isNil(b []byte) bool { return len(b) == 1 && b[0] == '-' }

// structuredData reads SD-ELEMENTs from b[i] (a '[') into attributes and
// returns the index after the last one.
func (sp *syslogParser) structuredData(f *fields, b []byte, i int) (int, bool) {
	for i < len(b) && b[i] == '[' {
		i++
		s := i
		for i < len(b) && sdNameByte(b[i]) {
			i++
		}
		if i == s || i >= len(b) {
			return 0, false
		}
		id := f.sub(s, i)
		params := 0
		for b[i] == ' ' {
			i++
			ns := i
			for i < len(b) && sdNameByte(b[i]) {
				i++
			}
			if i == ns || i+1 >= len(b) || b[i] != '=' || b[i+1] != '"' {
				return 0, false
			}
			ne := i
			i += 2
			vs, escaped := i, false
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' && i+1 < len(b) {
					escaped = true
					i++
				}
				i++
			}
			if i >= len(b) {
				return 0, false
			}
			val := f.sub(vs, i)
			if escaped {
				val = sdUnescape(f, b[vs:i])
			}
			i++ // the closing quote
			f.add(sp.sdKey(f, id, f.sub(ns, ne)), val, false)
			params++
			if i >= len(b) {
				return 0, false
			}
		}
		if b[i] != ']' {
			return 0, false
		}
		i++
		if params == 0 {
			f.add(sp.sdKey(f, id, record.Ref{}), record.StringRef(sp.true_), true)
		}
	}
	return i, true
}

// sdNameByte reports whether c may be in an SD-NAME: printable US-ASCII
// but '=', space, ']' and '"'.
func sdNameByte(c byte) bool {
	return c > ' ' && c < 0x7f && c != '=' && c != ']' && c != '"'
}

// sdKey writes "structured_data.<id>[.<param>]" into Extra.
func (sp *syslogParser) sdKey(f *fields, id, param record.Ref) record.Ref {
	start := len(f.p.Extra)
	f.p.Extra = append(f.p.Extra, f.p.Strings[sp.sdPrefix]...)
	f.p.Extra = append(f.p.Extra, f.p.Bytes(id)...)
	if param.Len > 0 {
		f.p.Extra = append(f.p.Extra, '.')
		f.p.Extra = append(f.p.Extra, f.p.Bytes(param)...)
	}
	return record.ExtraRef(start, len(f.p.Extra))
}

// sdUnescape copies a PARAM-VALUE into Extra with its escapes \" \\ \]
// undone; a backslash before any other byte stays (RFC 5424 6.3.3).
func sdUnescape(f *fields, v []byte) record.Ref {
	start := len(f.p.Extra)
	for k := 0; k < len(v); k++ {
		if v[k] == '\\' && k+1 < len(v) && (v[k+1] == '"' || v[k+1] == '\\' || v[k+1] == ']') {
			k++
		}
		f.p.Extra = append(f.p.Extra, v[k])
	}
	return record.ExtraRef(start, len(f.p.Extra))
}

// parse3164 reads a BSD syslog line (with its PRI, pri ≥ 0, ending at
// b[i]) or a line of a syslog file: TIMESTAMP [HOSTNAME] TAG: MSG, the
// TIMESTAMP "Mmm dd hh:mm:ss" or RFC 3339.
func (sp *syslogParser) parse3164(f *fields, b []byte, pri, i int) {
	t, n, ok := sp.stamp3164(f, b[i:])
	if !ok {
		if pri < 0 {
			f.fail(sp.err)
			return
		}
		// RFC 3164 4.3.3: with a PRI but no valid TIMESTAMP, all after
		// the PRI is the content (journald's ForwardToKMsg, some
		// embedded devices).
		sp.addPRI(f, pri, i)
		sp.tag(f, b, i)
		return
	}
	f.entry.Time = t
	if pri >= 0 {
		sp.addPRI(f, pri, i)
	}
	i += n
	// HOSTNAME, unless the first word is already the TAG: local senders
	// (logger to /dev/log, journald's ForwardToSyslog) leave the host out.
	if j := bytes.IndexByte(b[i:], ' '); j > 0 && !isTag(b[i:i+j]) {
		f.add(record.StringRef(sp.hostname), f.sub(i, i+j), false)
		i += j + 1
	} else if j < 0 && i < len(b) {
		// The last word: a host with an empty message ("Dec  1 10:00:01 host").
		if !isTag(b[i:]) {
			f.add(record.StringRef(sp.hostname), f.sub(i, len(b)), false)
			f.body = f.sub(len(b), len(b))
			return
		}
	}
	sp.tag(f, b, i)
}

// isTag reports whether word ends a TAG: "app:" or "app[42]:".
func isTag(w []byte) bool {
	return len(w) > 1 && w[len(w)-1] == ':' && bytes.IndexByte(w, '[') != 0
}

// tag reads "app[pid]: " or "app: " at b[i] into appname and proc_id, and
// points the body at what follows; a line without a tag is all MSG.
func (sp *syslogParser) tag(f *fields, b []byte, i int) {
	s := i
	for i < len(b) && b[i] != ' ' && b[i] != ':' && b[i] != '[' {
		i++
	}
	ae := i
	ps, pe := -1, -1
	// RFC 3164 (4.1.3) ends the TAG at the first character that is not
	// alphanumeric, so "app[42] msg" has one without a colon: that is what
	// rsyslog's omfwd sends by default. A bracketed pid makes it a TAG;
	// without one a first word is not taken for one.
	bare := false
	if i < len(b) && b[i] == '[' && i > s {
		if j := bytes.IndexByte(b[i:], ']'); j > 1 && i+j+1 < len(b) && (b[i+j+1] == ':' || b[i+j+1] == ' ') {
			ps, pe = i+1, i+j
			i += j + 1
			bare = b[i] == ' '
		}
	}
	if i == s || i >= len(b) || (b[i] != ':' && !bare) {
		f.body = f.sub(s, len(b)) // no TAG: the content is all MSG
		return
	}
	f.add(record.StringRef(sp.appname), f.sub(s, ae), false)
	if ps >= 0 {
		f.add(record.StringRef(sp.procID), f.sub(ps, pe), false)
	}
	if !bare {
		i++ // the colon
	}
	if i < len(b) && b[i] == ' ' {
		i++
	}
	f.body = f.sub(i, len(b))
}

// stamp3164 reads the timestamp at the start of b and the space after it:
// "Mmm dd hh:mm:ss" (day space-padded or not, an optional fraction) or an
// RFC 3339 time. It returns the time and the bytes it used.
func (sp *syslogParser) stamp3164(f *fields, b []byte) (int64, int, bool) {
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		j := bytes.IndexByte(b, ' ')
		if j < 0 {
			j = len(b)
		}
		t, ok := sp.rfc3339.parse(b[:j])
		if !ok {
			return 0, 0, false
		}
		return t, min(j+1, len(b)), true
	}
	if len(b) < 14 || b[3] != ' ' {
		return 0, 0, false
	}
	month := monthOf(b[:3])
	i := 4
	if b[i] == ' ' {
		i++
	}
	day := 0
	for s := i; i < len(b) && i < s+2 && b[i] >= '0' && b[i] <= '9'; i++ {
		day = day*10 + int(b[i]-'0')
	}
	if month == 0 || day < 1 || day > 31 || i+9 > len(b) || b[i] != ' ' || b[i+3] != ':' || b[i+6] != ':' {
		return 0, 0, false
	}
	hour, minute, sec := digits2(b[i+1:]), digits2(b[i+4:]), digits2(b[i+7:])
	if hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 60 {
		return 0, 0, false
	}
	i += 9
	key := b[:i] // "Mmm dd hh:mm:ss": what the year depends on
	var nanos int64
	if i < len(b) && b[i] == '.' {
		s := i + 1
		for i = s; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if i-s < 9 {
				nanos = nanos*10 + int64(b[i]-'0')
			}
		}
		if i == s {
			return 0, 0, false
		}
		for k := i - s; k < 9; k++ {
			nanos *= 10
		}
	}
	if i < len(b) && b[i] != ' ' {
		return 0, 0, false
	}
	read := f.readTime()
	secs, ok := sp.stamps.seconds(key, read, sp.loc, time.Month(month), day, hour, minute, sec)
	if !ok {
		return 0, 0, false // a day no year has (Feb 30)
	}
	return secs*1e9 + nanos, min(i+1, len(b)), true
}

// monthOf returns 1–12 for "Jan"…"Dec", else 0.
func monthOf(b []byte) int {
	switch string(b) {
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return 0
}

// stampCache remembers the last yearless stamp's time and the read times
// for which it holds: neighbouring lines mostly share their second, and
// time.Date in a zone costs more than the rest of the line.
type stampCache struct {
	key         [15]byte // "Mmm dd hh:mm:ss", as written
	n           int
	secs        int64
	from, until int64 // read times (Unix ns) the answer holds for
}

func (c *stampCache) seconds(key []byte, read int64, loc *time.Location, month time.Month, day, hour, minute, sec int) (int64, bool) {
	if c.n > 0 && string(key) == string(c.key[:c.n]) && read >= c.from && read < c.until {
		return c.secs, true
	}
	t, next, ok := yearless(read, loc, month, day, hour, minute, sec)
	if !ok {
		return 0, false
	}
	c.n = copy(c.key[:], key)
	c.secs, c.from, c.until = t.Unix(), read, next.UnixNano()-int64(24*time.Hour)
	return c.secs, true
}

// yearless gives a month, day and clock time in loc the year that puts it
// nearest to read (Unix ns) and not more than a day after it: the latest
// such year. next is the same time a year later, from when (less a day) a
// later read time may choose differently. False for a day no year of the
// last eight has (Feb 30).
func yearless(read int64, loc *time.Location, month time.Month, day, hour, minute, sec int) (t, next time.Time, ok bool) {
	r := time.Unix(0, read)
	limit := r.Add(24 * time.Hour)
	year := r.In(loc).Year()
	// Feb 29 may be four years back; nine years covers any calendar day.
	for y := year + 1; y >= year-8; y-- {
		t = time.Date(y, month, day, hour, minute, sec, 0, loc)
		if t.Month() != month || t.Day() != day {
			continue // Feb 29 in a common year: no such day
		}
		if !t.After(limit) {
			return t, time.Date(y+1, month, day, hour, minute, sec, 0, loc), true
		}
	}
	return time.Time{}, time.Time{}, false
}
