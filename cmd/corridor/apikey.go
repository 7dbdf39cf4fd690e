package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

func cmdAPIKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: corridor apikey create --role admin|dispatcher|safety|carrier [--carrier C] [--name N]")
		return 2
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "admin, dispatcher, safety or carrier")
	carrier := fs.String("carrier", "", "carrier id (required for role carrier)")
	name := fs.String("name", "", "a name to recognise the key by")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	switch *role {
	case tracking.RoleAdmin, tracking.RoleDispatcher, tracking.RoleSafety:
		if *carrier != "" {
			fmt.Fprintln(stderr, "corridor apikey: --carrier goes only with --role carrier")
			return 2
		}
	case tracking.RoleCarrier:
		if *carrier == "" {
			fmt.Fprintln(stderr, "corridor apikey: --role carrier needs --carrier")
			return 2
		}
	default:
		fmt.Fprintf(stderr, "corridor apikey: --role must be admin, dispatcher, safety or carrier (got %q)\n", *role)
		return 2
	}
	cfg, db, code := openDB(ctx, "apikey", getenv, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	if cfg.AutoMigrate {
		if err := db.Migrate(ctx); err != nil {
			fmt.Fprintln(stderr, "corridor apikey:", err)
			return 1
		}
	}
	key, token, err := db.CreateAPIKey(ctx, *role, *carrier, *name)
	if err != nil {
		fmt.Fprintln(stderr, "corridor apikey:", tracking.ErrorMessage(err))
		return 1
	}
	fmt.Fprintf(stderr, "created API key %s (role %s); the token is shown once:\n", key.ID, key.Role)
	fmt.Fprintln(stdout, token)
	return 0
}
