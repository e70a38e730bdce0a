// Command image assembles loglet's container images without a container
// engine (make images): FROM scratch, the CA certificates, a non-root user
// (65532) and one binary as the entrypoint, written as an image tarball
// (`docker load`, `podman load`, `crane push` read it) and pushed when a
// registry is given.
//
//	go run ./hack/image --binary bin/loglet-slim --name loglet-slim --out bin/loglet-slim.tar [--registry ghcr.io/loglet]
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is one image.
type Spec struct {
	// Binary is the program; it becomes /loglet, the entrypoint.
	Binary string
	// CACerts is a PEM bundle, installed at /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// Repository and Tag name the image (ghcr.io/loglet/loglet-slim, v0.1.0).
	Repository, Tag string
	// Version and Revision go into the OCI labels.
	Version, Revision string
	// Created is the image's creation time (the commit's, so builds repeat).
	Created time.Time
}

// The user the image runs as, as distroless's "nonroot".
const uid = 65532

// Build assembles the image.
func Build(s Spec) (v1.Image, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("binary: %w (run make build first)", err)
	}
	certs, err := os.ReadFile(s.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (on Debian: apt-get install ca-certificates, or pass --ca-certs)", err)
	}
	files := []file{
		{"etc/", nil, 0o755},
		{"etc/passwd", []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, uid)), 0o644},
		{"etc/group", []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid)), 0o644},
		{"etc/ssl/", nil, 0o755},
		{"etc/ssl/certs/", nil, 0o755},
		{"etc/ssl/certs/ca-certificates.crt", certs, 0o644},
		{"home/", nil, 0o755},
		{"home/nonroot/", nil, 0o700},
		{"tmp/", nil, 0o1777},
		{"loglet", bin, 0o755},
	}
	layerTar, err := tarOf(files, s.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = runtime.GOARCH, "linux"
	cfg.Created = v1.Time{Time: s.Created}
	cfg.Config.User = fmt.Sprintf("%d:%d", uid, uid)
	cfg.Config.Entrypoint = []string{"/loglet"}
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    s.Repository,
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.source":   "https://github.com/loglet/loglet",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	return mutate.ConfigFile(img, cfg)
}

type file struct {
	name string
	data []byte // nil: a folder
	mode int64
}

func tarOf(files []file, mtime time.Time) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(f.data)), Format: tar.FormatPAX}
		if f.data == nil {
			h.Typeflag = tar.TypeDir
		}
		if f.name == "home/nonroot/" {
			h.Uid, h.Gid = uid, uid
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return b.Bytes(), err
}

func main() {
	var s Spec
	var out, registry, created string
	flag.StringVar(&s.Binary, "binary", "", "the program")
	flag.StringVar(&s.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA certificates")
	flag.StringVar(&s.Repository, "name", "", "image name without registry, e.g. loglet-slim")
	flag.StringVar(&s.Tag, "tag", "latest", "image tag")
	flag.StringVar(&s.Version, "version", "dev", "version label")
	flag.StringVar(&s.Revision, "revision", "", "source revision label")
	flag.StringVar(&created, "created", "", "creation time, RFC 3339 (default: the Unix epoch, so builds repeat)")
	flag.StringVar(&out, "out", "", "write the image tarball here")
	flag.StringVar(&registry, "registry", "", "also push to this registry, e.g. ghcr.io/loglet")
	flag.Parse()
	if err := run(s, out, registry, created); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(s Spec, out, registry, created string) error {
	if s.Binary == "" || s.Repository == "" || out == "" {
		return errors.New("--binary, --name and --out are required")
	}
	if created != "" {
		t, err := time.Parse(time.RFC3339, created)
		if err != nil {
			return fmt.Errorf("--created %q: %w", created, err)
		}
		s.Created = t
	}
	img, err := Build(s)
	if err != nil {
		return err
	}
	local, err := name.NewTag("ghcr.io/loglet/" + s.Repository + ":" + s.Tag)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, local, img); err != nil {
		return err
	}
	size, err := uncompressed(img)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s, %.1f MB uncompressed\n", out, local, float64(size)/1e6)
	if registry == "" {
		return nil
	}
	ref, err := name.NewTag(registry + "/" + s.Repository + ":" + s.Tag)
	if err != nil {
		return fmt.Errorf("--registry %q: %w", registry, err)
	}
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	fmt.Println("pushed", ref)
	return nil
}

// uncompressed is the size of the image's file system.
func uncompressed(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, err
		}
		k, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}
