package pageout

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestMappings(t *testing.T) {
	maps := `00400000-00c6d000 r-xp 00000000 fd:01 1234                               /app/loglet
00c6d000-01530000 r--p 0086d000 fd:01 1234                               /app/loglet
01530000-0165a000 rw-p 01130000 fd:01 1234                               /app/loglet
0165a000-0169b000 rw-p 00000000 00:00 0 
7f0000000000-7f0000001000 r--p 00000000 fd:01 99                         /app/loglet-old
7f0000002000-7f0000003000 r-xp 00000000 fd:01 77                         /tmp/with space/loglet
7ffd4a1f0000-7ffd4a212000 rw-p 00000000 00:00 0                          [stack]
`
	for _, tc := range []struct {
		exe  string
		want []Mapping
	}{
		// Code and constants, never the writable data (the program's
		// own variables would be written back from swap, or lost).
		{"/app/loglet", []Mapping{{0x400000, 0xc6d000}, {0xc6d000, 0x1530000}}},
		{"/tmp/with space/loglet", []Mapping{{0x7f0000002000, 0x7f0000003000}}},
		{"/app/other", nil},
	} {
		got, err := Mappings([]byte(maps), tc.exe)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %x, want %x", tc.exe, got, tc.want)
		}
	}
	if _, err := Mappings([]byte("zz-yy r-xp 0 fd:01 1 /app/loglet\n"), "/app/loglet"); err == nil || !strings.Contains(err.Error(), "zz-yy") {
		t.Errorf("a damaged line: %v, want an error quoting it", err)
	}
}

// TestRelease pages out this test binary's own code while it runs: the
// resident set shrinks, and the code it runs next is read back in.
func TestRelease(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("madvise(MADV_PAGEOUT) is Linux's")
	}
	before, after, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resident %d KiB → %d KiB", before>>10, after>>10)
	if after >= before {
		t.Errorf("resident set %d → %d bytes: nothing given back", before, after)
	}
	// Code paged out runs again: a function not called yet, and the
	// runtime's own.
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
}
