-- +goose Up
-- The zone of a vehicle's JT/T 808 terminal clock when it differs from CORRIDOR_JT808_TIME_OFFSET.
alter table vehicles add column jt808_time_offset text
    check (jt808_time_offset ~ '^[+-](0[0-9]|1[0-4]):[0-5][0-9]$');

-- JT/T 808 registrations: one per terminal id, made by the terminal (0x0100) and undone only by
-- an admin (POST /v1/vehicles/{id}/terminal/reset). The auth code is kept as its SHA-256. A
-- registration holds while its vehicle is not deleted and still has the terminal id.
create table jt808_terminals (
    terminal_id   text primary key check (terminal_id ~ '^[1-9][0-9]{0,19}$'),
    vehicle_id    text not null references vehicles (id),
    auth_hash     bytea not null check (length(auth_hash) = 32),
    registered_at timestamptz not null default now()
);
create index jt808_terminals_vehicle on jt808_terminals (vehicle_id);

-- Refused fixes per vehicle and reason (from DEADLETTER, the engine's and the gateway's), for
-- operators: how many, and the last one's detail and time.
create table vehicle_rejections (
    vehicle_id  text not null references vehicles (id),
    reason      text not null,
    count       bigint not null check (count > 0),
    last_detail text not null,
    last_at     timestamptz not null,
    primary key (vehicle_id, reason)
);

-- +goose Down
drop table vehicle_rejections, jt808_terminals;
alter table vehicles drop column jt808_time_offset;
