//go:build linux

package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// impls are the two ways Open checks where a file lies: openat2 with
// RESOLVE_BENEATH, and the O_PATH + /proc/self/fd check of older kernels.
// Both run on every test here; the first only where the kernel has openat2.
func impls(t testing.TB) []bool {
	if !probeOpenat2() {
		t.Log("openat2 is not available here: only the /proc fallback is tested")
		return []bool{false}
	}
	return []bool{true, false}
}

func implName(openat2 bool) string {
	if openat2 {
		return "openat2"
	}
	return "proc-fallback"
}

func newTestOpener(t testing.TB, globs []string, policy LinkPolicy, openat2 bool) *Opener {
	t.Helper()
	o, err := NewOpener(globs, policy)
	if err != nil {
		t.Fatal(err)
	}
	o.openat2 = openat2
	return o
}

// realTempDir is a fresh folder named by its real path.
func realTempDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustLink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// openNoHang calls o.Open and fails the test if it does not return: a FIFO
// opened for reading without O_NONBLOCK waits for a writer forever. On a
// hang it opens every FIFO in fifos for writing to let Open return.
func openNoHang(t *testing.T, o *Opener, path string, fifos ...string) (*os.File, error) {
	t.Helper()
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := o.Open(path)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.f, r.err
	case <-time.After(10 * time.Second):
		for _, p := range fifos {
			if w, err := os.OpenFile(p, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
				defer w.Close()
			}
		}
		r := <-done
		if r.f != nil {
			r.f.Close()
		}
		t.Fatalf("Open(%q) blocked for 10s (a FIFO opened without O_NONBLOCK?)", path)
		return nil, nil
	}
}

// outcome is what a user of Open sees: "ok:<content>", "refused:<reason>",
// "not-exist", or "error:<message>".
func outcome(f *os.File, err error) string {
	var refused *RefusedError
	switch {
	case err == nil:
		defer f.Close()
		b, rerr := io.ReadAll(f)
		if rerr != nil {
			return "error:" + rerr.Error()
		}
		if len(b) > 64 {
			return fmt.Sprintf("ok:%d bytes", len(b)) // a secret, if anything: keep it out of the log
		}
		return "ok:" + string(b)
	case errors.As(err, &refused):
		return "refused:" + refused.Reason
	case errors.Is(err, fs.ErrNotExist):
		return "not-exist"
	}
	return "error:" + err.Error()
}

