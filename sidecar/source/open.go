//go:build linux

// The beneath-open needs openat2(2) or /proc/self/fd, both Linux's; other
// systems need their own NewOpener before the agent can use it there.

package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// LinkMode says which folders a log file may lie in once its symlinks are
// resolved.
type LinkMode int

const (
	// LinksStrict: a path a glob matches must resolve beneath that glob's
	// static root (its leading folders without glob characters). In a pod an
	// app's link then reaches neither the agent's state, nor its credentials,
	// nor another container's folder on the same volume. Sidecar mode.
	LinksStrict LinkMode = iota
	// LinksGlobRoots: beneath the static root of any glob. Local mode.
	LinksGlobRoots
	// LinksAny: links are followed anywhere (--follow-symlinks). Only
	// regular files are still opened, and never through a magic link.
	LinksAny
)

func (m LinkMode) String() string {
	switch m {
	case LinksStrict:
		return "strict"
	case LinksGlobRoots:
		return "glob-roots"
	case LinksAny:
		return "any"
	}
	return "LinkMode(" + strconv.Itoa(int(m)) + ")"
}

// LinkPolicy says where a log file may lie once its links are resolved.
type LinkPolicy struct {
	Mode LinkMode
	// Extra folders every path may lead into besides its glob roots, e.g.
	// /var/lib/docker/containers in node mode, where the kubelet's
	// /var/log/pods/.../0.log links to Docker's json-file.
	Extra []string
	// OutsideFix, if set, replaces the default advice in an outside-root
	// refusal (the caller knows its mode's flags).
	OutsideFix string
}

// Reasons of a RefusedError, short enough to be a metric label value
// (loglet_files_refused_total{reason}).
const (
	ReasonOutsideRoot = "outside-root"
	ReasonNotRegular  = "not-regular"
	ReasonLoop        = "loop"
)

// RefusedError says why Open would not open a log file.
type RefusedError struct {
	Path   string // the path asked for
	Target string // where its links lead ("" when not resolved)
	Reason string // one of the Reason constants
	Detail string // what was wrong and how to fix it
}

func (e *RefusedError) Error() string {
	if e.Target != "" && e.Target != e.Path {
		return fmt.Sprintf("refused to open log file %q, which leads to %q: %s", e.Path, e.Target, e.Detail)
	}
	return fmt.Sprintf("refused to open log file %q: %s", e.Path, e.Detail)
}

// Opener opens log files so that the object opened lies beneath a folder
// the policy allows, whatever links the folders hold and however they
// change while it looks. It holds no descriptors and is safe for
// concurrent use.
type Opener struct {
	mode       LinkMode
	globs      [][]string // the include globs split into elements
	globRoot   []*root    // globRoot[i] is the static root of globs[i]
	roots      []*root    // every distinct glob root
	extra      []*root
	any        *root // "/" for LinksAny
	outsideFix string
	// openat2 is false on kernels older than 5.6 (ENOSYS) and where a
	// seccomp profile refuses the call (EPERM): then the fallback open is
	// used (see openBeneath).
	openat2 bool
}

// NewOpener builds an Opener for the include globs (absolute, as the
// Matcher takes them). Roots that exist are resolved now (a root may itself
// be a link, e.g. /var/log -> /private/var/log); the others when a file
// below them is first opened.
func NewOpener(globs []string, policy LinkPolicy) (*Opener, error) {
	o := &Opener{mode: policy.Mode, outsideFix: policy.OutsideFix, openat2: probeOpenat2()}
	switch policy.Mode {
	case LinksStrict, LinksGlobRoots, LinksAny:
	default:
		return nil, fmt.Errorf("unknown link mode %d; use LinksStrict, LinksGlobRoots or LinksAny", policy.Mode)
	}
	byName := map[string]*root{}
	rootOf := func(dir string) *root {
		if r, ok := byName[dir]; ok {
			return r
		}
		r := newRoot(dir)
		byName[dir] = r
		return r
	}
	for _, g := range globs {
		if !filepath.IsAbs(g) {
			return nil, fmt.Errorf("path %q: must be absolute, e.g. /var/log/app/*.log", g)
		}
		g = filepath.Clean(g)
		r := rootOf(staticRoot(g))
		o.globs = append(o.globs, strings.Split(g, "/"))
		o.globRoot = append(o.globRoot, r)
	}
	for _, r := range byName {
		o.roots = append(o.roots, r)
	}
	for _, dir := range policy.Extra {
		if !filepath.IsAbs(dir) {
			return nil, fmt.Errorf("allowed folder %q: must be absolute, e.g. /var/lib/docker/containers", dir)
		}
		o.extra = append(o.extra, rootOf(filepath.Clean(dir)))
	}
	if policy.Mode == LinksAny {
		o.any = &root{name: "/", real: "/"}
	}
	return o, nil
}

