// Package httpapi is Corridor's REST API (CONTRACT §3): resources, telemetry push, live positions,
// alarms and the Server-Sent Events stream, with bearer-token authentication, role checks and
// RFC 9457 problem responses. NewServer returns an http.Handler; the caller owns the http.Server.
//
// Handlers depend only on the small store interfaces declared here; *postgres.DB implements the
// stores and the NATS publisher implements TelemetryPublisher.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/pkg/live"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// CarrierStore stores carriers. carrierID "" sees all carriers, otherwise only that one.
type CarrierStore interface {
	// CreateCarrier returns ECONFLICT for a taken id, EINVALID for bad fields.
	CreateCarrier(ctx context.Context, c tracking.Carrier) (tracking.Carrier, error)
	// ListCarriersPage returns one page in id order and the next page's cursor ("" = last).
	ListCarriersPage(ctx context.Context, carrierID string, p tracking.Page) ([]tracking.Carrier, string, error)
	// GetCarrier returns ENOTFOUND when absent or outside carrierID's scope.
	GetCarrier(ctx context.Context, id, carrierID string) (tracking.Carrier, error)
}

// VehicleStore stores vehicles. carrierID "" sees all vehicles, otherwise only that carrier's.
// Deleted vehicles are ENOTFOUND everywhere but their ids stay taken.
type VehicleStore interface {
	// CreateVehicle normalises terminal_id and returns ECONFLICT for a taken id or terminal id,
	// EINVALID for bad fields or an unknown carrier.
	CreateVehicle(ctx context.Context, v tracking.Vehicle) (tracking.Vehicle, error)
	// ListVehiclesPage returns one page in id order and the next page's cursor ("" = last).
	ListVehiclesPage(ctx context.Context, carrierID string, p tracking.Page) ([]tracking.Vehicle, string, error)
	// GetVehicle returns ENOTFOUND when absent, deleted or outside carrierID's scope.
	GetVehicle(ctx context.Context, id, carrierID string) (tracking.Vehicle, error)
	// UpdateVehicle applies update to the current vehicle under a row lock and stores the result;
	// errors as CreateVehicle and GetVehicle, or update's own.
	UpdateVehicle(ctx context.Context, id, carrierID string, update func(*tracking.Vehicle) error) (tracking.Vehicle, error)
	// DeleteVehicle soft-deletes; ENOTFOUND as GetVehicle.
	DeleteVehicle(ctx context.Context, id, carrierID string) error
}

// CorridorStore stores corridors (shared by all carriers).
type CorridorStore interface {
	CreateCorridor(ctx context.Context, c tracking.Corridor) (tracking.Corridor, error)
	// ListCorridorsPage returns one page in creation order and the next page's cursor ("" = last).
	ListCorridorsPage(ctx context.Context, p tracking.Page) ([]tracking.Corridor, string, error)
	// GetCorridor, ReplaceCorridor and DeleteCorridor return ENOTFOUND for an unknown or deleted id.
	GetCorridor(ctx context.Context, id string) (tracking.Corridor, error)
	ReplaceCorridor(ctx context.Context, c tracking.Corridor) (tracking.Corridor, error)
	// DeleteCorridor returns ECONFLICT while a current or future trip uses the corridor.
	DeleteCorridor(ctx context.Context, id string) error
}

// ZoneStore stores zones (shared by all carriers).
type ZoneStore interface {
	CreateZone(ctx context.Context, z tracking.Zone) (tracking.Zone, error)
	// ListZonesPage returns one page in creation order and the next page's cursor ("" = last).
	ListZonesPage(ctx context.Context, p tracking.Page) ([]tracking.Zone, string, error)
	// GetZone, ReplaceZone and DeleteZone return ENOTFOUND for an unknown or deleted id.
	GetZone(ctx context.Context, id string) (tracking.Zone, error)
	ReplaceZone(ctx context.Context, z tracking.Zone) (tracking.Zone, error)
	DeleteZone(ctx context.Context, id string) error
}