// TestOpenLinks: what each link mode opens and refuses in a watched folder
// a/ (glob a/**/*.log) beside another container's folder b/ (glob
// b/*.log) and a folder out/ no glob names.
func TestOpenLinks(t *testing.T) {
	const outside, refusedOutside = "ok:secret", "refused:outside-root"
	_, shadowErr := os.Stat("/etc/shadow")
	tests := []struct {
		name  string
		setup func(t *testing.T, base string)
		path  string // relative to base
		// want per mode; a mode left out is not checked
		strict, globRoots, anyWhere string
	}{
		{
			name:  "plain file",
			setup: func(t *testing.T, base string) { mustWrite(t, base+"/a/app.log", "app") },
			path:  "a/app.log", strict: "ok:app", globRoots: "ok:app", anyWhere: "ok:app",
		},
		{
			name:  "absolute link to a secret outside all roots",
			setup: func(t *testing.T, base string) { mustLink(t, base+"/out/secret", base+"/a/evil.log") },
			path:  "a/evil.log", strict: refusedOutside, globRoots: refusedOutside, anyWhere: outside,
		},
		{
			name: "relative link escaping with ../..",
			setup: func(t *testing.T, base string) {
				mustLink(t, "../../"+filepath.Base(base)+"/out/secret", base+"/a/evil.log")
			},
			path: "a/evil.log", strict: refusedOutside, globRoots: refusedOutside, anyWhere: outside,
		},
		{
			name: "link into another container's folder",
			setup: func(t *testing.T, base string) {
				mustWrite(t, base+"/b/b.log", "container b")
				mustLink(t, "../b/b.log", base+"/a/evil.log")
			},
			path: "a/evil.log", strict: refusedOutside, globRoots: "ok:container b", anyWhere: "ok:container b",
		},
		{
			name: "link chain inside the same folder",
			setup: func(t *testing.T, base string) {
				mustWrite(t, base+"/a/app-2026-12-01.log", "today")
				mustLink(t, "app-2026-12-01.log", base+"/a/current.log")
				mustLink(t, base+"/a/current.log", base+"/a/app.log") // absolute, then relative
			},
			path: "a/app.log", strict: "ok:today", globRoots: "ok:today", anyWhere: "ok:today",
		},
		{
			name:  "link to /etc/passwd",
			setup: func(t *testing.T, base string) { mustLink(t, "/etc/passwd", base+"/a/passwd.log") },
			path:  "a/passwd.log", strict: refusedOutside, globRoots: refusedOutside,
		},
		{
			name:  "link to /etc/shadow",
			setup: func(t *testing.T, base string) { mustLink(t, "/etc/shadow", base+"/a/shadow.log") },
			path:  "a/shadow.log", strict: map[bool]string{true: refusedOutside, false: "not-exist"}[shadowErr == nil],
			globRoots: map[bool]string{true: refusedOutside, false: "not-exist"}[shadowErr == nil],
		},
		{
			name: "deep relative link to /etc/passwd",
			setup: func(t *testing.T, base string) {
				mustLink(t, strings.Repeat("../", 40)+"etc/passwd", base+"/a/passwd.log")
			},
			path: "a/passwd.log", strict: refusedOutside, globRoots: refusedOutside,
		},
		{
			name: "magic link /proc/self/root",
			setup: func(t *testing.T, base string) {
				mustLink(t, "/proc/self/root"+base+"/out/secret", base+"/a/magic.log")
			},
			path: "a/magic.log", strict: refusedOutside, globRoots: refusedOutside,
		},
		{
			name:  "link to /proc/self/environ",
			setup: func(t *testing.T, base string) { mustLink(t, "/proc/self/environ", base+"/a/env.log") },
			path:  "a/env.log", strict: refusedOutside, globRoots: refusedOutside, anyWhere: "refused:not-regular",
		},
		{
			name: "folder link leading outside",
			setup: func(t *testing.T, base string) {
				mustWrite(t, base+"/out/x.log", "outside x")
				mustLink(t, base+"/out", base+"/a/sub")
			},
			path: "a/sub/x.log", strict: refusedOutside, globRoots: refusedOutside, anyWhere: "ok:outside x",
		},
		{
			name: "relative folder link leading outside",
			setup: func(t *testing.T, base string) {
				mustWrite(t, base+"/out/x.log", "outside x")
				mustLink(t, "../out", base+"/a/sub")
			},
			path: "a/sub/x.log", strict: refusedOutside, globRoots: refusedOutside, anyWhere: "ok:outside x",
		},
		{
			name: "folder link inside the root",
			setup: func(t *testing.T, base string) {
				mustWrite(t, base+"/a/2026/x.log", "inside x")
				mustLink(t, "2026", base+"/a/current")
			},
			path: "a/current/x.log", strict: "ok:inside x", globRoots: "ok:inside x", anyWhere: "ok:inside x",
		},
		{
			name: "link loop",
			setup: func(t *testing.T, base string) {
				mustLink(t, "loop2.log", base+"/a/loop.log")
				mustLink(t, "loop.log", base+"/a/loop2.log")
			},
			path: "a/loop.log", strict: "refused:loop", globRoots: "refused:loop", anyWhere: "refused:loop",
		},
		{
			name:  "link to itself",
			setup: func(t *testing.T, base string) { mustLink(t, "self.log", base+"/a/self.log") },
			path:  "a/self.log", strict: "refused:loop", globRoots: "refused:loop", anyWhere: "refused:loop",
		},
		{
			name: "FIFO named x.log",
			setup: func(t *testing.T, base string) {
				if err := unix.Mkfifo(base+"/a/x.log", 0o644); err != nil {
					t.Fatal(err)
				}
			},
			path: "a/x.log", strict: "refused:not-regular", globRoots: "refused:not-regular", anyWhere: "refused:not-regular",
		},
		{
			name: "link to a FIFO in the folder",
			setup: func(t *testing.T, base string) {
				if err := unix.Mkfifo(base+"/a/pipe", 0o644); err != nil {
					t.Fatal(err)
				}
				mustLink(t, "pipe", base+"/a/x.log")
			},
			path: "a/x.log", strict: "refused:not-regular", globRoots: "refused:not-regular", anyWhere: "refused:not-regular",
		},
		{
			name: "directory named x.log",
			setup: func(t *testing.T, base string) {
				if err := os.Mkdir(base+"/a/x.log", 0o755); err != nil {
					t.Fatal(err)
				}
			},
			path: "a/x.log", strict: "refused:not-regular", globRoots: "refused:not-regular", anyWhere: "refused:not-regular",
		},
		{
			name: "socket named x.log",
			setup: func(t *testing.T, base string) {
				l, err := net.Listen("unix", base+"/a/x.log")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
			},
			path: "a/x.log", strict: "refused:not-regular", globRoots: "refused:not-regular", anyWhere: "refused:not-regular",
		},
		{
			name:  "dangling link",
			setup: func(t *testing.T, base string) { mustLink(t, "gone.log", base+"/a/x.log") },
			path:  "a/x.log", strict: "not-exist", globRoots: "not-exist", anyWhere: "not-exist",
		},
		{
			name:  "a file no glob names",
			setup: func(t *testing.T, base string) {},
			path:  "out/secret", strict: refusedOutside, globRoots: refusedOutside, anyWhere: outside,
		},
	}
	for _, openat2 := range impls(t) {
		for _, tc := range tests {
			t.Run(implName(openat2)+"/"+tc.name, func(t *testing.T) {
				base := realTempDir(t)
				mustWrite(t, base+"/out/secret", "secret")
				for _, d := range []string{"a", "b"} {
					if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				tc.setup(t, base)
				globs := []string{base + "/a/**/*.log", base + "/b/*.log"}
				path := filepath.Join(base, tc.path)
				for _, m := range []struct {
					mode LinkMode
					want string
				}{{LinksStrict, tc.strict}, {LinksGlobRoots, tc.globRoots}, {LinksAny, tc.anyWhere}} {
					if m.want == "" {
						continue
					}
					o := newTestOpener(t, globs, LinkPolicy{Mode: m.mode}, openat2)
					got := outcome(openNoHang(t, o, path, path))
					if got != m.want {
						t.Errorf("%s: Open(%s) = %s, want %s", m.mode, tc.path, got, m.want)
					}
				}
			})
		}
	}
}

// TestOpenDevice: a character device planted in the folder is refused
// (creating one needs CAP_MKNOD).
func TestOpenDevice(t *testing.T) {
	for _, openat2 := range impls(t) {
		t.Run(implName(openat2), func(t *testing.T) {
			base := realTempDir(t)
			path := base + "/null.log"
			if err := unix.Mknod(path, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
				t.Skipf("cannot create a device here (%v)", err)
			}
			o := newTestOpener(t, []string{base + "/*.log"}, LinkPolicy{Mode: LinksStrict}, openat2)
			if got := outcome(openNoHang(t, o, path)); got != "refused:not-regular" {
				t.Errorf("Open(device) = %s, want refused:not-regular", got)
			}
		})
	}
}

// TestOpenExtraRoot: node mode on Docker, where the kubelet's
// /var/log/pods/<pod>/<container>/0.log links into
// /var/lib/docker/containers/<id>/<id>-json.log.
func TestOpenExtraRoot(t *testing.T) {
	for _, openat2 := range impls(t) {
		t.Run(implName(openat2), func(t *testing.T) {
			base := realTempDir(t)
			docker := base + "/var/lib/docker/containers"
			mustWrite(t, docker+"/abc/abc-json.log", `{"log":"hi\n"}`)
			mustWrite(t, base+"/var/lib/docker/volumes/secret", "volume")
			pods := base + "/var/log/pods"
			mustLink(t, docker+"/abc/abc-json.log", pods+"/ns_pod_uid/app/0.log")
			mustLink(t, base+"/var/lib/docker/volumes/secret", pods+"/ns_pod_uid/app/1.log")
			globs := []string{pods + "/*/*/*.log"}
			tests := []struct {
				policy    LinkPolicy
				file      string
				want      string
				wantInMsg string
			}{
				{LinkPolicy{Mode: LinksGlobRoots}, "0.log", "refused:outside-root", pods},
				{LinkPolicy{Mode: LinksGlobRoots, Extra: []string{docker}}, "0.log", `ok:{"log":"hi\n"}`, ""},
				{LinkPolicy{Mode: LinksStrict, Extra: []string{docker}}, "0.log", `ok:{"log":"hi\n"}`, ""},
				{LinkPolicy{Mode: LinksStrict, Extra: []string{docker}}, "1.log", "refused:outside-root", docker},
			}
			for _, tc := range tests {
				o := newTestOpener(t, globs, tc.policy, openat2)
				f, err := openNoHang(t, o, pods+"/ns_pod_uid/app/"+tc.file)
				if got := outcome(f, err); got != tc.want {
					t.Errorf("%+v: Open(%s) = %s, want %s", tc.policy, tc.file, got, tc.want)
				}
				if tc.wantInMsg != "" && (err == nil || !strings.Contains(err.Error(), tc.wantInMsg)) {
					t.Errorf("%+v: error %v does not name the allowed folder %s", tc.policy, err, tc.wantInMsg)
				}
			}
		})
	}
}

// TestOpenRootIsLink: a glob's folder may itself be a link (macOS's
// /var/log -> /private/var/log, or a log folder on another disk).
func TestOpenRootIsLink(t *testing.T) {
	for _, openat2 := range impls(t) {
		t.Run(implName(openat2), func(t *testing.T) {
			base := realTempDir(t)
			mustWrite(t, base+"/private/var/log/app.log", "app")
			mustWrite(t, base+"/private/var/secret", "secret")
			mustLink(t, "private/var", base+"/var")
			mustLink(t, "../secret", base+"/private/var/log/evil.log")
			for _, mode := range []LinkMode{LinksStrict, LinksGlobRoots} {
				o := newTestOpener(t, []string{base + "/var/log/*.log"}, LinkPolicy{Mode: mode}, openat2)
				if got := outcome(openNoHang(t, o, base+"/var/log/app.log")); got != "ok:app" {
					t.Errorf("%s: Open(var/log/app.log) = %s, want ok:app", mode, got)
				}
				if got := outcome(openNoHang(t, o, base+"/var/log/evil.log")); got != "refused:outside-root" {
					t.Errorf("%s: Open(var/log/evil.log) = %s, want refused:outside-root", mode, got)
				}
			}
		})
	}
}

// TestOpenLateRoot: a glob's folder that appears after the agent started
// (a shared volume's subfolder) is resolved when first needed; planted as
// a link leading out of the folder that did exist, it allows nothing.
func TestOpenLateRoot(t *testing.T) {
	for _, openat2 := range impls(t) {
		t.Run(implName(openat2), func(t *testing.T) {
			base := realTempDir(t)
			vol := base + "/vol"
			if err := os.Mkdir(vol, 0o755); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, base+"/out/secret.log", "secret")
			o := newTestOpener(t, []string{vol + "/c/app/0/*.log", vol + "/c/evil/0/*.log"}, LinkPolicy{Mode: LinksStrict}, openat2)

			if got := outcome(openNoHang(t, o, vol+"/c/app/0/app.log")); got != "refused:outside-root" && got != "not-exist" {
				t.Errorf("before the folder exists: Open = %s, want not-exist or refused", got)
			}
			mustWrite(t, vol+"/c/app/0/app.log", "app")
			if got := outcome(openNoHang(t, o, vol+"/c/app/0/app.log")); got != "ok:app" {
				t.Errorf("folder created later: Open = %s, want ok:app", got)
			}
			mustLink(t, base+"/out", vol+"/c/evil/0")
			if got := outcome(openNoHang(t, o, vol+"/c/evil/0/secret.log")); got != "refused:outside-root" {
				t.Errorf("folder created later as a link out of the volume: Open = %s, want refused:outside-root", got)
			}
		})
	}
}

