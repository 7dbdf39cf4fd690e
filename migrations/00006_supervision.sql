-- +goose Up
-- Alarm handling as GB/T 35658 asks: a resolved alarm records its disposal, and an unacknowledged
-- critical alarm escalates (once) after CORRIDOR_ESCALATE_AFTER.
alter table alarms
    add column disposal     text check (disposal in ('handled', 'no_action', 'false_alarm', 'later')),
    add column escalated_at timestamptz;
-- The escalation loop's one query per tick: the oldest open critical alarms not yet escalated.
create index alarms_escalation_due on alarms (created_at)
    where state = 'open' and severity = 'critical' and escalated_at is null;

alter table alarm_events drop constraint alarm_events_event_check;
alter table alarm_events add constraint alarm_events_event_check
    check (event in ('raised', 'cleared', 'acknowledged', 'resolved', 'escalated'));

-- Daily compliance figures per carrier and local day, computed once for a closed day (again when
-- late data for it arrives: dirty) and at most every CORRIDOR_REPORT_REFRESH for the current day.
create table daily_reports (
    carrier_id  text not null references carriers (id),
    day         date not null,
    timezone    text not null,
    interval_s  double precision not null,
    complete    boolean not null, -- the day had ended when it was computed
    dirty       boolean not null default false,
    figures     jsonb not null,
    computed_at timestamptz not null,
    primary key (carrier_id, day)
);

-- How far the search for late data has gone: rows received (positions), updated (alarms, trips)
-- after swept_to may change a stored report of a closed day.
create table daily_report_sweep (
    id       boolean primary key default true check (id),
    swept_to timestamptz not null
);
insert into daily_report_sweep (swept_to) values (now());

-- The sweep's lookups: late positions by arrival (a BRIN index costs next to nothing to keep, as
-- rows arrive in received_at order), changed alarms and trips by update time, a carrier's alarms
-- of a day.
create index positions_received_brin on positions using brin (received_at);
create index alarms_updated on alarms (updated_at);
create index alarms_carrier_raised on alarms (carrier_id, raised_at);
create index trips_updated on trips (updated_at);

-- +goose Down
drop index trips_updated;
drop index alarms_carrier_raised;
drop index alarms_updated;
drop index positions_received_brin;
drop table daily_report_sweep, daily_reports;
delete from alarm_events where event = 'escalated';
alter table alarm_events drop constraint alarm_events_event_check;
alter table alarm_events add constraint alarm_events_event_check
    check (event in ('raised', 'cleared', 'acknowledged', 'resolved'));
drop index alarms_escalation_due;
alter table alarms drop column escalated_at, drop column disposal;
