package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// PrepareDays makes sure the day partitions of positions exist from `back` days before now to
// `ahead` days after it (fixes are accepted up to 7 days old and 2 minutes ahead).
func (db *DB) PrepareDays(ctx context.Context, now time.Time, back, ahead int) error {
	ts := make([]time.Time, 0, back+ahead+1)
	for d := -back; d <= ahead; d++ {
		ts = append(ts, now.AddDate(0, 0, d))
	}
	return db.EnsurePartitions(ctx, ts...)
}

// DropPartitionsBefore drops every day partition of positions that holds only fixes older than
// cutoff (retention: whole partitions go, no row-by-row delete). It returns the dropped names.
func (db *DB) DropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	rows, err := db.Pool.Query(ctx, `select c.relname from pg_inherits i
		join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
		where p.relname = 'positions' and c.relname ~ '^positions_[0-9]{8}$' order by c.relname`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, n := range names {
		day, err := time.Parse("20060102", n[len("positions_"):])
		if err != nil {
			continue
		}
		if !day.AddDate(0, 0, 1).After(cutoff) { // the partition ends at or before the cutoff
			if _, err := db.Pool.Exec(ctx, `drop table if exists `+pgx.Identifier{n}.Sanitize()); err != nil {
				return dropped, err
			}
			partitions.Delete(db.key(n[len("positions_"):]))
			dropped = append(dropped, n)
		}
	}
	return dropped, nil
}
