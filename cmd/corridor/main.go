// Command corridor is Corridor's single binary: serve, migrate, simulate, apikey, bench, version.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // CORRIDOR_TIMEZONE works on machines without a zoneinfo database
)

func main() {
	lookupEnv = os.LookupEnv
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
