package redis_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/redistest"
)

// A record that cannot be decoded fails GetLedgers as it fails GetLedger,
// naming its key, in whichever MGET round trip it comes.
func TestGetLedgersReportsCorruptRecord(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr)
	tag := "{" + prefix + "}"
	s := open(t, addr, prefix, "replica-a", nil)
	defer s.Close()
	ctx := t.Context()

	ids := make([]string, 2500)
	for i := range ids {
		ids[i] = fmt.Sprintf("wx%016x", i)
	}
	good := wxtoken.Ledger{AppID: ids[3], QuotaDay: "2025-03-01", TokenCalls: 3}
	if err := s.PutLedger(ctx, good); err != nil {
		t.Fatalf("PutLedger: %v", err)
	}
	c := newClient(t, addr)
	for _, i := range []int{1200, 2400} {
		if err := c.Set(ctx, tag+"meta:"+ids[i], `{"appid": "wx`, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	got, err := s.GetLedgers(ctx, ids)
	if err == nil {
		t.Fatalf("GetLedgers with a corrupt record = %d ledgers, want an error", len(got))
	}
	if got != nil {
		t.Errorf("GetLedgers with a corrupt record returned %d ledgers along with its error", len(got))
	}
	for _, part := range []string{tag + "meta:" + ids[1200], "corrupt"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("GetLedgers with a corrupt record: error %q does not contain %q", err, part)
		}
	}
	if strings.Contains(err.Error(), ids[2400]) {
		t.Errorf("GetLedgers named the corrupt record asked for later: %v", err)
	}
	if errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("GetLedgers with a corrupt record reports ErrNotFound: %v", err)
	}
	_, one := s.GetLedger(ctx, ids[1200])
	if one == nil || !strings.Contains(one.Error(), tag+"meta:"+ids[1200]) {
		t.Errorf("GetLedger of the corrupt record: %v", one)
	}

	// The intact records around it are read.
	got, err = s.GetLedgers(ctx, ids[:1200])
	if err != nil || len(got) != 1200 || got[3].AppID != good.AppID || got[3].TokenCalls != good.TokenCalls || got[4].AppID != "" {
		t.Errorf("GetLedgers of intact records: %v; ledger 3 = %+v, want %+v", err, got[3:min(len(got), 5)], good)
	}
}

// GetLedgers turns the times stored on Redis's clock into the reader's
// clock as GetLedger does, when the writer's clock is another.
func TestGetLedgersOnAnotherClock(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr)
	const skew = 3 * time.Hour
	ahead := func() time.Time { return time.Now().Add(skew) }
	w := open(t, addr, prefix, "replica-ahead", ahead)
	defer w.Close()
	r := open(t, addr, prefix, "replica-b", nil)
	defer r.Close()
	ctx := t.Context()

	at := ahead()
	written := wxtoken.Ledger{
		AppID: "wx00000000000000aa", QuotaDay: "2025-03-01", TokenCalls: 5,
		ForceRefreshes: []time.Time{at.Add(-time.Minute), at}, MintAttemptAt: at, LastMintAt: at, LastMintBy: "replica-ahead",
		AbandonedMintAt: at.Add(-time.Second), KilledVersion: 2,
		TokenFailure: &wxtoken.Failure{Count: 1, RetryAt: at.Add(time.Minute), Error: wxtoken.ErrorInfo{Class: "network", Message: "timeout", At: at}},
	}
	if err := w.PutLedger(ctx, written); err != nil {
		t.Fatalf("PutLedger: %v", err)
	}
	ids := []string{"wx00000000000000bb", written.AppID}
	got, err := r.GetLedgers(ctx, ids)
	if err != nil || len(got) != 2 {
		t.Fatalf("GetLedgers = %+v, %v; want two ledgers", got, err)
	}
	if !reflect.DeepEqual(got[0], wxtoken.Ledger{}) {
		t.Errorf("GetLedgers of an app with nothing stored = %+v, want the zero Ledger", got[0])
	}
	one, err := r.GetLedger(ctx, written.AppID)
	if err != nil {
		t.Fatalf("GetLedger: %v", err)
	}
	if !reflect.DeepEqual(got[1], one) {
		t.Errorf("GetLedgers and GetLedger differ:\n got %+v\nwant %+v", got[1], one)
	}
	// The reader's clock is skew behind the writer's; the offsets are
	// measured to within a round trip.
	if d := written.MintAttemptAt.Add(-skew).Sub(got[1].MintAttemptAt); d > time.Second || d < -time.Second {
		t.Errorf("MintAttemptAt read on the other clock is off by %s from the written time less %s", d, skew)
	}
}
