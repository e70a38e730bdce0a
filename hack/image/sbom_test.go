package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// spdxShape is what checkSPDX reads of an SPDX 2.3 document, typed apart
// from sbom.go's so a misspelt field there does not pass here.
type spdxShape struct {
	SPDXVersion       *string `json:"spdxVersion"`
	DataLicense       *string `json:"dataLicense"`
	SPDXID            *string `json:"SPDXID"`
	Name              *string `json:"name"`
	DocumentNamespace *string `json:"documentNamespace"`
	CreationInfo      *struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Packages []struct {
		Name             string `json:"name"`
		SPDXID           string `json:"SPDXID"`
		VersionInfo      string `json:"versionInfo"`
		DownloadLocation string `json:"downloadLocation"`
		FilesAnalyzed    *bool  `json:"filesAnalyzed"`
		Checksums        []struct {
			Algorithm     string `json:"algorithm"`
			ChecksumValue string `json:"checksumValue"`
		} `json:"checksums"`
		Comment      string `json:"comment"`
		ExternalRefs []struct {
			ReferenceCategory string `json:"referenceCategory"`
			ReferenceType     string `json:"referenceType"`
			ReferenceLocator  string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Relationships []struct {
		SPDXElementID      string `json:"spdxElementId"`
		RelationshipType   string `json:"relationshipType"`
		RelatedSPDXElement string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

var (
	spdxIDPattern = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	sha256Hex     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	purlPattern   = regexp.MustCompile(`^pkg:golang/([^@?#]+)@([^?#]+)$`)
)

// checkSPDX checks an SBOM against the SPDX 2.3 fields a document must
// have and against the binary it describes: a package, with version, purl
// and h1 checksum, for the main module, the standard library and every
// module in the binary's build information, the binary's SHA-256 and its
// build settings.
func checkSPDX(t *testing.T, sbom []byte, binary, tags string) {
	t.Helper()
	var doc spdxShape
	if err := json.Unmarshal(sbom, &doc); err != nil {
		t.Fatalf("SBOM is no JSON: %v", err)
	}
	missing := false
	for field, v := range map[string]*string{"spdxVersion": doc.SPDXVersion, "dataLicense": doc.DataLicense, "SPDXID": doc.SPDXID, "name": doc.Name, "documentNamespace": doc.DocumentNamespace} {
		if v == nil || *v == "" {
			t.Errorf("SBOM has no %s", field)
			missing = true
		}
	}
	if missing {
		return
	}
	if *doc.SPDXVersion != "SPDX-2.3" || *doc.DataLicense != "CC0-1.0" || *doc.SPDXID != "SPDXRef-DOCUMENT" {
		t.Errorf("spdxVersion %q, dataLicense %q, SPDXID %q; want SPDX-2.3, CC0-1.0, SPDXRef-DOCUMENT", *doc.SPDXVersion, *doc.DataLicense, *doc.SPDXID)
	}
	if u, err := url.Parse(*doc.DocumentNamespace); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(*doc.DocumentNamespace, "#") {
		t.Errorf("documentNamespace %q is not an absolute URI without '#'", *doc.DocumentNamespace)
	}
	if ci := doc.CreationInfo; ci == nil || len(ci.Creators) == 0 {
		t.Errorf("creationInfo %+v: want created and creators", ci)
	} else {
		if _, err := time.Parse(time.RFC3339, ci.Created); err != nil || !strings.HasSuffix(ci.Created, "Z") {
			t.Errorf("creationInfo.created %q is not YYYY-MM-DDThh:mm:ssZ", ci.Created)
		}
		for _, c := range ci.Creators {
			if !strings.HasPrefix(c, "Tool: ") && !strings.HasPrefix(c, "Organization: ") && !strings.HasPrefix(c, "Person: ") {
				t.Errorf("creator %q is not Tool:, Organization: or Person:", c)
			}
		}
	}

	type pkg struct {
		version, purl, sha256, comment string
	}
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	byName := map[string]pkg{}
	for _, p := range doc.Packages {
		if p.Name == "" || !spdxIDPattern.MatchString(p.SPDXID) || p.DownloadLocation == "" || p.FilesAnalyzed == nil {
			t.Errorf("package %+v: want name, SPDXID (SPDXRef-[A-Za-z0-9.-]+), downloadLocation, filesAnalyzed", p)
		}
		if ids[p.SPDXID] {
			t.Errorf("SPDXID %s twice", p.SPDXID)
		}
		ids[p.SPDXID] = true
		got := pkg{version: p.VersionInfo, comment: p.Comment}
		for _, c := range p.Checksums {
			if c.Algorithm == "SHA256" {
				got.sha256 = c.ChecksumValue
			}
			if !sha256Hex.MatchString(c.ChecksumValue) {
				t.Errorf("package %s: checksum %s %q is not lower-case hex", p.Name, c.Algorithm, c.ChecksumValue)
			}
		}
		for _, r := range p.ExternalRefs {
			if r.ReferenceCategory == "PACKAGE-MANAGER" && r.ReferenceType == "purl" {
				got.purl = r.ReferenceLocator
			}
		}
		byName[p.Name] = got
	}
	describes := false
	for _, r := range doc.Relationships {
		if !ids[r.SPDXElementID] || !ids[r.RelatedSPDXElement] {
			t.Errorf("relationship %+v names an element the document does not hold", r)
		}
		describes = describes || r.SPDXElementID == "SPDXRef-DOCUMENT" && r.RelationshipType == "DESCRIBES"
	}
	if !describes {
		t.Error("no relationship SPDXRef-DOCUMENT DESCRIBES")
	}

	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	checkPurl := func(name, path, version string) {
		t.Helper()
		m := purlPattern.FindStringSubmatch(byName[name].purl)
		if m == nil {
			t.Errorf("package %s: purl %q is not pkg:golang/<path>@<version>", name, byName[name].purl)
			return
		}
		p, err1 := url.PathUnescape(m[1])
		v, err2 := url.PathUnescape(m[2])
		if err1 != nil || err2 != nil || p != path || v != version {
			t.Errorf("package %s: purl %q, want pkg:golang/%s@%s", name, byName[name].purl, path, version)
		}
	}

	app, ok := byName[info.Main.Path]
	if !ok {
		t.Fatalf("no package for the main module %s", info.Main.Path)
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(bin); app.sha256 != hex.EncodeToString(sum[:]) {
		t.Errorf("main module's SHA256 %s is not the binary's %x", app.sha256, sum)
	}
	wantVersion := info.Main.Version
	if wantVersion == "(devel)" || wantVersion == "" {
		wantVersion = testVersion
	}
	if app.version != wantVersion {
		t.Errorf("main module version %q, want %q", app.version, wantVersion)
	}
	checkPurl(info.Main.Path, info.Main.Path, wantVersion)
	for _, s := range info.Settings {
		if !strings.Contains(app.comment, s.Key+"="+s.Value) {
			t.Errorf("main module's comment %q does not hold the build setting %s=%s", app.comment, s.Key, s.Value)
		}
	}
	if tags != "" && !strings.Contains(app.comment, "-tags="+tags) {
		t.Errorf("main module's comment %q does not say -tags=%s", app.comment, tags)
	}
	checkPurl("stdlib", "stdlib", strings.TrimPrefix(info.GoVersion, "go"))

	if len(info.Deps) == 0 {
		t.Fatal("the binary's build information lists no modules")
	}
	for _, dep := range info.Deps {
		m := dep
		if dep.Replace != nil {
			m = dep.Replace
		}
		got, ok := byName[m.Path]
		if !ok {
			t.Errorf("no package for the module %s", m.Path)
			continue
		}
		if got.version != m.Version {
			t.Errorf("module %s: version %q, want %q", m.Path, got.version, m.Version)
		}
		checkPurl(m.Path, m.Path, m.Version)
		h1, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(m.Sum, "h1:"))
		if err != nil || got.sha256 != hex.EncodeToString(h1) {
			t.Errorf("module %s: SHA256 %q, want the h1 sum %s in hex", m.Path, got.sha256, m.Sum)
		}
	}
	if want := len(info.Deps) + 2; len(doc.Packages) != want {
		t.Errorf("%d packages, want %d: the main module, stdlib and %d modules", len(doc.Packages), want, len(info.Deps))
	}
}
