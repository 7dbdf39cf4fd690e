package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/corridor-dev/corridor/pkg/engine"
	"github.com/corridor-dev/corridor/pkg/httpapi"
	"github.com/corridor-dev/corridor/pkg/jt808/gateway"
	"github.com/corridor-dev/corridor/pkg/jt809/uplink"
	"github.com/corridor-dev/corridor/pkg/live"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
	"github.com/corridor-dev/corridor/web"
)

// app is a running `corridor serve`; tests start one in-process with startApp.
type app struct {
	cfg       Config
	log       *slog.Logger
	db        *postgres.DB
	bus       *natsbus.Bus
	ns        *natsserver.Server
	engine    *engine.Engine
	hub       *live.Hub
	httpSrv   *http.Server
	httpLn    net.Listener
	gw        *gateway.Server
	gwLn      net.Listener
	reg       *prometheus.Registry
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	errs      chan error
	stopLive  func()
	adminTok  string
	startedAt time.Time
	stderr    io.Writer
	uplink    *uplink.Link    // role uplink
	runCtx    context.Context // ends at stop
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "load the Changshou demo data and drive a simulated fleet")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		printConfigErrors(stderr, err)
		return 2
	}
	log := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	a, err := startApp(ctx, cfg, log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "corridor: serve:", err)
		return 1
	}
	if *demo {
		// Demo data (Changshou corridors, zones, trucks, trips) and a simulated fleet driving
		// them, some of it misbehaving; it stops with ctx, before the app closes NATS.
		if err := startDemo(ctx, a.db, a.bus, log); err != nil {
			fmt.Fprintln(stderr, "corridor: serve --demo:", err)
			a.stop()
			return 1
		}
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-a.errs:
		log.Error("a component failed; shutting down", "err", err)
		a.stop()
		return 1
	}
	a.stop()
	log.Info("stopped")
	return 0
}

// startApp brings up every configured role, failing fast with one clear error. console (stderr)
// receives the generated admin token, outside the log.
func startApp(ctx context.Context, cfg Config, log *slog.Logger, console io.Writer) (*app, error) {
	a := &app{cfg: cfg, log: log, errs: make(chan error, 4), startedAt: time.Now(), stderr: console}
	ok := false
	defer func() {
		if !ok {
			a.stop()
		}
	}()
	var err error
	if a.db, err = postgres.Open(ctx, cfg.DatabaseURL, log); err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		if err := a.db.Migrate(ctx); err != nil {
			return nil, err
		}
	} else if n, err := a.db.Pending(ctx); err != nil {
		return nil, fmt.Errorf("migrations: %v", err)
	} else if n > 0 {
		return nil, fmt.Errorf("%d database migrations are pending and CORRIDOR_AUTO_MIGRATE=false: run `corridor migrate up`", n)
	}
	natsURL, natsAuth := cfg.NATSURL, cfg.NATSAuth
	if natsURL == "" {
		// An embedded server reachable from other hosts requires a token, generated here and
		// used by this process's own clients (other processes should use NATS_URL to a
		// configured server instead).
		token := ""
		if !natsbus.IsLoopback(cfg.EmbeddedNATSAddr) {
			token = randomHex(24)
			natsAuth = natsbus.Auth{Token: token}
			log.Warn("embedded NATS listens beyond loopback: clients need the generated token (use NATS_URL with a configured server to share it)",
				"addr", cfg.EmbeddedNATSAddr)
		}
		if a.ns, err = natsbus.StartEmbeddedAuth(cfg.EmbeddedNATSAddr, filepath.Join(cfg.DataDir, "nats"), token, cfg.NATSSync, log); err != nil {
			return nil, err
		}
		natsURL = a.ns.ClientURL()
	}
	natsOpts, err := natsAuth.Options()
	if err != nil {
		return nil, err
	}
	if a.bus, err = natsbus.Connect(ctx, natsURL, "corridor", log, natsOpts...); err != nil {
		return nil, err
	}
	if err := a.bus.EnsureStreams(ctx); err != nil {
		return nil, err
	}
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.runCtx = runCtx
	goRun := func(name string, fn func() error) {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := fn(); err != nil && runCtx.Err() == nil {
				a.errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}

	if cfg.Roles["engine"] {
		goRun("history maintenance", func() error { a.maintainHistory(runCtx); return nil })
		a.engine = engine.New(engine.Config{Rules: cfg.Rules, Partitions: cfg.EnginePartitions}, a.db, a.bus, log.With("role", "engine"), a.reg)
		goRun("engine", func() error { return a.engine.Run(runCtx) })
		a.startEscalation(runCtx, goRun)
	} else {
		// The API changes alarms too (ack, resolve): their events leave through the outbox.
		goRun("outbox", func() error { engine.RunOutbox(runCtx, a.db, a.bus, log, nil); return nil })
	}

	if cfg.Roles["gateway"] && cfg.JT808Addr != "" {
		if err := a.startGateway(runCtx, goRun); err != nil {
			return nil, err
		}
	}

	if cfg.Roles["uplink"] {
		if err := a.startUplink(goRun); err != nil {
			return nil, err
		}
	}

	if cfg.Roles["api"] {
		a.adminTok = cfg.AdminToken
		if a.adminTok == "" {
			// Printed once, as plain text on stderr: never through the (JSON) log, whose lines
			// are shipped and kept. It changes at every start; set CORRIDOR_ADMIN_TOKEN to keep one.
			a.adminTok = randomHex(24)
			fmt.Fprintf(a.stderr, "corridor: generated admin token (shown once; set CORRIDOR_ADMIN_TOKEN to choose one): %s\n", a.adminTok)
		}
		a.hub = live.NewHub()
		// Subscribed first, then seeded from the committed state: a state published meanwhile is
		// not missed, and the hub keeps the newer of the two (an API-only process has no engine
		// and rebuilds its live view from these alone).
		if a.stopLive, err = a.bus.SubscribeLive(func(s tracking.VehicleState) { a.hub.SetState(s) }, a.hub.PublishAlarm); err != nil {
			return nil, err
		}
		if err := a.loadLive(ctx); err != nil {
			return nil, err
		}
		stopSup, err := a.bus.SubscribeSupervisions(a.hub.PublishSupervision)
		if err != nil {
			return nil, err
		}
		stopLive := a.stopLive
		a.stopLive = func() { stopLive(); stopSup() }
		handler := httpapi.NewServer(httpapi.Deps{
			Reports:    a.reportStore(),
			Carriers:   a.db,
			Vehicles:   a.db,
			Corridors:  a.db,
			Zones:      a.db,
			Trips:      a.db,
			APIKeys:    a.db,
			Track:      a.db,
			Alarms:     a.db,
			Telemetry:  a.bus,
			Live:       a.hub,
			AdminToken: a.adminTok,
			Ready:      a.ready,
			Log:        log.With("role", "api"),
			Metrics:    a.reg,
			Gatherer:   a.reg,
			Web:        web.Handler(web.ConfigFor(cfg.Rules.Location, cfg.Rules.OfflineAfter, cfg.BasemapURL, version)),

			RateLimit:        cfg.API.RateLimit,
			RateLimitPerAddr: cfg.API.RateLimitPerAddr,
			StreamMaxPerKey:  cfg.API.StreamMaxPerKey,
			StreamMax:        cfg.API.StreamMax,
			CacheTTL:         cfg.API.CacheTTL,
		})
		// Refused fixes (dead letters) become each vehicle's "rejected" record.
		goRun("rejections", func() error {
			a.bus.ConsumeDeadLetters(runCtx, natsbus.RejectionsConsumer, recordRejections(a.db))
			return nil
		})
		if err := a.serveHTTP(runCtx, handler, goRun); err != nil {
			return nil, err
		}
		a.httpSrv.RegisterOnShutdown(a.hub.CloseSubscribers) // open SSE streams end on shutdown
		log.Info("HTTP API listening", "addr", a.httpLn.Addr().String())
	} else if cfg.HTTPAddr != "" {
		// No API role: probes and metrics only.
		if err := a.serveHTTP(runCtx, httpapi.NewOpsHandler(a.ready, a.reg), goRun); err != nil {
			return nil, err
		}
		log.Info("health and metrics listening", "addr", a.httpLn.Addr().String())
	}
	ok = true
	return a, nil
}

