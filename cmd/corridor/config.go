package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
	"github.com/corridor-dev/corridor/web"
)

// Config is the process configuration, from the environment (CONTRACT §1).
type Config struct {
	DatabaseURL      string
	AutoMigrate      bool
	NATSURL          string
	EmbeddedNATSAddr string
	DataDir          string
	HTTPAddr         string
	JT808Addr        string
	JT808TimeOffset  *time.Location
	Roles            map[string]bool
	AdminToken       string
	LogFormat        string
	LogLevel         slog.Level
	Rules            rules.Config
	Retention        time.Duration
	API              APIConfig
	NATSAuth         natsbus.Auth
	// Supervision: alarm escalation and compliance reports (issue 11; supervision.go).
	Supervision SupervisionConfig
	Uplink      uplinkConfig  // JT/T 809, role uplink
	BasemapURL  string        // CORRIDOR_BASEMAP_URL: optional raster tiles or PMTiles archive under the screen's offline map
	NATSSync    time.Duration // CORRIDOR_NATS_SYNC: the embedded server's disk sync (natsbus.SyncAlways: before every ack)
	// EnginePartitions is CORRIDOR_ENGINE_PARTITIONS: the stream partitions engines share (1..64).
	EnginePartitions int
}

// APIConfig holds the HTTP API's limits (see loadAPIConfig).
type APIConfig struct {
	RateLimit, RateLimitPerAddr int // requests per second; -1 off
	MaxConns                    int
	StreamMaxPerKey, StreamMax  int
	CacheTTL                    time.Duration
}

const defaultDatabaseURL = "postgres://localhost:5432/corridor?sslmode=disable"

// defaultEnginePartitions is CORRIDOR_ENGINE_PARTITIONS unless set: the fastest measured on a
// 2-core machine with PostgreSQL on it (docs/OPERATIONS.md, "Scaling engines").
const defaultEnginePartitions = 8

