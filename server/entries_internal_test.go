package server

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

// On a shared store, entries that cannot be read at start are read in the
// background once the store answers; on another store the start fails.
func TestStartEntriesRetriesOnASharedStore(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	defer s.Close()
	away := errors.New("the store is away")
	if err := s.startEntries(context.Background(), false, "entries", func(context.Context) error { return away }); !errors.Is(err, away) {
		t.Fatalf("solo: %v, want the store's error", err)
	}
	tries, read := 0, make(chan struct{})
	start := func(context.Context) error {
		tries++
		if tries < 3 {
			return away
		}
		close(read)
		return nil
	}
	if err := s.startEntries(context.Background(), true, "entries", start); err != nil {
		t.Fatalf("shared: %v, want the start to go on", err)
	}
	<-read
	if tries != 3 {
		t.Fatalf("%d tries, want 3", tries)
	}
}
