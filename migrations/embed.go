// Package migrations embeds Corridor's numbered SQL migrations (pressly/goose format).
package migrations

import "embed"

// FS holds every *.sql migration.
//
//go:embed *.sql
var FS embed.FS
