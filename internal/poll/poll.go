// Package poll waits in tests for a condition another process or goroutine
// brings about: progress is observed (files, metrics, API objects), not
// awaited, so the test checks the condition until a deadline.
package poll

import (
	"net/http"
	"testing"
	"time"
)

// Until checks cond every 20 ms until it holds, and fails the test naming
// what it waited for if within passes first.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// OK waits until a GET of url answers 200 OK (a /readyz).
func OK(t testing.TB, within time.Duration, what, url string) {
	t.Helper()
	Until(t, within, what, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