// probeOpenat2 reports whether openat2(2) can be used here.
func probeOpenat2() bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// root is a folder files may lie beneath, resolved once.
type root struct {
	name string // as configured, cleaned
	// anchor is the real path of the deepest folder of name that existed
	// when the Opener was built. A root that appears later must resolve
	// beneath it: a folder planted later on a shared volume as a link to /
	// must not widen what may be opened.
	anchor string

	mu   sync.Mutex
	real string // resolved path; "" until the folder exists
}

func newRoot(name string) *root {
	r := &root{name: name}
	if real, err := filepath.EvalSymlinks(name); err == nil {
		r.real = real
		return r
	}
	for dir := filepath.Dir(name); ; dir = filepath.Dir(dir) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			r.anchor = real
			return r
		}
		if dir == "/" {
			r.anchor = "/"
			return r
		}
	}
}

// resolved returns the root's real path, or "" while it does not exist or
// leads outside its anchor.
func (r *root) resolved() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.real != "" {
		return r.real
	}
	real, err := filepath.EvalSymlinks(r.name)
	if err != nil || !within(real, r.anchor) {
		return ""
	}
	r.real = real
	return real
}

// within reports whether path is dir or lies beneath it (both clean and
// absolute).
func within(path, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// allowed lists the roots path may resolve beneath.
func (o *Opener) allowed(path string) []*root {
	if o.any != nil {
		return []*root{o.any}
	}
	var out []*root
	if o.mode == LinksGlobRoots {
		out = append(out, o.roots...)
	} else {
		parts := strings.Split(path, "/")
		for i, g := range o.globs {
			if matchParts(g, parts) {
				out = append(out, o.globRoot[i])
			}
		}
		if len(out) == 0 {
			// A path no glob matches, e.g. a rotated copy beside a
			// matched file: the roots it is named under.
			for _, r := range o.roots {
				if within(path, r.name) {
					out = append(out, r)
				}
			}
		}
	}
	return append(out, o.extra...)
}

// maxAttempts bounds how often Open resolves a path again when its links
// changed between resolving and opening (a rotation relinking app.log, or
// an attacker swapping a link): it then refuses rather than loop.
const maxAttempts = 3

// Open opens path for reading like os.Open, but only if what it leads to
// is a regular file beneath a folder the policy allows; otherwise it
// returns a *RefusedError. A path that does not exist gives an error
// satisfying errors.Is(err, fs.ErrNotExist).
//
// A path named beneath an allowed root is first opened as named relative
// to it (openNamed). Otherwise, or when that leads out, Open resolves the
// path's links with filepath.EvalSymlinks to find which allowed root it
// lands in, then opens the resolved path relative to that root so that the
// object opened lies beneath it even if a link is swapped in between
// (openBeneath). FIFOs are opened non-blocking, so a FIFO planted under a
// .log name cannot stall the agent, and then refused.
//
// In LinksStrict mode a path no glob matches (a rotated copy beside a
// matched file) may lead beneath the roots it is named under.
func (o *Opener) Open(path string) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("log file path %q must be absolute", path)
	}
	path = filepath.Clean(path)
	roots := o.allowed(path)
	if len(roots) == 0 {
		return nil, o.outside(path, "")
	}
	if f, done, err := o.openNamed(path, roots); done {
		return f, err
	}
	var last error
	for range maxAttempts {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			// EvalSymlinks says "too many links" without an errno; a stat
			// tells a loop from a file that is gone.
			if _, serr := os.Stat(path); errors.Is(serr, unix.ELOOP) {
				return nil, &RefusedError{Path: path, Reason: ReasonLoop,
					Detail: "its symlinks form a loop; fix or remove the link"}
			}
			return nil, fmt.Errorf("open log file: %w", err)
		}
		var base, rel string
		for _, r := range roots {
			rr := r.resolved()
			if rr != "" && within(real, rr) {
				base = rr
				rel, _ = filepath.Rel(rr, real)
				break
			}
		}
		if base == "" {
			return nil, o.outside(path, real)
		}
		f, err := o.openBeneath(base, rel, path)
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, errChanged):
			last = err // a link changed since EvalSymlinks: look again
			continue
		}
		var refused *RefusedError
		if errors.As(err, &refused) {
			refused.Path, refused.Target = path, real
			return nil, refused
		}
		return nil, fmt.Errorf("open log file %q: %w", path, err)
	}
	r := o.outside(path, "")
	r.Detail = "its links kept changing while it was opened (" + last.Error() + "); " + r.Detail
	return nil, r
}

