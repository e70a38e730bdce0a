// Package tinydisk gives tests a real file system that really fills up:
// a tmpfs of a few bytes, mounted for one test.
package tinydisk

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes for the test and returns its folder.
// Mounting needs root; that is the only reason to skip, and as root a
// failed mount fails the test.
func Mount(t testing.TB, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tiny tmpfs (mount -t tmpfs -o size=...): run the tests as root (CI does)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("running as root, but mounting a %d-byte tmpfs on %s failed: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file into dir until its file system is full but for about
// free bytes, and returns the file's path: removing it frees the disk.
func Fill(t testing.TB, dir string, free int) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "filler")
	n := int(st.Bavail)*int(st.Bsize) - free
	if err := os.WriteFile(path, make([]byte, n), 0o600); err != nil {
		t.Fatalf("fill %s with %d bytes: %v", dir, n, err)
	}
	return path
}
