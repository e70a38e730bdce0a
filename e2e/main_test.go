package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// The binaries under test, built once for the run: the full loglet (the
// webhook) and the slim build the loglet image stands for (the sidecar).
var loglet, logletSlim string

func TestMain(m *testing.M) {
	// charts.Apply uses controller-runtime's client, which warns at length
	// when no logger is set.
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "loglet-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	loglet, logletSlim = filepath.Join(dir, "loglet"), filepath.Join(dir, "loglet-slim")
	for _, b := range []struct{ out, tags string }{{loglet, ""}, {logletSlim, "slim"}} {
		build := exec.Command("go", "build", "-tags", b.tags, "-o", b.out, "github.com/loglet/loglet/cmd/loglet")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build loglet:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	printReport(os.Stdout)
	os.RemoveAll(dir)
	os.Exit(code)
}