// openNamed is Open's fast path: most log files are plain files, or links
// to files in the same folder, named beneath their root. Opened as named
// relative to the root with RESOLVE_BENEATH, they need no lstat of every
// folder on the way (EvalSymlinks), which halves the cost of an open; the
// kernel still refuses any step out of the root. It is done (false) when
// the path leads out, through an absolute link (which RESOLVE_BENEATH
// refuses even when it points back inside) or a magic link, or into a
// loop: then Open finds where it leads.
func (o *Opener) openNamed(path string, roots []*root) (*os.File, bool, error) {
	if !o.openat2 {
		return nil, false, nil
	}
	for _, r := range roots {
		if !within(path, r.name) {
			continue
		}
		base := r.resolved()
		if base == "" {
			continue
		}
		rel, _ := filepath.Rel(r.name, path)
		f, err := openat2Beneath(base, rel, path)
		var refused *RefusedError
		switch {
		case err == nil:
			return f, true, nil
		case errors.Is(err, errChanged):
			return nil, false, nil
		case errors.As(err, &refused):
			refused.Path = path
			if real, err := filepath.EvalSymlinks(path); err == nil {
				refused.Target = real
			}
			return nil, true, refused
		}
		return nil, true, fmt.Errorf("open log file %q: %w", path, err)
	}
	return nil, false, nil
}

func (o *Opener) outside(path, target string) *RefusedError {
	var where []string
	for _, r := range o.allowed(path) {
		where = append(where, r.name)
	}
	fix := o.outsideFix
	if fix == "" {
		switch o.mode {
		case LinksStrict:
			fix = "a link in a watched folder may only lead to a file in the folder its glob names; write the log file there instead of linking to it"
		default:
			fix = "move the file into a watched folder, or follow links anywhere with --follow-symlinks"
		}
	}
	detail := "it is outside the folders its glob allows"
	if len(where) == 0 {
		detail = "no glob names it"
	} else {
		detail += " (" + strings.Join(where, ", ") + ")"
	}
	return &RefusedError{Path: path, Target: target, Reason: ReasonOutsideRoot, Detail: detail + "; " + fix}
}

// errChanged says the path's links changed between resolving and opening.
var errChanged = errors.New("a link changed while the file was opened")

const (
	openFlags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	// procSuperMagic and sysfsMagic: statfs f_type of /proc and /sys, whose
	// files look regular but are not logs (/proc/self/environ).
	procSuperMagic = 0x9fa0
	sysfsMagic     = 0x62656572
)

