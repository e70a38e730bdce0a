package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRemoveShipped: remove-shipped and rotated-pattern per input (flags
// or the document), volume-size-limit for the sidecar; a typo gets the
// nearest value, and only a sidecar deletes.
func TestRemoveShipped(t *testing.T) {
	sidecar := []string{"--mode", "sidecar", "--path", "/var/loglet/c/app/0/*.log"}
	tests := []struct {
		name string
		args []string
		doc  string
		// want is the error's text; empty: loads, with these.
		want        string
		remove      string
		patterns    []string
		volumeLimit int64
	}{
		{name: "default: never", args: sidecar, remove: "never", patterns: []string{"*.[0-9]*", "*-[0-9]*"}},
		{name: "rotated, the default patterns", args: append(sidecar, "--remove-shipped", "rotated", "--volume-size-limit", "64MiB"),
			remove: "rotated", patterns: []string{"*.[0-9]*", "*-[0-9]*"}, volumeLimit: 64 << 20},
		{name: "rotated, patterns of the input's own", args: []string{"--mode", "sidecar"},
			doc:    "inputs:\n- name: app\n  files: [/var/loglet/c/app/0/*.log]\n  remove-shipped: rotated\n  rotated-pattern: [app.log.*, app-*.log.gz]\n",
			remove: "rotated", patterns: []string{"app.log.*", "app-*.log.gz"}},
		{name: "a typo in the value", args: append(sidecar, "--remove-shipped", "rotatd"),
			want: `invalid value "rotatd": want one of never, rotated (did you mean "rotated"?)`},
		{name: "a typo in the key", args: []string{"--mode", "sidecar"},
			doc:  "inputs:\n- name: app\n  files: [/var/loglet/*.log]\n  remove-shiped: rotated\n",
			want: `did you mean "remove-shipped"`},
		{name: "a pattern with a folder", args: append(sidecar, "--remove-shipped", "rotated", "--rotated-pattern", "old/*.log"),
			want: "rotated-pattern"},
		{name: "a bad glob", args: append(sidecar, "--rotated-pattern", "app.log.[0-9"), want: "globs on file names"},
		{name: "no pattern", args: []string{"--mode", "sidecar"},
			doc:  "inputs:\n- name: app\n  files: [/var/loglet/*.log]\n  remove-shipped: rotated\n  rotated-pattern: []\n",
			want: "at least one glob with remove-shipped: rotated"},
		{name: "not in mode local", args: []string{"--path", "/var/log/app/*.log", "--remove-shipped", "rotated"},
			want: "remove-shipped: rotated: only in mode sidecar"},
		{name: "a bad limit", args: append(sidecar, "--volume-size-limit", "1Gi"), want: "volume-size-limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--stdout", "off"}, tt.args...)
			if tt.doc != "" {
				path := filepath.Join(t.TempDir(), "loglet.yaml")
				if err := os.WriteFile(path, []byte(tt.doc), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", path)
			}
			c, err := load(t, nil, args...)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one saying %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := c.Inputs[0]
			if in.RemoveShipped != tt.remove || !slices.Equal(in.RotatedPattern, tt.patterns) {
				t.Errorf("remove-shipped %q, rotated-pattern %q; want %q, %q", in.RemoveShipped, in.RotatedPattern, tt.remove, tt.patterns)
			}
			if c.Sidecar.VolumeLimit != tt.volumeLimit {
				t.Errorf("volume-size-limit %d, want %d", c.Sidecar.VolumeLimit, tt.volumeLimit)
			}
		})
	}
}
