package bolt

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
)

// bbolt maps its file into memory and reads pages through the mapping.
// A page past the end of a file that was cut short (a full disk, a copy
// that stopped halfway) is not an error there but a SIGBUS, which kills
// the process with a stack trace that does not name the file. So the file
// is checked against what its meta pages say before bbolt opens it.
//
// The facts of bbolt's file format (version 2) this relies on: the file
// is a sequence of pages of one size; pages 0 and 1 are meta pages, each a
// 16-byte page header followed by the meta: magic, version, page size and
// flags (uint32 each), the root bucket (page id and sequence, uint64
// each), then the freelist page id, the high-water mark (the number of
// pages in use), the transaction id and the checksum (uint64 each). The
// checksum is FNV-1a (64 bit) of the meta's bytes before it. Integers are
// in the machine's byte order. bbolt uses the valid meta page with the
// higher transaction id, and needs every page below its high-water mark.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	metaSummed     = 56 // the bytes the checksum covers
	noFreelist     = ^uint64(0)
	// The page sizes bbolt looks for the second meta page at when the
	// first cannot be read: 1 KiB to 16 MiB.
	minPageSize = 1 << 10
	maxPageSize = 1 << 24
)

// meta is what check reads of a meta page.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // the high-water mark: pages in use
	txid     uint64
}

// recoverHint says what to do about a file check refuses.
const recoverHint = "move it aside (the server then starts with an empty store and fetches every credential from WeChat again)"

// check looks at the store file at path before bbolt maps it. It reports
// whether the file exists but is empty, and fails, naming the file and
// saying how to recover, when the file is shorter than its meta pages
// say it is. What it cannot judge (a file that does not exist, cannot be
// read, or has no valid meta page at all) it leaves to bbolt, which
// reports those without reading past the end of the file.
func check(path string) (empty bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, nil // a new file, or an error bbolt words better
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false, nil
	}
	size := fi.Size()
	if size == 0 {
		return true, nil
	}
	m0, ok0 := readMeta(f, 0)
	var m1 meta
	ok1 := false
	pageSize := int64(0)
	if ok0 {
		pageSize = int64(m0.pageSize)
		m1, ok1 = readMeta(f, pageSize)
	} else {
		// The first meta page is damaged: find the second, as bbolt
		// does, at each page size it could have been written with.
		for ps := int64(minPageSize); ps <= maxPageSize && ps < size; ps <<= 1 {
			if m, ok := readMeta(f, ps); ok && int64(m.pageSize) == ps {
				m1, ok1, pageSize = m, true, ps
				break
			}
		}
	}
	if !ok0 && !ok1 {
		return false, nil
	}
	use := m0
	if !ok0 || ok1 && m1.txid > m0.txid {
		use = m1
	}
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("bolt store %s: the file is damaged: %s; it was left untouched: %s",
			path, fmt.Sprintf(format, args...), recoverHint)
	}
	if pageSize < minPageSize || pageSize > maxPageSize || pageSize&(pageSize-1) != 0 {
		return false, damaged("its meta page gives a page size of %d bytes", pageSize)
	}
	if size%pageSize != 0 {
		return false, damaged("it was cut short: %d bytes is not a whole number of %d-byte pages", size, pageSize)
	}
	if need := use.pgid; need > uint64(size/pageSize) {
		return false, damaged("it was cut short: it is %d bytes, and its data needs %d pages of %d bytes (%d bytes)",
			size, need, pageSize, need*uint64(pageSize))
	}
	if use.root >= use.pgid || use.freelist != noFreelist && use.freelist >= use.pgid {
		return false, damaged("its meta page points past its last page")
	}
	return false, nil
}

// readMeta reads the meta page at offset off of f and reports whether it
// is a valid bbolt meta page of the version this program reads.
func readMeta(f *os.File, off int64) (meta, bool) {
	var b [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return meta{}, false // past the end, or unreadable: not a meta page
	}
	m := b[pageHeaderSize:]
	e := binary.NativeEndian
	if e.Uint32(m[0:]) != boltMagic || e.Uint32(m[4:]) != boltVersion {
		return meta{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaSummed])
	if h.Sum64() != e.Uint64(m[metaSummed:]) {
		return meta{}, false
	}
	return meta{
		pageSize: e.Uint32(m[8:]),
		root:     e.Uint64(m[16:]),
		freelist: e.Uint64(m[32:]),
		pgid:     e.Uint64(m[40:]),
		txid:     e.Uint64(m[48:]),
	}, true
}
