package httpapi

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/pkg/live"
)

// streamRegistry counts the open SSE streams per API key and in total, refuses streams past the
// caps, and ends a key's streams when the key is revoked through this process.
type streamRegistry struct {
	mu        sync.Mutex
	byKey     map[string]map[*openStream]struct{}
	total     int
	maxPerKey int
	max       int
}

type openStream struct {
	key    string
	cancel context.CancelFunc
}

func newStreamRegistry(maxPerKey, max int) *streamRegistry {
	return &streamRegistry{byKey: make(map[string]map[*openStream]struct{}), maxPerKey: maxPerKey, max: max}
}

// open registers a stream of key; false when a cap is reached (the caller answers 429).
func (g *streamRegistry) open(key string, cancel context.CancelFunc) (*openStream, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.max || len(g.byKey[key]) >= g.maxPerKey {
		return nil, false
	}
	o := &openStream{key: key, cancel: cancel}
	if g.byKey[key] == nil {
		g.byKey[key] = make(map[*openStream]struct{})
	}
	g.byKey[key][o] = struct{}{}
	g.total++
	return o, true
}

func (g *streamRegistry) close(o *openStream) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.byKey[o.key][o]; !ok {
		return
	}
	delete(g.byKey[o.key], o)
	if len(g.byKey[o.key]) == 0 {
		delete(g.byKey, o.key)
	}
	g.total--
}

// revoke ends every open stream of key.
func (g *streamRegistry) revoke(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for o := range g.byKey[key] {
		o.cancel()
	}
}

// registerStreamMetrics exposes the hub's subscriber count and dropped events.
func registerStreamMetrics(reg prometheus.Registerer, hub *live.Hub) {
	register(reg, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "corridor_stream_events_dropped_total",
		Help: "Live events not delivered to an SSE client whose buffer was full (the client is disconnected and resumes with Last-Event-ID).",
	}, func() float64 { return float64(hub.DroppedEvents()) }))
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corridor_stream_clients",
		Help: "Open SSE stream subscriptions.",
	}, func() float64 { return float64(hub.Subscribers()) }))
}
