package parse

import (
	"bytes"

	"github.com/loglet/loglet/sidecar/record"
)

// nginxParser reads nginx's combined and main access log formats:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// followed, in main, by "$http_x_forwarded_for", and in many setups by a
// request time (rt=0.123, request_time=0.123 or a bare number) or other
// key=value pairs. Hand-written: a regular expression costs ten times more.
type nginxParser struct {
	err                                                      int
	remoteAddr, remoteUser, timeLocal, method, path, proto   int
	request, status, bytesSent, referer, agent, forwardedFor int
	requestTime                                              int
}

func newNginxParser(s *Spec) nginxParser {
	return nginxParser{
		err:          s.addString(`nginx: not in the combined or main format ($remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent")`),
		remoteAddr:   s.addString("remote_addr"),
		remoteUser:   s.addString("remote_user"),
		timeLocal:    s.addString("time_local"),
		method:       s.addString("method"),
		path:         s.addString("path"),
		proto:        s.addString("protocol"),
		request:      s.addString("request"),
		status:       s.addString("status"),
		bytesSent:    s.addString("body_bytes_sent"),
		referer:      s.addString("http_referer"),
		agent:        s.addString("http_user_agent"),
		forwardedFor: s.addString("http_x_forwarded_for"),
		requestTime:  s.addString("request_time"),
	}
}

func (np nginxParser) parse(f *fields, b []byte) {
	i := 0
	// token reads up to the next space.
	token := func() (int, int, bool) {
		s := i
		j := bytes.IndexByte(b[i:], ' ')
		if j <= 0 {
			return 0, 0, false
		}
		i += j + 1
		return s, s + j, true
	}
	// delimited reads "…" or […] and the space after it, if any.
	delimited := func(open, close byte) (int, int, bool) {
		if i >= len(b) || b[i] != open {
			return 0, 0, false
		}
		j := bytes.IndexByte(b[i+1:], close)
		if j < 0 {
			return 0, 0, false
		}
		s, e := i+1, i+1+j
		i = e + 1
		if i < len(b) && b[i] == ' ' {
			i++
		}
		return s, e, true
	}
	add := func(key, s, e int) { f.add(record.StringRef(key), f.sub(s, e), false) }
	addNumber := func(key, s, e int) { f.add(record.StringRef(key), f.sub(s, e), isNumber(b[s:e])) }

	as, ae, ok1 := token()
	_, _, ok2 := token() // "-" (ident)
	us, ue, ok3 := token()
	ts, te, ok4 := delimited('[', ']')
	rs, re, ok5 := delimited('"', '"')
	ss, se, ok6 := token()
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || !isNumber(b[ss:se]) {
		f.fail(np.err)
		return
	}
	bs, be := i, len(b)
	if j := bytes.IndexByte(b[i:], ' '); j >= 0 {
		be = i + j
		i = be + 1
	} else {
		i = len(b)
	}
	add(np.remoteAddr, as, ae)
	if ue-us != 1 || b[us] != '-' {
		add(np.remoteUser, us, ue)
	}
	add(np.timeLocal, ts, te)
	req := b[rs:re]
	if m := bytes.IndexByte(req, ' '); m > 0 {
		p := bytes.LastIndexByte(req, ' ')
		add(np.method, rs, rs+m)
		if p > m {
			add(np.path, rs+m+1, rs+p)
			add(np.proto, rs+p+1, re)
		} else {
			add(np.path, rs+m+1, re)
		}
	} else {
		add(np.request, rs, re)
	}
	addNumber(np.status, ss, se)
	if be > bs {
		addNumber(np.bytesSent, bs, be)
	}
	if s, e, ok := delimited('"', '"'); ok {
		add(np.referer, s, e)
	}
	if s, e, ok := delimited('"', '"'); ok {
		add(np.agent, s, e)
	}
	// What follows varies by setup: "$http_x_forwarded_for", key=value
	// pairs, a bare request time.
	for i < len(b) {
		if b[i] == ' ' {
			i++
			continue
		}
		if s, e, ok := delimited('"', '"'); ok {
			if e-s != 1 || b[s] != '-' {
				add(np.forwardedFor, s, e)
			}
			continue
		}
		s := i
		for i < len(b) && b[i] != ' ' {
			i++
		}
		tok := b[s:i]
		if eq := bytes.IndexByte(tok, '='); eq > 0 {
			key, val := tok[:eq], tok[eq+1:]
			if string(key) == "rt" || string(key) == "request_time" {
				addNumber(np.requestTime, s+eq+1, i)
			} else {
				f.add(f.sub(s, s+eq), f.sub(s+eq+1, i), isNumber(val))
			}
		} else if isNumber(tok) {
			addNumber(np.requestTime, s, i)
		}
	}
}

// isNumber reports whether b is a plain decimal number (JSON-safe as is).
func isNumber(b []byte) bool {
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	dot := false
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0 && i < len(b)-1:
			dot = true
		default:
			return false
		}
	}
	return b[0] != '0' || len(b) == 1 || b[1] == '.'
}
