package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/corridor-dev/corridor/pkg/geofence/geobench"
)

func cmdBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "e2e" {
		return cmdBenchE2E(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "geofence" {
		fmt.Fprintln(stderr, "usage: corridor bench geofence [--corridors N] [--vertices N] [--fixes N] [--seed N] [--batched]")
		fmt.Fprintln(stderr, "       corridor bench e2e [flags]   (corridor bench e2e -h for the flags)")
		return 2
	}
	fs := flag.NewFlagSet("bench geofence", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o geobench.Options
	fs.IntVar(&o.Corridors, "corridors", 2000, "random corridors")
	fs.IntVar(&o.Vertices, "vertices", 200, "vertices per corridor")
	fs.IntVar(&o.Fixes, "fixes", 5000, "fixes (each one PostGIS query)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	fs.BoolVar(&o.Batched, "batched", true, "also time all fixes in one PostGIS query")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	_, db, code := openDB(ctx, "bench", getenv, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	if _, err := db.Pool.Exec(ctx, "create extension if not exists postgis"); err != nil {
		fmt.Fprintln(stderr, "corridor bench:", err)
		return 1
	}
	res, err := geobench.Run(ctx, db.Pool, stdout, o)
	if err != nil {
		fmt.Fprintln(stderr, "corridor bench:", err)
		return 1
	}
	if res.Disagreements > 0 {
		fmt.Fprintf(stderr, "corridor bench: %d fixes disagree with PostGIS\n", res.Disagreements)
		return 1
	}
	return 0
}
