package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
)

// The SPDX 2.3 JSON document (https://spdx.github.io/spdx-spec/v2.3/),
// only the fields written here.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
	Comment  string   `json:"comment,omitempty"`
}

type spdxPackage struct {
	Name                  string            `json:"name"`
	SPDXID                string            `json:"SPDXID"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	PackageFileName       string            `json:"packageFileName,omitempty"`
	Supplier              string            `json:"supplier,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	LicenseConcluded      string            `json:"licenseConcluded"`
	LicenseDeclared       string            `json:"licenseDeclared"`
	CopyrightText         string            `json:"copyrightText"`
	Comment               string            `json:"comment,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

// SPDX is the SBOM of one binary, an SPDX 2.3 JSON document made from the
// binary's own Go build information (what go version -m prints), so it
// lists exactly what was linked: the main module (the application: the
// binary's SHA-256, the Go version and every build setting — GOOS, GOARCH,
// -tags, CGO_ENABLED, vcs.revision when stamped), the Go standard library
// and every dependency module with its version, its go.sum h1 hash as a
// SHA-256 checksum and a pkg:golang purl. It is dated s.Created, so the
// same binary gives the same document.
func SPDX(s Spec, bin []byte, info *debug.BuildInfo) ([]byte, error) {
	var goos, goarch string
	var settings []string
	revision := s.Revision
	for _, kv := range info.Settings {
		settings = append(settings, kv.Key+"="+kv.Value)
		switch kv.Key {
		case "GOOS":
			goos = kv.Value
		case "GOARCH":
			goarch = kv.Value
		case "vcs.revision":
			revision = kv.Value
		}
	}
	binSum := sha256.Sum256(bin)
	version := info.Main.Version
	if version == "" || version == "(devel)" {
		// Built with -buildvcs=false or outside a tagged module: the
		// version make build stamped (-X main.version) is the best name.
		version = s.Version
	}

	app := spdxPackage{
		Name:                  info.Main.Path,
		SPDXID:                "SPDXRef-Package-" + spdxIDPart(info.Main.Path),
		VersionInfo:           version,
		PackageFileName:       "loglet", // its name in the image, /loglet
		Supplier:              "Organization: loglet",
		DownloadLocation:      "git+https://github.com/loglet/loglet",
		Checksums:             []spdxChecksum{{"SHA256", hex.EncodeToString(binSum[:])}},
		LicenseConcluded:      noAssertion,
		LicenseDeclared:       "Apache-2.0",
		CopyrightText:         noAssertion,
		Comment:               fmt.Sprintf("Go binary for %s/%s (/loglet in the image %s), built with %s: %s", goos, goarch, s.Repository, info.GoVersion, strings.Join(settings, " ")),
		ExternalRefs:          []spdxExternalRef{purlRef(info.Main.Path, version)},
		PrimaryPackagePurpose: "APPLICATION",
	}
	if revision != "" {
		app.SourceInfo = "built from revision " + revision + " of https://github.com/loglet/loglet"
	}
	goVersion := strings.TrimPrefix(info.GoVersion, "go")
	stdlib := spdxPackage{
		Name:                  "stdlib",
		SPDXID:                "SPDXRef-Package-stdlib",
		VersionInfo:           info.GoVersion,
		DownloadLocation:      "https://go.dev/dl/" + info.GoVersion + ".src.tar.gz",
		LicenseConcluded:      noAssertion,
		LicenseDeclared:       noAssertion,
		CopyrightText:         noAssertion,
		Comment:               "the Go standard library and runtime linked into the binary",
		ExternalRefs:          []spdxExternalRef{purlRef("stdlib", goVersion)},
		PrimaryPackagePurpose: "LIBRARY",
	}
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              fmt.Sprintf("%s %s %s/%s", s.Repository, s.Version, goos, goarch),
		DocumentNamespace: fmt.Sprintf("https://github.com/loglet/loglet/spdx/%s-%s-%s-%s-%x", s.Repository, spdxIDPart(s.Version), goos, goarch, binSum[:8]),
		CreationInfo: spdxCreationInfo{
			Created:  s.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Organization: loglet", "Tool: loglet-hack-image"},
			Comment:  "made by hack/image (make images) from the binary's Go build information (debug/buildinfo)",
		},
		Packages: []spdxPackage{app, stdlib},
		Relationships: []spdxRelationship{
			{"SPDXRef-DOCUMENT", "DESCRIBES", app.SPDXID},
			{app.SPDXID, "DEPENDS_ON", stdlib.SPDXID},
		},
	}
	ids := map[string]string{app.SPDXID: info.Main.Path, stdlib.SPDXID: "stdlib"}
	for _, dep := range info.Deps {
		m, comment := dep, ""
		if dep.Replace != nil {
			m = dep.Replace
			comment = "replaces " + dep.Path + "@" + dep.Version
		}
		if m.Sum != "" {
			comment = strings.TrimSpace(comment + " go.sum " + m.Sum)
		}
		p := spdxPackage{
			Name:                  m.Path,
			SPDXID:                "SPDXRef-Package-" + spdxIDPart(m.Path),
			VersionInfo:           m.Version,
			DownloadLocation:      noAssertion,
			LicenseConcluded:      noAssertion,
			LicenseDeclared:       noAssertion,
			CopyrightText:         noAssertion,
			Comment:               comment,
			ExternalRefs:          []spdxExternalRef{purlRef(m.Path, m.Version)},
			PrimaryPackagePurpose: "LIBRARY",
		}
		if m.Version != "" && !strings.HasPrefix(m.Path, ".") && !strings.HasPrefix(m.Path, "/") {
			p.DownloadLocation = "https://proxy.golang.org/" + escapeModule(m.Path) + "/@v/" + escapeModule(m.Version) + ".zip"
		}
		if sum, ok := strings.CutPrefix(m.Sum, "h1:"); ok {
			// h1 is the base64 SHA-256 of the module's file tree (go.sum).
			raw, err := base64.StdEncoding.DecodeString(sum)
			if err != nil || len(raw) != sha256.Size {
				return nil, fmt.Errorf("module %s@%s: h1 sum %q is not a base64 SHA-256", m.Path, m.Version, m.Sum)
			}
			p.Checksums = []spdxChecksum{{"SHA256", hex.EncodeToString(raw)}}
		}
		if other, ok := ids[p.SPDXID]; ok {
			return nil, fmt.Errorf("modules %s and %s both make the SPDX ID %s", other, m.Path, p.SPDXID)
		}
		ids[p.SPDXID] = m.Path
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{app.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// spdxIDPart turns s into what an SPDX ID may hold: letters, digits, '.'
// and '-'.
func spdxIDPart(s string) string {
	return strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-') {
			return r
		}
		return '-'
	}, s)
}

// purlRef is the package URL of a Go module: pkg:golang/<path>@<version>
// (https://github.com/package-url/purl-spec), each part percent-encoded.
func purlRef(path, version string) spdxExternalRef {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = purlEscape(s)
	}
	purl := "pkg:golang/" + strings.Join(segs, "/")
	if version != "" {
		purl += "@" + purlEscape(version)
	}
	return spdxExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: purl}
}

func purlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// escapeModule is a module path or version as the module proxy spells it:
// each upper-case letter as '!' and its lower case (golang.org/x/mod/module's
// EscapePath, which this module does not otherwise need).
func escapeModule(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
