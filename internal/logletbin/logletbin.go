// Package logletbin builds the loglet binary for the tests and benchmarks
// that run it as a user does: a process, its flags, its signals.
package logletbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build builds cmd/loglet as make build does (no cgo, trimmed paths,
// stripped) into dir/name and returns its path; tags "slim" builds the
// sidecar's command set, "" the full one.
func Build(dir, name, tags string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-tags", tags, "-ldflags", "-s -w", "-o", bin, "github.com/loglet/loglet/cmd/loglet")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build loglet (tags %q): %w\n%s", tags, err, out)
	}
	return bin, nil
}

// Main is a TestMain's body for tests that run the full binary: it builds
// it into a temporary folder, sets *bin to its path, runs the tests and
// removes the folder; its result is the exit code.
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "loglet-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(dir, "loglet", ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