// maintainHistory keeps day partitions of positions ready ahead of time and drops the ones past
// CORRIDOR_RETENTION, at start and every hour.
func (a *app) maintainHistory(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		if err := a.db.PrepareDays(ctx, now, 8, 3); err != nil && ctx.Err() == nil {
			a.log.Error("history: preparing partitions", "err", err)
		}
		dropped, err := a.db.DropPartitionsBefore(ctx, now.Add(-a.cfg.Retention))
		if err != nil && ctx.Err() == nil {
			a.log.Error("history: retention", "err", err)
		}
		if len(dropped) > 0 {
			a.log.Info("history: retention dropped day partitions", "partitions", dropped, "retention", a.cfg.Retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveHTTP listens on CORRIDOR_HTTP_ADDR and serves h until shutdown.
func (a *app) serveHTTP(runCtx context.Context, h http.Handler, goRun func(string, func() error)) error {
	var err error
	limits := httpapi.DefaultServerLimits()
	if a.cfg.API.MaxConns > 0 {
		limits.MaxConns = a.cfg.API.MaxConns
	}
	if a.httpLn, err = httpapi.Listen(a.cfg.HTTPAddr, limits.MaxConns); err != nil {
		return fmt.Errorf("HTTP cannot listen on %s: %v", a.cfg.HTTPAddr, err)
	}
	a.httpSrv = httpapi.NewHTTPServer(h, limits, runCtx)
	goRun("http", func() error {
		if err := a.httpSrv.Serve(a.httpLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

// loadLive seeds the live view from the engine's committed state.
func (a *app) loadLive(ctx context.Context) error {
	states, err := a.db.VehicleStates(ctx, nil)
	if err != nil {
		return err
	}
	for _, s := range states {
		if s.Live != nil {
			a.hub.SetState(*s.Live)
		}
	}
	return nil
}

// ready is /readyz: PostGIS, NATS and (when this process runs it) the engine; the JT/T 809
// uplink's state is reported as detail.
func (a *app) ready(ctx context.Context) error {
	if err := a.db.Ping(ctx); err != nil {
		return fmt.Errorf("database: %v", err)
	}
	if err := a.bus.Ready(ctx); err != nil {
		return err
	}
	if a.engine != nil {
		if err := a.engine.Ready(); err != nil {
			return err
		}
	}
	if a.uplink != nil {
		// The uplink being down leaves the process ready for its other roles; /readyz says so.
		if err := a.uplink.Ready(); err != nil {
			return httpapi.Degraded(err.Error())
		}
	}
	return nil
}

// stop drains: HTTP stops accepting and ends streams, the engine finishes its batch, then NATS
// and the database close.
func (a *app) stop() {
	if a.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if a.cancel != nil {
			a.cancel() // ends SSE streams (their context derives from runCtx)
		}
		_ = a.httpSrv.Shutdown(sctx)
		cancel()
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	if a.stopLive != nil {
		a.stopLive()
	}
	if a.bus != nil {
		a.bus.Close()
	}
	if a.ns != nil {
		a.ns.Shutdown()
		a.ns.WaitForShutdown()
	}
	if a.db != nil {
		a.db.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
