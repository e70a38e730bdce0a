// Package redact writes URLs that may carry credentials so that they can
// be logged and shown in errors.
package redact

import "net/url"

// URL is u without its secrets: the password of user:password@, and a
// lone user part, which NATS reads as a token (nats://TOKEN@hub:4222), so
// url.URL.Redacted would show it.
func URL(u *url.URL) string {
	if u == nil || u.User == nil {
		return u.Redacted()
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	c := *u
	c.User = url.User("xxxxx")
	return c.String()
}

// String is raw without its secrets; a raw that does not parse as a URL
// is not shown at all, as it may hold one anywhere.
func String(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return URL(u)
}
