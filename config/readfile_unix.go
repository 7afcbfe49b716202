//go:build unix

package config

import (
	"io/fs"
	"syscall"
)

// readSmall reads a small file such as a secret file whole, with the
// fewest system calls: open, read until the end, close. os.ReadFile also
// asks for the file's size, and os.Open switches the descriptor to
// non-blocking, offers it to the network poller and switches it back, a
// cost that counts when a config names 100,000 secret files (over half of
// the CPU time of loading such a config went there). Errors are
// *fs.PathError, as os.ReadFile's.
func readSmall(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer func() { _ = syscall.Close(fd) }() // read-only: nothing to flush
	buf := make([]byte, 0, 128)
	for {
		if len(buf) > maxSecretFileSize {
			return nil, &fs.PathError{Op: "read", Path: path, Err: errFileTooLarge}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}
