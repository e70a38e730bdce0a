package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Annotations on the index.json entry that names the image: containerd
// (ctr images import, kind load, Docker with the containerd image store)
// takes the full name from the first, skopeo and podman the tag from the
// second, as buildx's oci exporter writes them.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// dockerManifest is one entry of a docker save archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes the index as an OCI image layout packed into one tar
// file, what skopeo calls an oci-archive: oci-layout, index.json with one
// entry (the image index, named ref) and blobs/sha256/. Beside them it puts
// a Docker manifest.json naming the dockerArch image, as docker save writes
// both since Docker 25: Docker's classic image store reads only
// manifest.json and loads that one platform; containerd, podman and skopeo
// read index.json (containerd ignores manifest.json when oci-layout is
// there) and get every platform. Entries are sorted and dated mtime, so the
// same binaries give the same archive.
func WriteArchive(out string, ref name.Tag, idx *Index, dockerArch string, mtime time.Time) error {
	dir, err := os.MkdirTemp(filepath.Dir(out), ".oci-layout-")
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout in %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx.Index, layout.WithAnnotations(map[string]string{
		annotationImageName: ref.Name(),
		annotationRefName:   ref.TagStr(),
	})); err != nil {
		return fmt.Errorf("OCI layout in %s: %w", dir, err)
	}
	docker, err := dockerManifestOf(ref, idx, dockerArch)
	if err != nil {
		return err
	}

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h.Size = fi.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(docker))})
	}
	if err == nil {
		_, err = tw.Write(docker)
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("archive %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

// dockerManifestOf is the manifest.json naming the dockerArch image as
// ref, its blobs where the OCI layout keeps them.
func dockerManifestOf(ref name.Tag, idx *Index, dockerArch string) ([]byte, error) {
	var have []string
	for _, p := range idx.Platforms {
		have = append(have, p.Platform.Architecture)
		if p.Platform.Architecture != dockerArch {
			continue
		}
		cfg, err := p.Image.ConfigName()
		if err != nil {
			return nil, err
		}
		layers, err := p.Image.Layers()
		if err != nil {
			return nil, err
		}
		m := dockerManifest{Config: blobPath(cfg.Hex), RepoTags: []string{ref.Name()}}
		for _, l := range layers {
			d, err := l.Digest()
			if err != nil {
				return nil, err
			}
			m.Layers = append(m.Layers, blobPath(d.Hex))
		}
		return json.Marshal([]dockerManifest{m})
	}
	return nil, fmt.Errorf("--docker-arch %s: the index has %s; pass one of them", dockerArch, strings.Join(have, ", "))
}

func blobPath(hex string) string { return "blobs/sha256/" + hex }
