package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
)

// newClientKey returns a random client key: 32 bytes from the system's
// CSPRNG, URL-safe base64 with a recognizable prefix.
func newClientKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "wxt_" + base64.RawURLEncoding.EncodeToString(b)
}

// keyHash is the key_sha256 value the config stores for a client key.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", stderr)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	key := newClientKey()
	fmt.Fprintf(stdout, "key:        %s\n", key)
	fmt.Fprintf(stdout, "key_sha256: %q\n", keyHash(key))
	fmt.Fprintln(stdout, "\nGive the key to the client (Authorization: Bearer <key>); put only the key_sha256 line in the config.")
	return nil
}