// TripStore stores trips. carrierID "" sees all trips, otherwise only that carrier's.
type TripStore interface {
	// CreateTrip takes carrier_id from the vehicle; EINVALID naming vehicle_id or corridor_id
	// when either is unknown (or the vehicle is outside carrierID's scope); ECONFLICT on overlap.
	CreateTrip(ctx context.Context, t tracking.Trip, carrierID string) (tracking.Trip, error)
	// ListTripsPage returns one page in starts_at order and the next page's cursor ("" = last).
	ListTripsPage(ctx context.Context, carrierID, vehicleID string, active *bool, p tracking.Page) ([]tracking.Trip, string, error)
	// GetTrip returns ENOTFOUND when absent or outside carrierID's scope.
	GetTrip(ctx context.Context, id, carrierID string) (tracking.Trip, error)
	// CancelTrip is idempotent; ECONFLICT for a trip that has ended.
	CancelTrip(ctx context.Context, id, carrierID string) (tracking.Trip, error)
}

// APIKeyStore stores API keys (hashed tokens) and resolves tokens to principals.
type APIKeyStore interface {
	// CreateAPIKey returns the key and its token, shown once; EINVALID for a bad role or carrier.
	CreateAPIKey(ctx context.Context, role, carrierID, name string) (tracking.APIKey, string, error)
	// ListAPIKeysPage returns one page in creation order and the next page's cursor ("" = last).
	ListAPIKeysPage(ctx context.Context, p tracking.Page) ([]tracking.APIKey, string, error)
	// RevokeAPIKey returns ENOTFOUND for an unknown id.
	RevokeAPIKey(ctx context.Context, id string) error
	// PrincipalByToken returns EUNAUTH for an unknown or revoked token.
	PrincipalByToken(ctx context.Context, token string) (tracking.Principal, error)
}

// TrackStore reads position history.
type TrackStore interface {
	// TrackPage returns the vehicle's stored fixes in [From, To) after Cursor, oldest first, at
	// most Limit, and the next page's cursor while more remain ("" = none).
	TrackPage(ctx context.Context, vehicleID string, f tracking.TrackFilter) ([]tracking.StoredPosition, string, error)
}

// AlarmStore reads alarms and records what people do with them.
type AlarmStore interface {
	// ListAlarms returns alarms newest first and the cursor of the next page ("" = none).
	ListAlarms(ctx context.Context, f tracking.AlarmFilter) ([]tracking.Alarm, string, error)
	// GetAlarm returns ENOTFOUND for an unknown id.
	GetAlarm(ctx context.Context, id string) (tracking.Alarm, error)
	// AckAlarm returns ECONFLICT for a resolved alarm.
	// by records the key's name (acknowledged_by, resolved_by) and id (…_by_key_id).
	AckAlarm(ctx context.Context, id string, by tracking.Actor, note *string) (tracking.Alarm, error)
	// ResolveAlarm records the note and disposal (one of tracking.Disposals); ECONFLICT if resolved.
	ResolveAlarm(ctx context.Context, id string, by tracking.Actor, note, disposal string) (tracking.Alarm, error)
}

// TelemetryPublisher puts accepted positions on the TELEMETRY stream.
type TelemetryPublisher interface {
	// PublishPositions returns after JetStream stored every one of ps.
	PublishPositions(ctx context.Context, ps []tracking.Position) error
}

