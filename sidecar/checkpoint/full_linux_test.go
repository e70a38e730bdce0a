package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loglet/loglet/internal/tinydisk"
	"github.com/loglet/loglet/sidecar/record"
)

// TestFullDisk: the state dir's disk fills up in the middle of appends.
// The saves that fail say so; once there is room again saves succeed, and
// the journal loads without damage with every save that returned: a failed
// append's partial bytes are never followed by later records.
func TestFullDisk(t *testing.T) {
	disk := tinydisk.Mount(t, 1<<20)
	state := filepath.Join(disk, "state")
	s := open(t, state)
	defer s.Close() // before the unmount
	filler := tinydisk.Fill(t, disk, 200<<10)
	res := []record.KeyValue{{Key: "k8s.pod.label.big", Value: strings.Repeat("x", 9000)}}
	returned := map[string]int64{}
	failures := 0
	for i := int64(0); failures < 3 && i < 10000; i++ {
		c := cp(fmt.Sprintf("s%d", i%7), i)
		c.Resource = res
		if err := s.Save(c); err != nil {
			if !strings.Contains(err.Error(), "no space left on device") {
				t.Fatalf("Save on a full disk: %v; want it to say the disk is full", err)
			}
			failures++
			continue
		}
		returned[c.SourceID] = i
	}
	if failures == 0 {
		t.Fatal("the disk never filled up")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	c := cp("after", 1)
	save(t, s, c)
	returned["after"] = 1
	l, err := open(t, state).LoadAll()
	if err != nil || len(l.Corrupt) != 0 {
		t.Fatalf("LoadAll after a full disk: %+v, %v; want the journal whole", l.Corrupt, err)
	}
	got := offsets(l.Checkpoints)
	for id, n := range returned {
		if got[id] < n {
			t.Errorf("%s loaded at %d, but a save of %d returned", id, got[id], n)
		}
	}
	if _, end := frames(t, filepath.Join(state, journalDir, journalName)); end != mustSize(t, filepath.Join(state, journalDir, journalName)) {
		t.Errorf("the journal has bytes after its last frame")
	}
}
