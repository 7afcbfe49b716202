package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/wxtoken/wxtoken"
)

// decodeEntry decodes the entry stored under key and checks that it
// belongs there. Like decodeCredential, it copies out of data.
func decodeEntry(key string, data []byte) (wxtoken.Entry, error) {
	var e wxtoken.Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return wxtoken.Entry{}, fmt.Errorf("decode entry %q: %w", key, err)
	}
	if e.ID != key {
		return wxtoken.Entry{}, fmt.Errorf("decode entry %q: the record is for %q", key, e.ID)
	}
	return e, nil
}

// checkText refuses an entry whose text JSON cannot carry as it is: the
// encoder would replace invalid UTF-8, and a sealed secret changed by one
// byte no longer opens.
func checkText(e wxtoken.Entry) error {
	fields := []struct{ name, value string }{{"id", e.ID}, {"name", e.Name}, {"secret", e.Secret}, {"note", e.Note}}
	for _, t := range e.Tags {
		fields = append(fields, struct{ name, value string }{"tag", t})
	}
	for _, f := range fields {
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("invalid entry %q: its %s is not valid UTF-8", e.ID, f.name)
		}
	}
	return nil
}

// GetEntry returns the entry id, or an error wrapping wxtoken.ErrNotFound.
func (s *Store) GetEntry(ctx context.Context, id string) (wxtoken.Entry, error) {
	if err := ctx.Err(); err != nil {
		return wxtoken.Entry{}, s.errorf("get entry %q: %w", id, err)
	}
	var e wxtoken.Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, entriesBucket)
		if err != nil {
			return err
		}
		data := b.Get([]byte(id))
		if data == nil {
			return wxtoken.ErrNotFound
		}
		e, err = decodeEntry(id, data)
		return err
	})
	if err != nil {
		return wxtoken.Entry{}, s.errorf("get entry %q: %w", id, err)
	}
	return e, nil
}

// ListEntries returns every entry, removed ones included, in ID order.
// One undecodable record fails the whole call, naming its key: a partial
// list would look like entries that were never registered.
func (s *Store) ListEntries(ctx context.Context) ([]wxtoken.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("list entries: %w", err)
	}
	list := []wxtoken.Entry{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, entriesBucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(string(k), v)
			if err != nil {
				return err
			}
			list = append(list, e)
			return nil
		})
	})
	if err != nil {
		return nil, s.errorf("list entries: %w", err)
	}
	return list, nil
}

// PutEntry stores e unless a record with an equal or higher Version is
// stored for e.ID, in which case it returns an error wrapping
// wxtoken.ErrStale. It returns nil only after the transaction committed,
// and bbolt fsyncs at every commit (the store never sets NoSync): a
// stored entry survives a crash of the process or the machine.
func (s *Store) PutEntry(ctx context.Context, e wxtoken.Entry) error {
	if err := e.Validate(); err != nil {
		return s.errorf("put entry: %w", err)
	}
	if err := checkText(e); err != nil {
		return s.errorf("put entry: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return s.errorf("put entry %q: %w", e.ID, err)
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	data, err := json.Marshal(e)
	if err != nil {
		return s.errorf("put entry %q: encode: %w", e.ID, err)
	}
	// Batched as Put is.
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := bucket(tx, entriesBucket)
		if err != nil {
			return err
		}
		if old := b.Get([]byte(e.ID)); old != nil {
			// As in Put: a record whose version cannot be read is
			// neither overwritten nor repaired.
			var stored struct {
				Version uint64 `json:"version"`
			}
			if err := json.Unmarshal(old, &stored); err != nil {
				return fmt.Errorf("decode stored entry %q: %w", e.ID, err)
			}
			if stored.Version >= e.Version {
				return fmt.Errorf("version %d is stored: %w", stored.Version, wxtoken.ErrStale)
			}
		}
		return b.Put([]byte(e.ID), data)
	})
	if err != nil {
		return s.errorf("put entry %q version %d: %w", e.ID, e.Version, err)
	}
	return nil
}
