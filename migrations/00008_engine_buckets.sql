-- +goose Up
-- The engine's place in the TELEMETRY stream, per vehicle bucket (natsbus.Buckets = 64; on NATS
-- ≥ 2.10 the bucket is the 4th subject token, else it is computed from the vehicle id). An engine
-- partition is a set of buckets; its commits and checkpoints write the seqs of its buckets, so
-- the number of partitions can change between runs: a partition starts after the lowest
-- checkpoint_seq of its buckets and skips, per bucket, what that bucket's checkpoint reflects.
create table engine_buckets (
    bucket         int primary key check (bucket between 0 and 63),
    stream_created timestamptz not null,
    committed_seq  bigint not null default 0,
    checkpoint_seq bigint not null default 0,
    -- The stream's time of the message at checkpoint_seq: after a server lost the end of the
    -- stream (a power cut before it synced) the sequences are numbered again, and the message
    -- found at checkpoint_seq then has another time (or is not there).
    checkpoint_time timestamptz,
    updated_at     timestamptz not null default now()
);

-- The single partition of 00002 covered every bucket.
insert into engine_buckets (bucket, stream_created, committed_seq, checkpoint_seq, updated_at)
select b, p.stream_created, p.committed_seq, p.checkpoint_seq, p.updated_at
from engine_partitions p cross join generate_series(0, 63) b
where p.partition = 0;

drop table engine_partitions;

-- +goose Down
create table engine_partitions (
    partition      int primary key,
    stream_created timestamptz not null,
    committed_seq  bigint not null default 0,
    checkpoint_seq bigint not null default 0,
    updated_at     timestamptz not null default now()
);
insert into engine_partitions (partition, stream_created, committed_seq, checkpoint_seq)
select 0, min(stream_created), min(committed_seq), min(checkpoint_seq) from engine_buckets having count(*) > 0;
drop table engine_buckets;
