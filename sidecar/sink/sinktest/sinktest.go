// Package sinktest reads back what the NDJSON sinks wrote, for tests.
package sinktest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
)

// Record is what tests check of a delivered record.
type Record struct {
	Time       string `json:"time"`
	Observed   string `json:"observed_time"`
	Body       string `json:"body"`
	Severity   string `json:"severity"`
	Attributes struct {
		Path      string `json:"log.file.path"`
		SourceID  string `json:"loglet.source_id"`
		PackageID uint64 `json:"loglet.package_id"`
		Offset    int    `json:"loglet.offset"`
		SplitPart int    `json:"loglet.split.part"`
		SplitLast bool   `json:"loglet.split.last"`
	} `json:"attributes"`
	Resource map[string]string `json:"resource"`
}

// Full is a delivered record with every attribute and resource value, as
// JSON gives them (numbers as float64, maps, lists).
type Full struct {
	Time       string         `json:"time"`
	Body       string         `json:"body"`
	Severity   string         `json:"severity"`
	Attributes map[string]any `json:"attributes"`
	Resource   map[string]any `json:"resource"`
}

// Parse reads NDJSON records. Lines that are not JSON (a record torn by
// kill -9) are counted in torn, not returned.
func Parse(r io.Reader) (recs []Record, torn int, err error) { return ParseAs[Record](r) }

// ParseAs is Parse into records of type R (Record, Full).
func ParseAs[R any](r io.Reader) (recs []R, torn int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec R
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			torn++
			continue
		}
		recs = append(recs, rec)
	}
	return recs, torn, sc.Err()
}

// ReadFile parses the records of an NDJSON file; a missing file has none.
// The file may be one a sink is appending to: a last line without its
// newline is still being written (a reader can see part of a write), so
// it is left out rather than counted as torn.
func ReadFile(path string) ([]Record, int, error) { return ReadFileAs[Record](path) }

// ReadFileAs is ReadFile into records of type R (Record, Full).
func ReadFileAs[R any](path string) ([]R, int, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return ParseAs[R](bytes.NewReader(data[:bytes.LastIndexByte(data, '\n')+1]))
}
