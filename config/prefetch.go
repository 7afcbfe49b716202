package config

import (
	"errors"
	"runtime"
	"sync"
)

// maxSecretFileSize bounds a file that holds one secret value: an
// AppSecret is 32 characters, a key or token a few dozen. A larger file is
// refused rather than read whole, so that a path mistyped to name a log or
// a disk image fails at once and clearly.
const maxSecretFileSize = 64 << 10

// errFileTooLarge is the reason a secret file over maxSecretFileSize is
// refused.
var errFileTooLarge = errors.New("file is larger than 64 KiB; it should hold only the value")

// fileRead is one secret file read ahead of the checks.
type fileRead struct {
	data []byte
	err  error
}

// prefetchMin is the number of secret files from which they are read
// ahead, several at once.
const prefetchMin = 64

// prefetch reads the apps' secret files several at a time, ahead of the
// checks, which then take them in order as if read one by one: at 100,000
// apps, opening and reading 100,000 files one after the other is over a
// second of a start.
func (ch *checker) prefetch(c *Config) {
	var paths []string
	for i := range c.Apps {
		if f := c.Apps[i].SecretFile; f != "" {
			paths = append(paths, ch.path(f))
		}
	}
	if len(paths) < prefetchMin {
		return
	}
	reads := make([]fileRead, len(paths))
	// Reading files is mostly waiting on system calls: a few more readers
	// than CPUs keep them busy.
	workers := min(4*runtime.GOMAXPROCS(0), len(paths))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(paths); i += workers {
				reads[i].data, reads[i].err = readSmall(paths[i])
			}
		})
	}
	wg.Wait()
	ch.files = make(map[string]fileRead, len(paths))
	for i, p := range paths {
		ch.files[p] = reads[i]
	}
}

// readFile returns the contents of the file at path (resolved), from the
// files read ahead if it is one of them.
func (ch *checker) readFile(path string) ([]byte, error) {
	if r, ok := ch.files[path]; ok {
		return r.data, r.err
	}
	return readSmall(path)
}
