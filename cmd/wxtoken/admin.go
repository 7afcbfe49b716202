package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/bolt"
)

// storeTimeout is the default --timeout of the verbs that work through a
// whole store, which may take minutes where a token takes milliseconds.
const storeTimeout = 10 * time.Minute

// addStoreClientFlags is addClientFlags with the longer default timeout.
func addStoreClientFlags(fs *flag.FlagSet, jsonUsage string) *clientFlags {
	cf := addClientFlags(fs, jsonUsage)
	cf.timeout = storeTimeout
	fs.Lookup("timeout").DefValue = storeTimeout.String()
	return cf
}

// runRekey has the server seal every secret of its store again under its
// primary encryption key. It exits 1 when any entry could not be
// re-sealed: the previous key is still needed then.
func runRekey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rekey", stderr)
	cf := addStoreClientFlags(fs, "print the server's answer as JSON")
	c, err := cf.clientWithoutArgs(fs, args)
	if err != nil {
		return err
	}
	res, err := c.Rekey(ctx)
	if err != nil {
		return clientFailure(err)
	}
	if cf.json {
		out := struct {
			Resealed int      `json:"resealed"`
			Current  int      `json:"current"`
			Failed   []string `json:"failed"`
		}{res.Resealed, res.Current, res.Failed}
		if err := printJSON(stdout, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "re-sealed under the primary key: %d\nalready sealed under it: %d\nfailed: %d\n", res.Resealed, res.Current, len(res.Failed))
		for _, id := range res.Failed {
			fmt.Fprintf(stdout, "  %s\n", id)
		}
	}
	if len(res.Failed) > 0 {
		return fmt.Errorf("%d entries are not sealed under the primary key (no configured key opens them, or they could not be written; the server's log says which): keep the previous key until they are dealt with", len(res.Failed))
	}
	if !cf.json {
		fmt.Fprintln(stdout, "every stored secret is sealed under the primary key: the previous key can be removed from the config")
	}
	return nil
}

// runBackup downloads a copy of the server's store, checks that it opens
// as a bolt store, and only then puts it at --out.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", stderr)
	cf := addStoreClientFlags(fs, "")
	out := fs.String("out", "", "the `FILE` to write the backup to (required)")
	force := fs.Bool("force", false, "replace FILE if it exists")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	case *out == "":
		return fmt.Errorf("%w: --out FILE is required", errUsage)
	}
	if !*force {
		if _, err := os.Lstat(*out); err == nil {
			return fmt.Errorf("%s exists: pass --force to replace it", *out)
		}
	}
	c, err := cf.client(os.LookupEnv)
	if err != nil {
		return err
	}
	// Downloaded next to FILE, so that the rename that puts it in place
	// is atomic, and with mode 0600: the file holds live access tokens.
	dir := filepath.Dir(*out)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(*out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	placed := false
	defer func() {
		if !placed {
			os.Remove(tmpPath)
		}
	}()
	n, err := c.Backup(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return clientFailure(err)
	}
	counts, err := checkBackup(ctx, tmpPath)
	if err != nil {
		return fmt.Errorf("the server's backup does not open as a store; nothing was written to %s: %w", *out, err)
	}
	if err := place(tmpPath, *out, *force); err != nil {
		return err
	}
	placed = true
	if err := syncDir(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d bytes, %d entries, %d credentials, %d app bookkeeping records\n",
		*out, n, counts.entries, counts.credentials, counts.ledgers)
	return nil
}

// backupCounts are what a backup holds.
type backupCounts struct {
	entries, credentials, ledgers int
}

// checkBackup opens the backup at path as a bolt store (which checks the
// whole file) and counts what it holds: every entry and credential, and
// the bookkeeping of the ids they name. Nothing is opened: the secrets
// stay sealed.
func checkBackup(ctx context.Context, path string) (backupCounts, error) {
	var n backupCounts
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return n, err
	}
	defer st.Close()
	entries, err := st.ListEntries(ctx)
	if err != nil {
		return n, err
	}
	creds, err := st.List(ctx)
	if err != nil {
		return n, err
	}
	n.entries, n.credentials = len(entries), len(creds)
	seen := map[string]bool{}
	ids := make([]string, 0, len(entries)+len(creds))
	for _, e := range entries {
		ids = append(ids, e.ID)
	}
	for _, c := range creds {
		ids = append(ids, c.AppID)
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		switch _, err := st.GetLedger(ctx, id); {
		case err == nil:
			n.ledgers++
		case !errors.Is(err, wxtoken.ErrNotFound):
			return n, err
		}
	}
	return n, st.Close()
}

// place moves the checked backup at tmp to out: over an existing out
// with force, else only if out does not exist, which a hard link checks
// and creates in one step.
func place(tmp, out string, force bool) error {
	if force {
		if err := os.Rename(tmp, out); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	}
	err := os.Link(tmp, out)
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s appeared during the backup: pass --force to replace it", out)
	case err != nil:
		// A file system without hard links: check, then rename.
		if _, serr := os.Lstat(out); serr == nil {
			return fmt.Errorf("%s appeared during the backup: pass --force to replace it", out)
		}
		if err := os.Rename(tmp, out); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	}
	// Linked: the temporary name goes.
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// syncDir makes the new name of the backup durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("backup: sync %s: %w", dir, err)
	}
	return nil
}