// loadConfig reads and validates the environment; every problem is one line of the error.
func loadConfig(getenv func(string) string) (Config, error) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	var errs []error
	c := Config{
		DatabaseURL:      env("DATABASE_URL", defaultDatabaseURL),
		NATSURL:          env("NATS_URL", ""),
		EmbeddedNATSAddr: env("CORRIDOR_EMBEDDED_NATS_ADDR", "127.0.0.1:4222"),
		DataDir:          env("CORRIDOR_DATA_DIR", "./data"),
		HTTPAddr:         env("CORRIDOR_HTTP_ADDR", ":8080"),
		AdminToken:       env("CORRIDOR_ADMIN_TOKEN", ""),
		LogFormat:        env("CORRIDOR_LOG_FORMAT", "json"),
		BasemapURL:       env("CORRIDOR_BASEMAP_URL", ""),
		Roles:            map[string]bool{},
	}
	// CORRIDOR_JT808_ADDR: set but empty disables the gateway.
	if v, ok := lookup(getenv, "CORRIDOR_JT808_ADDR"); ok {
		c.JT808Addr = strings.TrimSpace(v)
		if strings.EqualFold(c.JT808Addr, "off") {
			c.JT808Addr = ""
		}
	} else {
		c.JT808Addr = ":6808"
	}
	if loc, err := tracking.ParseUTCOffset(env("CORRIDOR_JT808_TIME_OFFSET", "+08:00")); err != nil {
		errs = append(errs, fmt.Errorf("CORRIDOR_JT808_TIME_OFFSET: %v", err))
	} else {
		c.JT808TimeOffset = loc
	}
	if d, err := natsbus.ParseSync(env("CORRIDOR_NATS_SYNC", natsbus.DefaultSync.String())); err != nil {
		errs = append(errs, fmt.Errorf("CORRIDOR_NATS_SYNC: %v", err))
	} else {
		c.NATSSync = d
	}
	switch v := strings.ToLower(env("CORRIDOR_AUTO_MIGRATE", "true")); v {
	case "true", "1", "yes":
		c.AutoMigrate = true
	case "false", "0", "no":
	default:
		errs = append(errs, fmt.Errorf("CORRIDOR_AUTO_MIGRATE: %q is not true or false", v))
	}
	for _, r := range strings.Split(env("CORRIDOR_ROLES", "gateway,engine,api"), ",") {
		r = strings.TrimSpace(r)
		switch r {
		case "gateway", "engine", "api", "uplink":
			c.Roles[r] = true
		case "":
		default:
			errs = append(errs, fmt.Errorf("CORRIDOR_ROLES: unknown role %q (gateway, engine, api, uplink)", r))
		}
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("CORRIDOR_ROLES: no role"))
	}
	partitions := env("CORRIDOR_ENGINE_PARTITIONS", strconv.Itoa(defaultEnginePartitions))
	if n, err := strconv.Atoi(partitions); err != nil || n < 1 || n > natsbus.Buckets {
		errs = append(errs, fmt.Errorf("CORRIDOR_ENGINE_PARTITIONS: %q is not a number of partitions from 1 to %d", partitions, natsbus.Buckets))
	} else {
		c.EnginePartitions = n
	}
	for _, a := range []struct{ name, v string }{{"CORRIDOR_HTTP_ADDR", c.HTTPAddr}, {"CORRIDOR_JT808_ADDR", c.JT808Addr}, {"CORRIDOR_EMBEDDED_NATS_ADDR", c.EmbeddedNATSAddr}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port (%v)", a.name, a.v, err))
		}
	}
	switch web.BasemapKind(c.BasemapURL) {
	case web.BasemapInvalid:
		errs = append(errs, fmt.Errorf("CORRIDOR_BASEMAP_URL: %q is not a raster tile URL template with {z}/{x}/{y}, an http(s) URL of a .pmtiles archive or the path of a .pmtiles file", c.BasemapURL))
	case web.BasemapPMTilesFile:
		if st, err := os.Stat(c.BasemapURL); err != nil || !st.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("CORRIDOR_BASEMAP_URL: %q is not a readable .pmtiles file", c.BasemapURL))
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("CORRIDOR_ADMIN_TOKEN: must be at least 16 characters"))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("CORRIDOR_LOG_FORMAT: %q is not json or text", c.LogFormat))
	}
	if err := c.LogLevel.UnmarshalText([]byte(env("CORRIDOR_LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("CORRIDOR_LOG_LEVEL: %q is not debug, info, warn or error", getenv("CORRIDOR_LOG_LEVEL")))
	}
	ret := env("CORRIDOR_RETENTION", "180d")
	if d, err := parseDays(ret); err != nil {
		errs = append(errs, fmt.Errorf("CORRIDOR_RETENTION: %q is not a duration such as 180d or 4320h", ret))
	} else if d < 8*24*time.Hour {
		errs = append(errs, fmt.Errorf("CORRIDOR_RETENTION: %s is shorter than the 7 days for which fixes are accepted (8d at least)", ret))
	} else {
		c.Retention = d
	}
	c.Supervision, errs = loadSupervisionConfig(env, errs)
	rc, err := rules.ConfigFromEnv(getenv)
	if err != nil {
		errs = append(errs, err)
	} else if err := rc.Validate(); err != nil {
		errs = append(errs, err)
	}
	c.Rules = rc
	if c.Uplink, err = loadUplinkConfig(getenv, c.Roles["uplink"]); err != nil {
		errs = append(errs, err)
	}
	c.DataDir = filepath.Clean(c.DataDir)
	c.API, err = loadAPIConfig(env)
	if err != nil {
		errs = append(errs, err)
	}
	if c.NATSAuth, err = natsbus.AuthFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// loadAPIConfig reads the HTTP API's limits: CORRIDOR_RATE_LIMIT (requests per second per token,
// default 100), CORRIDOR_RATE_LIMIT_PER_ADDR (per client address, default 200; "off" disables
// either), CORRIDOR_HTTP_MAX_CONNS (default 10000), CORRIDOR_STREAM_MAX_PER_KEY (20),
// CORRIDOR_STREAM_MAX (1000) and CORRIDOR_AUTH_CACHE_TTL (30s; tokens and vehicles reused for
// that long, so pushes go on while PostgreSQL is away and revocation elsewhere takes up to it).
func loadAPIConfig(env func(k, def string) string) (APIConfig, error) {
	var errs []error
	num := func(k string, def int, allowOff bool) int {
		v := env(k, strconv.Itoa(def))
		if allowOff && strings.EqualFold(v, "off") {
			return -1
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive integer", k, v))
		}
		return n
	}
	c := APIConfig{
		RateLimit:        num("CORRIDOR_RATE_LIMIT", 100, true),
		RateLimitPerAddr: num("CORRIDOR_RATE_LIMIT_PER_ADDR", 200, true),
		MaxConns:         num("CORRIDOR_HTTP_MAX_CONNS", 10_000, false),
		StreamMaxPerKey:  num("CORRIDOR_STREAM_MAX_PER_KEY", 20, false),
		StreamMax:        num("CORRIDOR_STREAM_MAX", 1000, false),
	}
	ttl := env("CORRIDOR_AUTH_CACHE_TTL", "30s")
	d, err := time.ParseDuration(ttl)
	switch {
	case err != nil || d < 0 || d > 10*time.Minute:
		errs = append(errs, fmt.Errorf("CORRIDOR_AUTH_CACHE_TTL: %q is not a duration between 0s and 10m", ttl))
	case d == 0:
		c.CacheTTL = -1 // off
	default:
		c.CacheTTL = d
	}
	return c, errors.Join(errs...)
}

// parseDays reads a Go duration, or a whole number of days such as "180d".
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, errors.New("bad days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func lookup(getenv func(string) string, k string) (string, bool) {
	// getenv cannot tell unset from empty; the process environment can.
	if v := getenv(k); v != "" {
		return v, true
	}
	if lookupEnv != nil {
		return lookupEnv(k)
	}
	return "", false
}

// lookupEnv is os.LookupEnv in the binary; tests may replace it.
var lookupEnv func(string) (string, bool)

func newLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// printConfigErrors writes one line per problem.
func printConfigErrors(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintln(w, "corridor: config:", line)
		}
	}
}

// openDB loads the configuration and opens the database for a one-shot subcommand; on failure
// it has printed why and returns the exit code.
func openDB(ctx context.Context, name string, getenv func(string) string, stderr io.Writer) (Config, *postgres.DB, int) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		printConfigErrors(stderr, err)
		return cfg, nil, 2
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, newLogger(cfg.LogFormat, cfg.LogLevel, stderr))
	if err != nil {
		fmt.Fprintf(stderr, "corridor %s: %v\n", name, err)
		return cfg, nil, 1
	}
	return cfg, db, 0
}