// TestOpenBeneath checks the step that makes Open race-free on its own: a
// link swapped in after the path was resolved cannot be timed honestly in
// a test, so openBeneath is given a relative path whose resolution leaves
// the root, as the swapped link would make it, and must not open it.
func TestOpenBeneath(t *testing.T) {
	base := realTempDir(t)
	root := base + "/root"
	mustWrite(t, base+"/out/x.log", "secret")
	mustWrite(t, root+"/in.log", "inside")
	mustLink(t, base+"/out", root+"/abs")
	mustLink(t, "../out", root+"/rel")
	mustLink(t, base+"/out/x.log", root+"/abs.log")
	mustLink(t, "../out/x.log", root+"/rel.log")
	mustLink(t, "/proc/self/root"+base+"/out/x.log", root+"/magic.log")
	mustLink(t, "/proc/self/root"+base+"/out", root+"/magic")
	tests := []string{"abs/x.log", "rel/x.log", "abs.log", "rel.log", "magic.log", "magic/x.log", "../out/x.log"}
	for _, openat2 := range impls(t) {
		o := newTestOpener(t, nil, LinkPolicy{Mode: LinksStrict}, openat2)
		for _, rel := range tests {
			f, err := o.openBeneath(root, rel, rel)
			if err == nil {
				b, _ := io.ReadAll(f)
				f.Close()
				t.Errorf("%s: openBeneath(root, %q) opened a file holding %q, want a failure", implName(openat2), rel, b)
			}
		}
		f, err := o.openBeneath(root, "in.log", "in.log")
		if err != nil {
			t.Errorf("%s: openBeneath(root, in.log) = %v, want the file", implName(openat2), err)
		} else {
			f.Close()
		}
	}
	// Followed anywhere, a magic link is still not: /proc/self/root leads
	// to the same file, but through a link the kernel makes up.
	if probeOpenat2() {
		o := newTestOpener(t, nil, LinkPolicy{Mode: LinksAny}, true)
		if f, err := o.openBeneath("/", "proc/self/root"+base+"/out/x.log", "x"); err == nil {
			f.Close()
			t.Error("openat2: openBeneath(/, proc/self/root/...) followed a magic link")
		}
	}
}

