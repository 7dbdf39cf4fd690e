package main

import (
	"context"
	"fmt"
	"io"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

const usage = `corridor — real-time tracking of hazardous-goods trucks along approved corridors

Usage:
  corridor serve [--demo]                         run the backend (gateway, engine, API)
  corridor migrate [up|status]                    apply or list database migrations
  corridor simulate [flags]                       publish a simulated fleet's telemetry to NATS (demo, load test)
  corridor apikey create --role R [--carrier C] [--name N]
                                                  print a new API token once
  corridor bench geofence [flags]                 engine vs PostGIS per-point throughput
  corridor bench e2e [flags]                      end to end: JetStream ceiling, engine throughput, alarm storm, latency, memory
  corridor chaos [flags]                          faults under load (engine kill, NATS and PostgreSQL restarts), verdicts
  corridor version                                print the version

Configuration is by environment variable; see README.md.
`

// run is the whole program; main only wires the process to it, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "simulate":
		return cmdSimulate(ctx, args[1:], getenv, stdout, stderr)
	case "apikey":
		return cmdAPIKey(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return cmdBench(ctx, args[1:], getenv, stdout, stderr)
	case "chaos":
		return cmdChaos(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "corridor", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "corridor: unknown command %q\n\n%s", args[0], usage)
	return 2
}
