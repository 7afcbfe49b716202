package memory_test

import (
	"errors"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/storetest"
	"github.com/wxtoken/wxtoken/memory"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) wxtoken.Store { return memory.New() })
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	c := wxtoken.Credential{AppID: "wx00000000000000aa", Kind: wxtoken.KindAccessToken, Value: "tok", Version: 1}
	if err := s.Put(ctx, c); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// After Close every call fails, and not with ErrNotFound, which a
	// caller would take for "fetch a new one".
	_, err := s.Get(ctx, c.AppID, c.Kind)
	if err == nil || errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("Get after Close: err = %v, want a closed-store error", err)
	}
	if _, err := s.List(ctx); err == nil {
		t.Error("List after Close succeeded")
	}
	c.Version = 2
	if err := s.Put(ctx, c); err == nil {
		t.Error("Put after Close succeeded")
	}
	if _, err := s.GetLedger(ctx, c.AppID); err == nil || errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("GetLedger after Close: err = %v, want a closed-store error", err)
	}
	if err := s.PutLedger(ctx, wxtoken.Ledger{AppID: c.AppID}); err == nil {
		t.Error("PutLedger after Close succeeded")
	}
}