// TestOpenWhileLinksSwap opens a link while another goroutine keeps
// pointing it now inside, now outside the folder: whatever Open returns
// must be the inside file. (This cannot prove the race window was hit;
// TestOpenBeneath checks the step that closes it.)
func TestOpenWhileLinksSwap(t *testing.T) {
	for _, openat2 := range impls(t) {
		t.Run(implName(openat2), func(t *testing.T) {
			base := realTempDir(t)
			mustWrite(t, base+"/a/in.log", "inside")
			mustWrite(t, base+"/out/x.log", "secret")
			mustWrite(t, base+"/out/sub/in.log", "secret")
			link := base + "/a/app.log"
			dirLink := base + "/a/sub"
			targets := [][2]string{{"in.log", "."}, {base + "/out/x.log", base + "/out/sub"}, {"../out/x.log", "../out/sub"}}
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					tg := targets[i%len(targets)]
					for j, l := range []string{link, dirLink} {
						tmp := l + ".tmp"
						os.Remove(tmp)
						if err := os.Symlink(tg[j], tmp); err == nil {
							os.Rename(tmp, l) // atomic replace
						}
					}
				}
			}()
			o := newTestOpener(t, []string{base + "/a/**/*.log"}, LinkPolicy{Mode: LinksStrict}, openat2)
			var opened, refused int
			for range 2000 {
				for _, p := range []string{link, dirLink + "/in.log"} {
					f, err := o.Open(p)
					if err != nil {
						refused++
						continue
					}
					opened++
					b, _ := io.ReadAll(f)
					f.Close()
					if string(b) != "inside" {
						t.Errorf("Open(%s) while its link changed opened a file holding %q", p, b)
					}
				}
			}
			stop.Store(true)
			wg.Wait()
			t.Logf("opened %d, refused or gone %d", opened, refused)
		})
	}
}

