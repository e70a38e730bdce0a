package source

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/loglet/loglet/sidecar/record"
)

// FingerprintSize is how many leading bytes of a file tell it apart from
// another file that got the same inode after the first was deleted.
const FingerprintSize = 1024

// FileInfo is what a stat tells about a file's identity and length.
type FileInfo struct {
	Dev, Inode uint64
	Size       int64
	Nlink      uint64
	// ModTime is the modification time in Unix nanoseconds.
	ModTime int64
}

// StatFile stats f (an open file; it follows the file, not the name).
func StatFile(f *os.File) (FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return FileInfo{}, err
	}
	return infoOf(fi)
}

// StatPath stats the file at path.
func StatPath(path string) (FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, err
	}
	return infoOf(fi)
}

func infoOf(fi os.FileInfo) (FileInfo, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileInfo{}, fmt.Errorf("%s: no device and inode on this platform", fi.Name())
	}
	return FileInfo{Dev: uint64(st.Dev), Inode: uint64(st.Ino), Size: fi.Size(), Nlink: uint64(st.Nlink), ModTime: fi.ModTime().UnixNano()}, nil
}

// Fingerprint hashes the first n bytes of r (fewer if the file is shorter)
// and says how many it covered.
func Fingerprint(r io.ReaderAt, n int) (string, int, error) {
	buf := make([]byte, n)
	got, err := r.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return "", 0, err
	}
	return hashPrefix(buf[:got]), got, nil
}

func hashPrefix(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Identify returns the identity of an open file.
func Identify(f *os.File) (record.Identity, FileInfo, error) {
	info, err := StatFile(f)
	if err != nil {
		return record.Identity{}, info, err
	}
	fp, n, err := Fingerprint(f, FingerprintSize)
	if err != nil {
		return record.Identity{}, info, err
	}
	return record.Identity{Dev: info.Dev, Inode: info.Inode, FingerprintLen: n, Fingerprint: fp}, info, nil
}

// SameHead reports whether r starts with the bytes id was fingerprinted
// from. It is what a File that reads r checks as it goes: content replaced
// under an open descriptor (copytruncate, a truncation) changes the head.
func SameHead(r io.ReaderAt, id record.Identity) bool {
	if id.FingerprintLen == 0 {
		return true
	}
	fp, n, err := Fingerprint(r, id.FingerprintLen)
	return err == nil && n == id.FingerprintLen && fp == id.Fingerprint
}

// SameContent reports whether r holds the content id describes: the same
// first bytes and the same bytes before the checkpointed offset. It is the
// same file, or a copy of it (copytruncate).
func SameContent(r io.ReaderAt, id record.Identity) bool {
	return SameHead(r, id) && SameTail(r, id)
}

// SameTail reports whether r holds, just before the checkpointed offset,
// the bytes id's tail fingerprint was taken from (true when id has none).
func SameTail(r io.ReaderAt, id record.Identity) bool {
	if id.TailLen == 0 {
		return true
	}
	var arr [FingerprintSize]byte
	buf := arr[:min(id.TailLen, FingerprintSize)]
	n, err := r.ReadAt(buf, id.TailAt-int64(len(buf)))
	return (err == nil || err == io.EOF) && n == id.TailLen && hashPrefix(buf) == id.Tail
}

// WithTail returns id with the tail fingerprint of data, the file's bytes
// that end at offset end (their last FingerprintSize bytes count).
func WithTail(id record.Identity, data []byte, end int64) record.Identity {
	if len(data) == 0 {
		return id
	}
	data = data[max(len(data)-FingerprintSize, 0):]
	id.TailAt, id.TailLen, id.Tail = end, len(data), hashPrefix(data)
	return id
}
