-- +goose Up
-- The engine's place in the TELEMETRY stream, one row per engine partition. committed_seq is
-- written in the same transaction as each batch's positions and alarm changes; checkpoint_seq in
-- the same transaction as a checkpoint of the partition's vehicle rule state (vehicle_state).
-- Recovery loads the checkpoint and replays the stream after checkpoint_seq. stream_created
-- tells a recreated stream (whose sequences start again) from the one the numbers refer to.
create table engine_partitions (
    partition      int primary key,
    stream_created timestamptz not null,
    committed_seq  bigint not null default 0,
    checkpoint_seq bigint not null default 0,
    updated_at     timestamptz not null default now()
);

-- A replay writes an alarm's raised and cleared events no second time.
create unique index alarm_events_once on alarm_events (alarm_id, event) where event in ('raised', 'cleared');

-- +goose Down
drop index alarm_events_once;
drop table engine_partitions;