func TestRefusedErrorMessage(t *testing.T) {
	base := realTempDir(t)
	mustWrite(t, base+"/etc/secret", "secret")
	mustLink(t, base+"/etc/secret", base+"/a/evil.log")
	if err := unix.Mkfifo(base+"/a/pipe.log", 0o644); err != nil {
		t.Fatal(err)
	}
	globs := []string{base + "/a/*.log"}
	tests := []struct {
		policy LinkPolicy
		path   string
		want   []string
	}{
		{LinkPolicy{Mode: LinksStrict}, base + "/a/evil.log",
			[]string{`"` + base + `/a/evil.log"`, `leads to "` + base + `/etc/secret"`, base + "/a)", "write the log file there"}},
		{LinkPolicy{Mode: LinksGlobRoots}, base + "/a/evil.log",
			[]string{`"` + base + `/a/evil.log"`, base + "/etc/secret", "--follow-symlinks"}},
		{LinkPolicy{Mode: LinksStrict, OutsideFix: "add its folder with --allow-folder"}, base + "/a/evil.log",
			[]string{"--allow-folder"}},
		{LinkPolicy{Mode: LinksStrict}, base + "/a/pipe.log",
			[]string{`"` + base + `/a/pipe.log"`, "FIFO", "--exclude"}},
	}
	for _, tc := range tests {
		o := newTestOpener(t, globs, tc.policy, probeOpenat2())
		_, err := openNoHang(t, o, tc.path)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", tc.path)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not contain %q", tc.policy, err, w)
			}
		}
	}
}

