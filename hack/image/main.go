// Command image assembles loglet's container images without a container
// engine (make images). Each image is FROM scratch: the CA certificates, a
// non-root user (65532) and one binary as the entrypoint. One binary per
// platform (make images cross-compiles linux/amd64 and linux/arm64) gives
// one OCI image index, written as an OCI image layout archive (`skopeo copy
// oci-archive:`, `podman load`, `docker load`, `ctr images import` read it)
// with an SPDX 2.3 SBOM per platform beside it, and pushed as an index when
// a registry is given.
//
//	go run ./hack/image --name loglet-slim --binary bin/linux-amd64/loglet-slim --binary bin/linux-arm64/loglet-slim \
//		--out bin/loglet-slim.tar [--registry ghcr.io/loglet]
//
// writes bin/loglet-slim.tar, bin/loglet-slim.linux-amd64.spdx.json and
// bin/loglet-slim.linux-arm64.spdx.json.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// binaries is the repeatable --binary flag.
type binaries []string

func (b *binaries) String() string     { return strings.Join(*b, ",") }
func (b *binaries) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	var s Spec
	var out, registry, created, dockerArch string
	flag.Var((*binaries)(&s.Binaries), "binary", "the program for one platform (repeat it: one per platform; the platform is read from the binary)")
	flag.StringVar(&s.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA certificates")
	flag.StringVar(&s.Repository, "name", "", "image name without registry, e.g. loglet-slim")
	flag.StringVar(&s.Tag, "tag", "latest", "image tag")
	flag.StringVar(&s.Version, "version", "dev", "version label")
	flag.StringVar(&s.Revision, "revision", "", "source revision label")
	flag.StringVar(&created, "created", "", "creation time, RFC 3339 (default: the Unix epoch, so builds repeat)")
	flag.StringVar(&out, "out", "", "write the image index here, as an OCI image layout archive; the SBOMs go beside it")
	flag.StringVar(&dockerArch, "docker-arch", runtime.GOARCH, "the architecture whose image the archive's manifest.json names, for docker load without the containerd image store")
	flag.StringVar(&registry, "registry", "", "also push the index to this registry, e.g. ghcr.io/loglet")
	flag.Parse()
	if err := run(s, out, registry, created, dockerArch); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(s Spec, out, registry, created, dockerArch string) error {
	if len(s.Binaries) == 0 || s.Repository == "" || out == "" {
		return errors.New("--binary (one per platform), --name and --out are required")
	}
	s.Created = time.Unix(0, 0).UTC()
	if created != "" {
		t, err := time.Parse(time.RFC3339, created)
		if err != nil {
			return fmt.Errorf("--created %q: %w", created, err)
		}
		s.Created = t
	}
	idx, err := Build(s)
	if err != nil {
		return err
	}
	local, err := name.NewTag("ghcr.io/loglet/" + s.Repository + ":" + s.Tag)
	if err != nil {
		return fmt.Errorf("--name %q, --tag %q: %w", s.Repository, s.Tag, err)
	}
	for _, p := range idx.Platforms {
		path := SBOMPath(out, p.Platform)
		if err := os.WriteFile(path, p.SBOM, 0o644); err != nil {
			return fmt.Errorf("SBOM: %w", err)
		}
	}
	if err := WriteArchive(out, local, idx, dockerArch, s.Created); err != nil {
		return err
	}
	digest, err := idx.Index.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s@%s\n", out, local, digest)
	for _, p := range idx.Platforms {
		size, err := uncompressed(p.Image)
		if err != nil {
			return err
		}
		fmt.Printf("  %s: %.1f MB uncompressed, SBOM %s\n", p.Platform, float64(size)/1e6, SBOMPath(out, p.Platform))
	}
	if registry == "" {
		return nil
	}
	ref, err := name.NewTag(registry + "/" + s.Repository + ":" + s.Tag)
	if err != nil {
		return fmt.Errorf("--registry %q: %w", registry, err)
	}
	if err := remote.WriteIndex(ref, idx.Index, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	fmt.Printf("pushed %s@%s\n", ref, digest)
	return nil
}
