//go:build !unix

package config

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// readSmall reads a small file such as a secret file whole, refusing one
// larger than maxSecretFileSize. Errors are *fs.PathError, as
// os.ReadFile's.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read-only: nothing to flush
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxSecretFileSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errFileTooLarge}
	}
	return data, nil
}