func TestNewOpenerErrors(t *testing.T) {
	tests := []struct {
		globs  []string
		policy LinkPolicy
		want   string
	}{
		{[]string{"logs/*.log"}, LinkPolicy{}, `path "logs/*.log": must be absolute`},
		{[]string{"/var/log/*.log"}, LinkPolicy{Extra: []string{"docker"}}, `allowed folder "docker": must be absolute`},
		{nil, LinkPolicy{Mode: 7}, "unknown link mode 7"},
	}
	for _, tc := range tests {
		_, err := NewOpener(tc.globs, tc.policy)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewOpener(%q, %+v) = %v, want an error containing %q", tc.globs, tc.policy, err, tc.want)
		}
	}
	o, err := NewOpener([]string{"/var/log/*.log"}, LinkPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open("var/log/x.log"); err == nil || !strings.Contains(err.Error(), "must be absolute") {
		t.Errorf("Open(relative) = %v, want an error saying the path must be absolute", err)
	}
}

// FuzzOpen builds a small tree from the input — files, folders, FIFOs and
// links whose targets lie inside, beside and outside the watched folders —
// and checks, in every mode and both ways of opening, that whatever Open
// returns open is a regular file whose real path lies beneath a folder the
// mode allows, and that every such file that exists is opened.
func FuzzOpen(f *testing.F) {
	f.Add([]byte{0, 2, 2})                          // a/1.log -> ../b/4.log
	f.Add([]byte{2, 2, 10, 3, 0, 0})                // a/sub -> /abs/out; a/sub/3.log
	f.Add([]byte{0, 2, 0})                          // a/1.log -> 1.log (self)
	f.Add([]byte{1, 3, 0, 0, 2, 1})                 // a/2.log FIFO; a/1.log -> 2.log
	f.Add([]byte{0, 2, 12, 1, 2, 13, 2, 2, 5})      // magic links, a/sub -> ../..
	f.Add([]byte{2, 1, 0, 7, 2, 3, 3, 2, 16})       // a/sub/sub/6.log -> ../out/5.log
	f.Add([]byte{5, 1, 0, 5, 2, 8, 0, 2, 17, 4, 0}) // b/sub -> abs a/1.log
	f.Fuzz(func(t *testing.T, data []byte) {
		base := realTempDir(t)
		for _, d := range []string{"a", "b", "out"} {
			if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(base+"/out/5.log", []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
		names := []string{"a/1.log", "a/2.log", "a/sub", "a/sub/3.log", "b/4.log", "b/sub", "out/5.log", "a/sub/sub/6.log"}
		targets := []string{"1.log", "2.log", "../b/4.log", "../out/5.log", "sub/3.log", "..", "../..", "../../..",
			base + "/a/1.log", base + "/out/5.log", base + "/out", "/etc/passwd",
			"/proc/self/root" + base + "/out/5.log", "/proc/self/fd/0", "/proc/self/environ", "sub", "../../out/5.log", "/"}
		for i := 0; i+2 < len(data) && i < 3*24; i += 3 {
			name := names[int(data[i])%len(names)]
			kind := data[i+1] % 4
			target := targets[int(data[i+2])%len(targets)]
			// Create only through folders that really lie in base: a
			// link a/sub -> / must not make the test write into /.
			parent, err := filepath.EvalSymlinks(filepath.Join(base, filepath.Dir(name)))
			if err != nil || !within(parent, base) {
				continue
			}
			p := filepath.Join(parent, filepath.Base(name))
			if _, err := os.Lstat(p); err == nil {
				continue // writing to a FIFO made earlier would block
			}
			switch kind {
			case 0:
				os.WriteFile(p, []byte(name), 0o644)
			case 1:
				os.Mkdir(p, 0o755)
			case 2:
				os.Symlink(target, p)
			case 3:
				unix.Mkfifo(p, 0o644)
			}
		}
		globs := []string{base + "/a/**/*.log", base + "/b/*.log"}
		for _, openat2 := range impls(t) {
			for _, mode := range []LinkMode{LinksStrict, LinksGlobRoots, LinksAny} {
				o := newTestOpener(t, globs, LinkPolicy{Mode: mode}, openat2)
				for _, name := range names {
					path := filepath.Join(base, name)
					var allowed []string
					switch {
					case mode == LinksAny:
						allowed = []string{"/"}
					case mode == LinksGlobRoots:
						allowed = []string{base + "/a", base + "/b"}
					case strings.HasPrefix(name, "a/"):
						allowed = []string{base + "/a"}
					case strings.HasPrefix(name, "b/"):
						allowed = []string{base + "/b"}
					}
					f, err := openNoHang(t, o, path, path)
					checkOpened(t, fmt.Sprintf("%s/%s: Open(%s)", implName(openat2), mode, name), path, allowed, f, err)
				}
			}
		}
	})
}

// checkOpened checks Open's answer for path against the folders it may
// lead into: an open file is a regular file there, and a regular file
// there is opened.
func checkOpened(t *testing.T, what, path string, allowed []string, f *os.File, err error) {
	t.Helper()
	inside := func(p string) bool {
		for _, a := range allowed {
			if within(p, a) {
				return true
			}
		}
		return false
	}
	if err == nil {
		defer f.Close()
		real, rerr := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
		if rerr != nil {
			t.Fatal(rerr)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			t.Errorf("%s opened %s, of mode %#o, not a regular file", what, real, st.Mode)
		}
		if !inside(real) || strings.HasPrefix(real, "/proc/") {
			t.Errorf("%s opened %s, outside %q", what, real, allowed)
		}
		return
	}
	var refused *RefusedError
	if errors.As(err, &refused) {
		switch refused.Reason {
		case ReasonOutsideRoot, ReasonNotRegular, ReasonLoop:
		default:
			t.Errorf("%s: unknown reason %q", what, refused.Reason)
		}
	}
	// Nothing changes the tree now, so a regular file the path leads to
	// inside an allowed folder must have been opened.
	real, rerr := filepath.EvalSymlinks(path)
	if rerr != nil {
		return
	}
	if fi, serr := os.Stat(real); serr == nil && fi.Mode().IsRegular() && inside(real) && !strings.HasPrefix(real, "/proc/") {
		t.Errorf("%s = %v, but it leads to the regular file %s inside %q", what, err, real, allowed)
	}
}

// BenchmarkOpen compares Open with os.Open for one file in a watched
// folder, directly and through a link in the same folder (discovery opens
// every file once: 10,000 files cost 10,000 × ns/op).
func BenchmarkOpen(b *testing.B) {
	base := realTempDir(b)
	dir := base + "/var/loglet/c/app/0"
	mustWrite(b, dir+"/app-2026-12-01.log", "x")
	mustLink(b, "app-2026-12-01.log", dir+"/app.log")
	globs := []string{dir + "/*.log", base + "/var/loglet/c/other/0/*.log"}
	for _, file := range []string{"app-2026-12-01.log", "app.log"} {
		path := dir + "/" + file
		b.Run("os.Open/"+file, func(b *testing.B) {
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
		for _, openat2 := range impls(b) {
			for _, mode := range []LinkMode{LinksStrict, LinksGlobRoots, LinksAny} {
				o := newTestOpener(b, globs, LinkPolicy{Mode: mode}, openat2)
				b.Run(implName(openat2)+"/"+mode.String()+"/"+file, func(b *testing.B) {
					for b.Loop() {
						f, err := o.Open(path)
						if err != nil {
							b.Fatal(err)
						}
						f.Close()
					}
				})
			}
		}
	}
}

// BenchmarkOpen10k opens and closes 10,000 files of one folder, as the
// discovery of a folder of 10,000 files does.
func BenchmarkOpen10k(b *testing.B) {
	dir := realTempDir(b) + "/c/app/0"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	paths := make([]string, 10_000)
	for i := range paths {
		paths[i] = fmt.Sprintf("%s/%05d.log", dir, i)
		if err := os.WriteFile(paths[i], []byte("x\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	openers := map[string]func(string) (*os.File, error){"os.Open": os.Open}
	for _, openat2 := range impls(b) {
		o := newTestOpener(b, []string{dir + "/*.log"}, LinkPolicy{Mode: LinksStrict}, openat2)
		openers[implName(openat2)+"/strict"] = o.Open
	}
	for _, name := range []string{"os.Open", "openat2/strict", "proc-fallback/strict"} {
		open, ok := openers[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for _, p := range paths {
					f, err := open(p)
					if err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
			}
		})
	}
}
