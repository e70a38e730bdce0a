// Package freeport finds loopback addresses for test servers.
package freeport

import (
	"net"
	"testing"
)

// Addr returns a loopback address whose port was free a moment ago.
func Addr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
