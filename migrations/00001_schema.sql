-- +goose Up
create extension if not exists postgis;
create extension if not exists btree_gist;

create table carriers (
    id         text primary key check (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name       text not null check (name <> ''),
    created_at timestamptz not null default now()
);

-- Vehicles are never deleted outright: history and alarms keep pointing at them.
create table vehicles (
    id           text primary key check (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    carrier_id   text not null references carriers (id),
    plate        text not null check (plate <> ''),
    terminal_id  text check (terminal_id ~ '^[1-9][0-9]{0,19}$'),
    hazard_class text,
    un_number    text,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    deleted_at   timestamptz
);
create unique index vehicles_terminal_id on vehicles (terminal_id) where deleted_at is null;
create index vehicles_carrier on vehicles (carrier_id);

create table corridors (
    id            uuid primary key default gen_random_uuid(),
    name          text not null check (name <> ''),
    geom          geography(LineString, 4326) not null,
    buffer_m      double precision not null check (buffer_m > 0 and buffer_m <= 5000),
    max_speed_kmh double precision check (max_speed_kmh > 0 and max_speed_kmh <= 300),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    deleted_at    timestamptz
);
create index corridors_geom on corridors using gist (geom);

create table zones (
    id          uuid primary key default gen_random_uuid(),
    name        text not null check (name <> ''),
    kind        text not null check (kind in ('restricted', 'parking', 'terminal')),
    geom        geography(Geometry, 4326) not null
                check (geometrytype(geom::geometry) in ('POLYGON', 'MULTIPOLYGON')),
    active_from time,
    active_to   time,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    deleted_at  timestamptz,
    check ((active_from is null) = (active_to is null))
);
create index zones_geom on zones using gist (geom);

create table trips (
    id           uuid primary key default gen_random_uuid(),
    vehicle_id   text not null references vehicles (id),
    carrier_id   text not null references carriers (id),
    corridor_id  uuid not null references corridors (id),
    starts_at    timestamptz not null,
    ends_at      timestamptz not null,
    cargo        jsonb,
    cancelled_at timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    check (ends_at > starts_at),
    constraint trips_no_overlap exclude using gist (vehicle_id with =, tstzrange(starts_at, ends_at) with &&)
        where (cancelled_at is null)
);
create index trips_vehicle on trips (vehicle_id, starts_at);

-- Every accepted fix, partitioned by UTC day; idempotent on (vehicle_id, ts).
create table positions (
    vehicle_id    text not null,
    carrier_id    text not null,
    ts            timestamptz not null,
    lat           double precision not null,
    lon           double precision not null,
    speed_kmh     double precision,
    heading_deg   double precision,
    altitude_m    double precision,
    accuracy_m    double precision,
    satellites    double precision,
    odometer_km   double precision,
    fuel_pct      double precision,
    fuel_l        double precision,
    engine_rpm    double precision,
    coolant_c     double precision,
    ignition      boolean,
    device_alarms text[],
    flags         text[],
    received_at   timestamptz not null default now(),
    primary key (vehicle_id, ts)
) partition by range (ts);

-- positions_partition makes sure the day partition holding ts exists (UTC days).
-- +goose StatementBegin
create function positions_partition(ts timestamptz) returns text language plpgsql as $$
declare
    day  date := (ts at time zone 'UTC')::date;
    name text := 'positions_' || to_char(day, 'YYYYMMDD');
begin
    if to_regclass(name) is null then
        begin
            execute format('create table %I partition of positions for values from (%L) to (%L)',
                name, (day::timestamp at time zone 'UTC'), ((day + 1)::timestamp at time zone 'UTC'));
        exception when duplicate_table then
            null; -- created concurrently
        end;
    end if;
    return name;
end $$;
-- +goose StatementEnd

create table alarms (
    id              uuid primary key default gen_random_uuid(),
    kind            text not null check (kind in ('route_deviation', 'restricted_zone', 'overspeed', 'signal_lost',
                                                  'unauthorized_stop', 'fatigue_driving', 'device_alarm')),
    severity        text not null check (severity in ('critical', 'warning')),
    state           text not null default 'open' check (state in ('open', 'acknowledged', 'resolved')),
    active          boolean not null default true,
    vehicle_id      text not null references vehicles (id),
    carrier_id      text not null references carriers (id),
    trip_id         uuid,
    corridor_id     uuid,
    zone_id         uuid,
    device_alarm    text,
    started_at      timestamptz not null,
    raised_at       timestamptz not null,
    cleared_at      timestamptz,
    lat             double precision,
    lon             double precision,
    distance_m      double precision,
    speed_kmh       double precision,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text,
    note            text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    check (active = (cleared_at is null))
);
-- At most one active alarm per (vehicle, kind, zone or device alarm name).
create unique index alarms_one_active on alarms (vehicle_id, kind, coalesce(zone_id::text, device_alarm, ''))
    where active;
create index alarms_raised on alarms (raised_at desc, id desc);
create index alarms_vehicle on alarms (vehicle_id, raised_at desc);

-- Outbox: every alarm change is stored here in the same transaction, published afterwards.
create table alarm_events (
    id           bigserial primary key,
    alarm_id     uuid not null references alarms (id),
    event        text not null check (event in ('raised', 'cleared', 'acknowledged', 'resolved')),
    payload      jsonb not null,
    created_at   timestamptz not null default now(),
    published_at timestamptz
);
create index alarm_events_unpublished on alarm_events (id) where published_at is null;
-- +goose StatementBegin
create function notify_alarm_event() returns trigger language plpgsql as $$
begin
    perform pg_notify('alarm_events', NEW.id::text);
    return null;
end $$;
-- +goose StatementEnd
create trigger alarm_events_notify after insert on alarm_events for each row execute function notify_alarm_event();

-- The engine's per-vehicle rule state and live view, committed with each batch.
create table vehicle_state (
    vehicle_id text primary key references vehicles (id),
    rules      jsonb not null,
    live       jsonb,
    updated_at timestamptz not null default now()
);

create table api_keys (
    id           uuid primary key default gen_random_uuid(),
    name         text not null default '',
    role         text not null check (role in ('admin', 'dispatcher', 'safety', 'carrier')),
    carrier_id   text references carriers (id),
    token_hash   bytea not null unique,
    created_at   timestamptz not null default now(),
    revoked_at   timestamptz,
    check ((role = 'carrier') = (carrier_id is not null))
);

-- Process-wide settings kept across restarts (e.g. the JT/T 808 auth-code secret).
create table settings (
    key        text primary key,
    value      text not null,
    created_at timestamptz not null default now()
);

-- Change notifications for the engine's in-memory index (LISTEN corridor_changes), and a counter
-- per table that the engine compares before each batch, so that a fix never misses a change
-- committed before it was processed (the notification only makes the reload happen sooner).
create table change_seq (
    table_name text primary key,
    seq        bigint not null default 0
);
insert into change_seq (table_name) values ('corridors'), ('zones'), ('trips'), ('vehicles');

-- +goose StatementBegin
create function notify_change() returns trigger language plpgsql as $$
declare
    rec record;
begin
    if TG_OP = 'DELETE' then rec := OLD; else rec := NEW; end if;
    update change_seq set seq = seq + 1 where table_name = TG_TABLE_NAME;
    perform pg_notify('corridor_changes', json_build_object('table', TG_TABLE_NAME, 'op', TG_OP, 'id', rec.id::text)::text);
    return null;
end $$;
-- +goose StatementEnd
create trigger corridors_notify after insert or update or delete on corridors for each row execute function notify_change();
create trigger zones_notify after insert or update or delete on zones for each row execute function notify_change();
create trigger trips_notify after insert or update or delete on trips for each row execute function notify_change();
create trigger vehicles_notify after insert or update or delete on vehicles for each row execute function notify_change();

-- +goose Down
drop table settings, change_seq, api_keys, vehicle_state, alarm_events, alarms, positions, trips, zones, corridors, vehicles, carriers;
drop function positions_partition(timestamptz);
drop function notify_change();
drop function notify_alarm_event();