// Deps is everything the API needs. Every store is required; the rest have defaults.
type Deps struct {
	Carriers  CarrierStore
	Vehicles  VehicleStore
	Corridors CorridorStore
	Zones     ZoneStore
	Trips     TripStore
	APIKeys   APIKeyStore
	Track     TrackStore
	Alarms    AlarmStore
	Reports   ReportStore
	Telemetry TelemetryPublisher
	Live      *live.Hub
	// Terminals resets JT/T 808 registrations; nil: Vehicles, which must then implement it.
	Terminals TerminalStore
	// Supervision keeps JT/T 809 supervisions and duty checks; nil: Alarms if it implements it.
	Supervision SupervisionStore

	// AdminToken is the bootstrap admin bearer token; empty disables it.
	AdminToken string
	// Ready reports readiness for /readyz; nil means always ready.
	Ready func(ctx context.Context) error
	// Log receives one line per request and every internal error; nil discards.
	Log *slog.Logger
	// Metrics registers the HTTP metrics and Gatherer serves /metrics; both nil: a private registry.
	Metrics  prometheus.Registerer
	Gatherer prometheus.Gatherer
	// Now is the clock (telemetry validation, track defaults); nil is time.Now.
	Now func() time.Time
	// Heartbeat is the interval of SSE comment lines; 0 is 15 s.
	Heartbeat time.Duration
	// StreamBuffer is how many events an SSE client may lag behind before it is disconnected; 0 is 1024.
	StreamBuffer int
	// StreamWriteTimeout bounds each write to an SSE client; a client that does not read for this
	// long is disconnected. 0 is 10 s.
	StreamWriteTimeout time.Duration
	// Web, when set, serves the monitoring screen at GET /, GET /web/* and GET /basemap/*.
	Web http.Handler

	// PublishTimeout bounds a telemetry push's wait for JetStream; past it the push is 503 with
	// Retry-After. 0 is 4 s.
	PublishTimeout time.Duration
	// CacheTTL is how long resolved tokens and vehicles are reused (pushes keep working while
	// PostgreSQL is away; revocation elsewhere takes effect within it). 0 is 30 s; < 0 disables.
	CacheTTL time.Duration
	// RateLimit is the requests per second allowed per token, RateLimitPerAddr per client
	// address (before authentication); above them the answer is 429 with Retry-After.
	// 0 is the default (100 and 200); < 0 disables.
	RateLimit, RateLimitPerAddr int
	// StreamMaxPerKey and StreamMax cap open SSE streams per API key and in total (429 beyond);
	// 0 is 20 and 1000.
	StreamMaxPerKey, StreamMax int
	// StreamRecheck is how often an open stream re-checks its token (a key revoked by another
	// process ends its streams within it). 0 is 10 s.
	StreamRecheck time.Duration
}

// server holds the dependencies of every handler.
type server struct {
	Deps
	router  *chi.Mux
	metrics *httpMetrics
	cache   *caches
	streams *streamRegistry
}

// NewServer returns the API's http.Handler. It panics if a required dependency is missing.
func NewServer(d Deps) http.Handler {
	if d.Carriers == nil || d.Vehicles == nil || d.Corridors == nil || d.Zones == nil || d.Trips == nil ||
		d.APIKeys == nil || d.Track == nil || d.Alarms == nil || d.Reports == nil || d.Telemetry == nil || d.Live == nil {
		panic(errors.New("httpapi: NewServer: every store, Telemetry and Live are required"))
	}
	if d.Terminals == nil {
		ts, ok := d.Vehicles.(TerminalStore)
		if !ok {
			panic(errors.New("httpapi: NewServer: Terminals is required (Vehicles does not implement it)"))
		}
		d.Terminals = ts
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Ready == nil {
		d.Ready = func(context.Context) error { return nil }
	}
	if d.Heartbeat <= 0 {
		d.Heartbeat = 15 * time.Second
	}
	if d.StreamBuffer <= 0 {
		d.StreamBuffer = 1024
	}
	if d.StreamWriteTimeout <= 0 {
		d.StreamWriteTimeout = 10 * time.Second
	}
	if d.Metrics == nil && d.Gatherer == nil {
		reg := prometheus.NewRegistry()
		d.Metrics, d.Gatherer = reg, reg
	} else if d.Gatherer == nil {
		d.Gatherer = prometheus.DefaultGatherer
	} else if d.Metrics == nil {
		d.Metrics = prometheus.DefaultRegisterer
	}
	if d.PublishTimeout <= 0 {
		d.PublishTimeout = 4 * time.Second
	}
	if d.CacheTTL == 0 {
		d.CacheTTL = 30 * time.Second
	}
	if d.RateLimit == 0 {
		d.RateLimit = 100
	}
	if d.RateLimitPerAddr == 0 {
		d.RateLimitPerAddr = 200
	}
	if d.StreamMaxPerKey <= 0 {
		d.StreamMaxPerKey = 20
	}
	if d.StreamMax <= 0 {
		d.StreamMax = 1000
	}
	if d.StreamRecheck <= 0 {
		d.StreamRecheck = 10 * time.Second
	}
	s := &server{Deps: d, router: chi.NewRouter(), metrics: newHTTPMetrics(d.Metrics),
		cache: newCaches(d.CacheTTL), streams: newStreamRegistry(d.StreamMaxPerKey, d.StreamMax)}
	registerStreamMetrics(d.Metrics, d.Live)
	s.routes()
	return s.router
}
