package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is one image: the same program built for one or more platforms.
type Spec struct {
	// Binaries are the program, one per platform; each becomes /loglet,
	// the entrypoint, of its platform's image. The platform is read from
	// the binary (its Go build information, checked against its ELF
	// header), so an image cannot claim an architecture it does not run on.
	Binaries []string
	// CACerts is a PEM bundle, installed at /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// Repository and Tag name the image (ghcr.io/loglet/loglet-slim, v0.1.0).
	Repository, Tag string
	// Version and Revision go into the OCI labels and annotations.
	Version, Revision string
	// Created is the image's creation time (the commit's, so builds repeat).
	Created time.Time
}

// Index is one image for every platform.
type Index struct {
	// Index is the OCI image index: one manifest per platform.
	Index v1.ImageIndex
	// Platforms are its images, in the order of Spec.Binaries.
	Platforms []Platform
}

// Platform is one platform's image and what it was built from.
type Platform struct {
	Platform v1.Platform
	Image    v1.Image
	// Info is the binary's Go build information, the SBOM's source.
	Info *debug.BuildInfo
	// SBOM is the binary's SPDX 2.3 document (JSON); the image's manifest
	// carries its digest as the annotation AnnotationSBOM.
	SBOM []byte
}

// AnnotationSBOM, on each platform's manifest (and its descriptor in the
// index), is the sha256 digest of that platform's SPDX document, the file
// make images writes beside the archive: it ties the file to the image.
const AnnotationSBOM = "io.loglet.sbom.spdx.digest"

// The user the image runs as, as distroless's "nonroot".
const uid = 65532

// elfMachine is the ELF machine of a GOARCH the images are built for.
func elfMachine(goarch string) (elf.Machine, bool) {
	switch goarch {
	case "amd64":
		return elf.EM_X86_64, true
	case "arm64":
		return elf.EM_AARCH64, true
	}
	return 0, false
}

// Build assembles one image per binary and the index holding them.
func Build(s Spec) (*Index, error) {
	certs, err := os.ReadFile(s.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (on Debian: apt-get install ca-certificates, or pass --ca-certs)", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var platforms []Platform
	seen := map[string]string{}
	for _, bin := range s.Binaries {
		p, err := buildPlatform(s, bin, certs)
		if err != nil {
			return nil, err
		}
		if other, ok := seen[p.Platform.String()]; ok {
			return nil, fmt.Errorf("%s and %s are both %s: pass one binary per platform", other, bin, p.Platform)
		}
		seen[p.Platform.String()] = bin
		platforms = append(platforms, p)
		pl := p.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: p.Image, Descriptor: v1.Descriptor{
			MediaType:   types.OCIManifestSchema1,
			Platform:    &pl,
			Annotations: map[string]string{AnnotationSBOM: sbomDigest(p.SBOM)},
		}})
	}
	idx = mutate.Annotations(idx, s.annotations()).(v1.ImageIndex)
	return &Index{Index: idx, Platforms: platforms}, nil
}

// annotations are the OCI annotations of the index and every manifest.
func (s Spec) annotations() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    s.Repository,
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.created":  s.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.source":   "https://github.com/loglet/loglet",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
}

func buildPlatform(s Spec, binary string, certs []byte) (Platform, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return Platform{}, fmt.Errorf("binary: %w (make images builds it; run it, or make build for this machine's)", err)
	}
	platform, info, err := platformOf(binary, bin)
	if err != nil {
		return Platform{}, err
	}
	sbom, err := SPDX(s, bin, info)
	if err != nil {
		return Platform{}, fmt.Errorf("%s: SBOM: %w", binary, err)
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
		return Platform{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return Platform{}, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), layer)
	if err != nil {
		return Platform{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return Platform{}, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = platform.Architecture, platform.OS
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
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return Platform{}, err
	}
	a := s.annotations()
	a[AnnotationSBOM] = sbomDigest(sbom)
	img = mutate.Annotations(img, a).(v1.Image)
	return Platform{Platform: platform, Image: img, Info: info, SBOM: sbom}, nil
}

// platformOf is the platform a Go binary was built for: GOOS and GOARCH
// from its build information, which must agree with its ELF header.
func platformOf(path string, bin []byte) (v1.Platform, *debug.BuildInfo, error) {
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return v1.Platform{}, nil, fmt.Errorf("%s: no Go build information: %w (is it a Go binary built with go build?)", path, err)
	}
	var p v1.Platform
	for _, s := range info.Settings {
		switch s.Key {
		case "GOOS":
			p.OS = s.Value
		case "GOARCH":
			p.Architecture = s.Value
		}
	}
	want, ok := elfMachine(p.Architecture)
	if p.OS != "linux" || !ok {
		return v1.Platform{}, nil, fmt.Errorf("%s is built for %s: the images are linux/amd64 and linux/arm64 (GOOS=linux GOARCH=amd64 or arm64)", path, p)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return v1.Platform{}, nil, fmt.Errorf("%s: its build information says %s but it is no ELF binary: %w", path, p, err)
	}
	if f.Machine != want {
		return v1.Platform{}, nil, fmt.Errorf("%s: its build information says %s but its ELF machine is %s, not %s", path, p, f.Machine, want)
	}
	return p, info, nil
}

// SBOMPath is where make images writes a platform's SBOM: beside the
// archive, bin/loglet-slim.tar → bin/loglet-slim.linux-arm64.spdx.json.
func SBOMPath(archive string, p v1.Platform) string {
	return strings.TrimSuffix(archive, ".tar") + "." + p.OS + "-" + p.Architecture + ".spdx.json"
}

func sbomDigest(sbom []byte) string {
	sum := sha256.Sum256(sbom)
	return "sha256:" + hex.EncodeToString(sum[:])
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
