package httpapi

import (
	"context"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// caches keeps what a telemetry push needs from the database for a short while, so that pushes
// from known tokens for known vehicles are still accepted into JetStream while PostgreSQL is away.
// Only successful lookups are kept. The price is a delay: a key revoked, or a vehicle deleted or
// moved to another carrier, in ANOTHER process takes effect here within CacheTTL; a key revoked
// through this process is forgotten at once.
type caches struct {
	principals *expirable.LRU[[32]byte, tracking.Principal] // by SHA-256 of the token
	vehicles   *expirable.LRU[string, tracking.Vehicle]
}

func newCaches(ttl time.Duration) *caches {
	if ttl < 0 {
		return &caches{}
	}
	return &caches{
		principals: expirable.NewLRU[[32]byte, tracking.Principal](10_000, nil, ttl),
		vehicles:   expirable.NewLRU[string, tracking.Vehicle](100_000, nil, ttl),
	}
}

// principalByToken resolves a token through the cache.
func (s *server) principalByToken(ctx context.Context, token string, sum [32]byte) (tracking.Principal, error) {
	if s.cache.principals != nil {
		if p, ok := s.cache.principals.Get(sum); ok {
			return p, nil
		}
	}
	p, err := s.APIKeys.PrincipalByToken(ctx, token)
	if err == nil && s.cache.principals != nil {
		s.cache.principals.Add(sum, p)
	}
	return p, err
}

// forgetKey drops a revoked key's cached principals.
func (s *server) forgetKey(keyID string) {
	if s.cache.principals == nil {
		return
	}
	for _, k := range s.cache.principals.Keys() {
		if p, ok := s.cache.principals.Peek(k); ok && p.KeyID == keyID {
			s.cache.principals.Remove(k)
		}
	}
}

// vehicle returns any carrier's vehicle through the cache (the telemetry push).
func (s *server) vehicle(ctx context.Context, id string) (tracking.Vehicle, error) {
	if s.cache.vehicles != nil {
		if v, ok := s.cache.vehicles.Get(id); ok {
			return v, nil
		}
	}
	v, err := s.Vehicles.GetVehicle(ctx, id, "")
	if err == nil && s.cache.vehicles != nil {
		s.cache.vehicles.Add(id, v)
	}
	return v, err
}

// forgetVehicle drops a changed or deleted vehicle from the cache.
func (s *server) forgetVehicle(id string) {
	if s.cache.vehicles != nil {
		s.cache.vehicles.Remove(id)
	}
}
