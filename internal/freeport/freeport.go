// Package freeport finds loopback addresses for test servers.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// Addr returns a loopback address whose port was free a moment ago. The
// port lies below the kernel's ephemeral range, so the local end of an
// outgoing connection cannot take it before the caller's server binds it
// (which a port the kernel chose for ":0" allows).
func Addr(t testing.TB) string {
	t.Helper()
	if lo := ephemeralStart(); lo > 2048 {
		for range 100 {
			port := lo/2 + rand.IntN(lo-lo/2)
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				continue
			}
			ln.Close()
			return ln.Addr().String()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ephemeralStart is the first port of the range the kernel gives outgoing
// connections (0 when unknown).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo int
	if _, err := fmt.Sscan(string(b), &lo); err != nil {
		return 0
	}
	return lo
}