// openBeneath opens rel (clean, relative, normally without links) beneath
// the folder base (a real path, without links) and returns it as a file
// named name, only if the object opened is a regular file beneath base.
//
// With openat2(2) (Linux ≥ 5.6) the kernel does the check during the
// lookup: base is opened with RESOLVE_NO_SYMLINKS (it was resolved, so a
// link there now means it was replaced), then rel relative to it with
// RESOLVE_BENEATH (any step out of base, by "..", an absolute link or a
// mount jump, fails with EXDEV) and RESOLVE_NO_MAGICLINKS (no
// /proc/self/root or /proc/self/fd tricks). That is race-free without
// /proc and costs no extra syscalls, which is why it is preferred.
//
// Without openat2 (ENOSYS on older kernels, or EPERM from a seccomp
// profile that does not know it) the path is opened with O_PATH|O_NOFOLLOW
// (which opens no device and blocks on no FIFO), and the real path of the
// object actually opened is read back from /proc/self/fd/N: if a link was
// swapped in meanwhile, it is not base/rel. Only a regular file beneath base is
// then reopened for reading through that same descriptor.
func (o *Opener) openBeneath(base, rel, name string) (*os.File, error) {
	if o.openat2 {
		return openat2Beneath(base, rel, name)
	}
	return procBeneath(base, rel, name)
}

func openat2Beneath(base, rel, name string) (*os.File, error) {
	dfd, err := unix.Openat2(unix.AT_FDCWD, base, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, &RefusedError{Reason: ReasonOutsideRoot,
				Detail: fmt.Sprintf("its folder %q was replaced by a link after loglet started; restore the folder", base)}
		}
		return nil, &os.PathError{Op: "openat2", Path: base, Err: err}
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat2(dfd, rel, &unix.OpenHow{
		Flags:   openFlags,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ELOOP):
		// EXDEV: the lookup tried to leave base; EAGAIN: a rename raced
		// the lookup; ELOOP: a link appeared. Resolve again.
		return nil, fmt.Errorf("%w: openat2 %q beneath %q: %w", errChanged, rel, base, err)
	case errors.Is(err, unix.ENXIO):
		return nil, notRegular("a socket")
	case err != nil:
		return nil, &os.PathError{Op: "openat2", Path: filepath.Join(base, rel), Err: err}
	}
	if err := checkRegular(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func procBeneath(base, rel, name string) (*os.File, error) {
	pfd, err := unix.Open(filepath.Join(base, rel), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(base, rel), Err: err}
	}
	defer unix.Close(pfd)
	proc := "/proc/self/fd/" + strconv.Itoa(pfd)
	real, err := os.Readlink(proc)
	if err != nil {
		return nil, fmt.Errorf("cannot tell where the opened file lies (is /proc mounted?): %w", err)
	}
	// rel was resolved and held no links, so the object must lie exactly
	// where base/rel names it. Anything else (a link swapped in, a path
	// through /proc/self/root, a file deleted meanwhile) is looked at again.
	if want := filepath.Join(base, rel); real != want || !within(real, base) {
		return nil, fmt.Errorf("%w: %q opened %q, not %q", errChanged, rel, real, want)
	}
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: real, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// O_NOFOLLOW opened a link that was not there when resolved.
		return nil, fmt.Errorf("%w: %q is now a link", errChanged, real)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, notRegular(fileKind(st.Mode))
	}
	// Reopening through our own descriptor's /proc link gives the very
	// inode checked above, whatever the path names now.
	fd, err := unix.Open(proc, openFlags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "reopen", Path: real, Err: err}
	}
	if err := checkRegular(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// checkRegular refuses an open descriptor that is not a regular file on a
// real file system.
func checkRegular(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return notRegular(fileKind(st.Mode))
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return fmt.Errorf("fstatfs: %w", err)
	}
	if sfs.Type == procSuperMagic || sfs.Type == sysfsMagic {
		return notRegular("a /proc or /sys file")
	}
	return nil
}

func notRegular(kind string) *RefusedError {
	return &RefusedError{Reason: ReasonNotRegular,
		Detail: "it is " + kind + ", not a regular file; loglet reads only regular files — remove it or leave it out with --exclude"}
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO (named pipe)"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symlink"
	}
	return fmt.Sprintf("of type %#o", mode&unix.S_IFMT)
}
