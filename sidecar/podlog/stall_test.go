package podlog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/loglet/loglet/internal/poll"
	"github.com/loglet/loglet/sidecar/podapi"
)

// stallingAPI serves one running container's pods/log over real HTTP the
// way a kubelet whose follow stalled does: a follow stream serves what the
// log holds when it opens, then stays open and silent. The tests with the
// real API server and the kubelet fixture (apiserver_test.go) cover the
// rest; this one runs without them.
type stallingAPI struct {
	mu    sync.Mutex
	lines []string // "<time> <text>"
}

func (a *stallingAPI) add(texts ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range texts {
		a.lines = append(a.lines, time.Now().UTC().Format(time.RFC3339Nano)+" "+s)
	}
}

func (a *stallingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/v1/namespaces/ns/pods/p":
		pod := corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(pod)
	case "/api/v1/namespaces/ns/pods/p/log":
		q := r.URL.Query()
		var since time.Time
		if s := q.Get("sinceTime"); s != "" {
			since, _ = time.Parse(time.RFC3339Nano, s)
		}
		a.mu.Lock()
		lines := a.lines
		if q.Get("tailLines") == "1" && len(lines) > 0 {
			lines = lines[len(lines)-1:]
		}
		a.mu.Unlock()
		for _, l := range lines {
			if t, _ := lineTime([]byte(l)); !t.Before(since) {
				fmt.Fprintln(w, l)
			}
		}
		w.(http.Flusher).Flush()
		if q.Get("follow") == "true" {
			<-r.Context().Done() // open and silent
		}
	default:
		http.NotFound(w, r)
	}
}

// TestStalledFollowResumed: lines written while the follow stream is open
// but silent reach the spool, each once, and the stall is counted.
func TestStalledFollowResumed(t *testing.T) {
	api := &stallingAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	client, err := podapi.NewClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	streams, err := New(Options{Client: client, Namespace: "ns", Pod: "p", Containers: []string{"app"}, Dir: dir,
		Backoff: 10 * time.Millisecond, StallCheck: 20 * time.Millisecond, MaxStallCheck: 80 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- streams.Run(ctx) }()
	defer func() { cancel(); <-done }()

	spooled := func() []string {
		b, _ := os.ReadFile(filepath.Join(dir, "app", "api.log"))
		var texts []string
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if _, text, ok := strings.Cut(l, " "); ok {
				texts = append(texts, text)
			}
		}
		return texts
	}
	want := []string{}
	for round := range 3 {
		var batch []string
		for i := range 5 {
			batch = append(batch, fmt.Sprintf("round %d line %d", round, i))
		}
		api.add(batch...)
		want = append(want, batch...)
		poll.Until(t, 10*time.Second, fmt.Sprintf("round %d in the spool", round), func() bool { return len(spooled()) >= len(want) })
	}
	if got := spooled(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("spool holds %q, want %q", got, want)
	}
	if streams.Stalls() < 2 {
		t.Errorf("stalls counted: %v, want the 2 after the first round", streams.Stalls())
	}
	if streams.Gaps() != 0 {
		t.Errorf("gaps counted: %v, want none", streams.Gaps())
	}
}
