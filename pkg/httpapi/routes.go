package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Role sets used by the routes (CONTRACT §3).
var (
	anyRole      = []string{tracking.RoleAdmin, tracking.RoleDispatcher, tracking.RoleSafety, tracking.RoleCarrier}
	adminOnly    = []string{tracking.RoleAdmin}
	tripWriters  = []string{tracking.RoleAdmin, tracking.RoleDispatcher, tracking.RoleCarrier}
	tripCancel   = []string{tracking.RoleAdmin, tracking.RoleDispatcher}
	alarmHandler = []string{tracking.RoleAdmin, tracking.RoleSafety}
	telemetryIn  = []string{tracking.RoleAdmin, tracking.RoleCarrier}
)

// routes declares every route of the API, its middleware and who may call it.
func (s *server) routes() {
	r := s.router
	r.Use(s.recoverer, s.observe, s.securityHeaders, s.deadline, s.limitByAddr())
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	r.Get("/healthz", s.handleHealthz())
	r.Get("/readyz", s.handleReadyz())
	r.Get("/metrics", s.handleMetrics())
	r.Get("/openapi.yaml", s.handleOpenAPI())
	if s.Web != nil {
		r.Get("/", s.Web.ServeHTTP)
		r.Get("/web/*", s.Web.ServeHTTP)
		r.Get("/basemap/*", s.Web.ServeHTTP) // a PMTiles base map archive (CORRIDOR_BASEMAP_URL)
	}

	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authenticate, s.limitByKey())

		r.With(s.allow(anyRole...)).Get("/me", s.handleMe())

		r.With(s.allow(adminOnly...)).Post("/api-keys", s.handleAPIKeyCreate())
		r.With(s.allow(adminOnly...)).Get("/api-keys", s.handleAPIKeyList())
		r.With(s.allow(adminOnly...)).Delete("/api-keys/{id}", s.handleAPIKeyRevoke())

		r.With(s.allow(adminOnly...)).Post("/carriers", s.handleCarrierCreate())
		r.With(s.allow(anyRole...)).Get("/carriers", s.handleCarrierList())
		r.With(s.allow(anyRole...)).Get("/carriers/{id}", s.handleCarrierGet())

		r.With(s.allow(adminOnly...)).Post("/vehicles", s.handleVehicleCreate())
		r.With(s.allow(anyRole...)).Get("/vehicles", s.handleVehicleList())
		r.With(s.allow(anyRole...)).Get("/vehicles/{id}", s.handleVehicleGet())
		r.With(s.allow(adminOnly...)).Patch("/vehicles/{id}", s.handleVehiclePatch())
		r.With(s.allow(adminOnly...)).Delete("/vehicles/{id}", s.handleVehicleDelete())
		r.With(s.allow(anyRole...)).Get("/vehicles/{id}/track", s.handleTrack())
		r.With(s.allow(adminOnly...)).Post("/vehicles/{id}/terminal/reset", s.handleTerminalReset())

		r.With(s.allow(adminOnly...)).Post("/corridors", s.handleCorridorCreate())
		r.With(s.allow(anyRole...)).Get("/corridors", s.handleCorridorList())
		r.With(s.allow(anyRole...)).Get("/corridors/{id}", s.handleCorridorGet())
		r.With(s.allow(adminOnly...)).Put("/corridors/{id}", s.handleCorridorReplace())
		r.With(s.allow(adminOnly...)).Delete("/corridors/{id}", s.handleCorridorDelete())

		r.With(s.allow(adminOnly...)).Post("/zones", s.handleZoneCreate())
		r.With(s.allow(anyRole...)).Get("/zones", s.handleZoneList())
		r.With(s.allow(anyRole...)).Get("/zones/{id}", s.handleZoneGet())
		r.With(s.allow(adminOnly...)).Put("/zones/{id}", s.handleZoneReplace())
		r.With(s.allow(adminOnly...)).Delete("/zones/{id}", s.handleZoneDelete())

		r.With(s.allow(tripWriters...)).Post("/trips", s.handleTripCreate())
		r.With(s.allow(anyRole...)).Get("/trips", s.handleTripList())
		r.With(s.allow(anyRole...)).Get("/trips/{id}", s.handleTripGet())
		r.With(s.allow(tripCancel...)).Post("/trips/{id}/cancel", s.handleTripCancel())

		r.With(s.allow(telemetryIn...)).Post("/telemetry", s.handleTelemetry())
		r.With(s.allow(anyRole...)).Get("/positions/live", s.handleLivePositions())

		r.With(s.allow(anyRole...)).Get("/alarms", s.handleAlarmList())
		r.With(s.allow(anyRole...)).Get("/alarms/{id}", s.handleAlarmGet())
		r.With(s.allow(alarmHandler...)).Post("/alarms/{id}/ack", s.handleAlarmAck())
		r.With(s.allow(alarmHandler...)).Post("/alarms/{id}/resolve", s.handleAlarmResolve())

		r.With(s.allow(anyRole...)).Get("/stream", s.handleStream())

		r.With(s.allow(anyRole...)).Get("/reports/daily", s.handleDailyReports())
		s.routesJT809(r)
	})
}

// methodsToProbe are the methods a 405 answer lists in Allow when the path has them.
var methodsToProbe = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
