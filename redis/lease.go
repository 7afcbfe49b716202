package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
)

// leaseValue is what a lease key holds: the owner and the fencing token.
func leaseValue(l wxtoken.Lease) string {
	return l.Owner + "|" + strconv.FormatUint(l.Token, 10)
}

// acquireScript takes a free lease with SET NX PX under a new fencing
// token. KEYS: lease, fence. ARGV: owner, ttl in ms. Returns {1, token}
// when taken, {0, current value} when held.
var acquireScript = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  return {0, cur}
end
local tok = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. tok, 'NX', 'PX', ARGV[2])
return {1, tok}
`)

// renewScript extends a lease still held with the same value.
// KEYS: lease. ARGV: value, ttl in ms. Returns 1 when renewed.
var renewScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes a lease still held with the same value.
// KEYS: lease. ARGV: value.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

func ttlMillis(ttl time.Duration) (string, error) {
	ms := ttl.Milliseconds()
	if ms < 1 {
		return "", fmt.Errorf("lease ttl %v is under a millisecond", ttl)
	}
	return strconv.FormatInt(ms, 10), nil
}

// AcquireLease implements wxtoken.Coordinator.
func (s *Store) AcquireLease(ctx context.Context, name string, ttl time.Duration) (wxtoken.Lease, error) {
	ms, err := ttlMillis(ttl)
	if err != nil {
		return wxtoken.Lease{}, fmt.Errorf("redis store: acquire lease %s: %w", name, err)
	}
	res, err := acquireScript.Run(ctx, s.c, []string{s.k.lease(name), s.k.fence(name)}, s.owner, ms).Slice()
	if err != nil {
		return wxtoken.Lease{}, fmt.Errorf("redis store: acquire lease %s: %w", name, err)
	}
	if len(res) == 2 {
		switch ok, _ := res[0].(int64); ok {
		case 1:
			if tok, isInt := res[1].(int64); isInt && tok > 0 {
				return wxtoken.Lease{Name: name, Owner: s.owner, Token: uint64(tok)}, nil
			}
		case 0:
			holder, _ := res[1].(string)
			return wxtoken.Lease{}, fmt.Errorf("redis store: lease %s is held by %s: %w", name, ownerOf(holder), wxtoken.ErrLeaseHeld)
		}
	}
	return wxtoken.Lease{}, fmt.Errorf("redis store: acquire lease %s: unexpected script answer %v", name, res)
}

// RenewLease implements wxtoken.Coordinator.
func (s *Store) RenewLease(ctx context.Context, l wxtoken.Lease, ttl time.Duration) error {
	ms, err := ttlMillis(ttl)
	if err != nil {
		return fmt.Errorf("redis store: renew lease %s: %w", l.Name, err)
	}
	n, err := renewScript.Run(ctx, s.c, []string{s.k.lease(l.Name)}, leaseValue(l), ms).Int64()
	if err != nil {
		return fmt.Errorf("redis store: renew lease %s: %w", l.Name, err)
	}
	if n != 1 {
		return fmt.Errorf("redis store: renew lease %s token %d: %w", l.Name, l.Token, wxtoken.ErrLeaseLost)
	}
	return nil
}

// ReleaseLease implements wxtoken.Coordinator.
func (s *Store) ReleaseLease(ctx context.Context, l wxtoken.Lease) error {
	if err := releaseScript.Run(ctx, s.c, []string{s.k.lease(l.Name)}, leaseValue(l)).Err(); err != nil {
		return fmt.Errorf("redis store: release lease %s: %w", l.Name, err)
	}
	return nil
}

// LeaseHolders implements wxtoken.Coordinator.
func (s *Store) LeaseHolders(ctx context.Context, names []string) (map[string]string, error) {
	out := make(map[string]string)
	if len(names) == 0 {
		return out, nil
	}
	ks := make([]string, len(names))
	for i, n := range names {
		ks[i] = s.k.lease(n)
	}
	vals, err := s.c.MGet(ctx, ks...).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("redis store: lease holders: %w", err)
	}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[names[i]] = ownerOf(str)
		}
	}
	return out, nil
}

// ownerOf is the owner part of a lease value.
func ownerOf(v string) string {
	owner, _, _ := strings.Cut(v, "|")
	return owner
}
