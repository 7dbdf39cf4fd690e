package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	if sub != "up" && sub != "status" {
		fmt.Fprintf(stderr, "corridor migrate: unknown subcommand %q (up, status)\n", sub)
		return 2
	}
	_, db, code := openDB(ctx, "migrate", getenv, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	if sub == "up" {
		if err := db.Migrate(ctx); err != nil {
			fmt.Fprintln(stderr, "corridor migrate:", err)
			return 1
		}
	}
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "corridor migrate:", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tFILE\tAPPLIED AT")
	for _, s := range st {
		at := "pending"
		if s.Applied {
			at = s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Version, s.File, at)
	}
	tw.Flush()
	return 0
}
