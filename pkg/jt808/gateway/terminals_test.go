package gateway

import (
	"context"
	"sync"
	"testing"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// terminals is an in-memory Terminals (the PostgreSQL one is tested in pkg/postgres and end to
// end in cmd/corridor).
type terminals struct {
	mu   sync.Mutex
	byID map[string]tracking.Vehicle // terminal id → vehicle
	reg  map[string][]byte           // terminal id → auth code hash
	err  error
}

func (v *terminals) RegisterTerminal(_ context.Context, tid string, hash []byte) (tracking.Vehicle, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return tracking.Vehicle{}, v.err
	}
	veh, ok := v.byID[tid]
	if !ok {
		return tracking.Vehicle{}, tracking.Errorf(tracking.ENOTFOUND, "no vehicle with terminal %s", tid)
	}
	if _, ok := v.reg[tid]; ok {
		return tracking.Vehicle{}, tracking.Errorf(tracking.ECONFLICT, "registered")
	}
	if v.reg == nil {
		v.reg = map[string][]byte{}
	}
	v.reg[tid] = hash
	return veh, nil
}

func (v *terminals) RegisteredTerminal(_ context.Context, tid string) (tracking.Vehicle, []byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return tracking.Vehicle{}, nil, v.err
	}
	veh, ok := v.byID[tid]
	hash, ok2 := v.reg[tid]
	if !ok || !ok2 {
		return tracking.Vehicle{}, nil, tracking.Errorf(tracking.ENOTFOUND, "not registered")
	}
	return veh, hash, nil
}

func (v *terminals) DeregisterTerminal(_ context.Context, tid string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return v.err
	}
	delete(v.reg, tid)
	return nil
}

// code registers terminal tid with a fresh auth code, as a terminal's registration would, and
// returns the code.
func (v *terminals) code(t testing.TB, tid string) string {
	t.Helper()
	code, hash := NewAuthCode()
	if _, err := v.RegisterTerminal(context.Background(), tid, hash); err != nil {
		t.Fatal(err)
	}
	return code
}

func (v *terminals) set(f func(*terminals)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v)
}
