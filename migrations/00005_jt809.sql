-- +goose Up
-- JT/T 809 uplink to the government supervision platform (issue 11).

-- Plate colour, JT/T 415-2006 / JT/T 697.7-2014 codes (1 blue, 2 yellow, 3 black, 4 white,
-- 9 other, ...); hazardous-goods trucks carry yellow plates.
alter table vehicles add column plate_color smallint not null default 2 check (plate_color between 1 and 255);

-- The uplink's durable position in each stream it forwards: the last stream sequence whose
-- frame was written to the upper platform's socket. It resumes from here after a restart.
create table jt809_cursors (
    stream     text primary key,
    seq        bigint not null,
    updated_at timestamptz not null default now()
);

-- Every alarm reported up with 0x1402: the INFO_ID (2011) and MSG_SN (2019) the regulator
-- refers to in 0x9401, and the WARN_TYPE / WARN_TIME it names the alarm by.
create table jt809_alarm_reports (
    alarm_id    uuid primary key references alarms (id),
    info_id     bigint generated always as identity,
    msg_sn      bigint,
    vehicle_id  text not null,
    warn_type   integer not null,
    warn_time   timestamptz not null,
    reported_at timestamptz not null default now(),
    result_sent smallint
);
create index jt809_alarm_reports_msg_sn on jt809_alarm_reports (msg_sn);
create index jt809_alarm_reports_match on jt809_alarm_reports (vehicle_id, warn_type, warn_time);

-- 0x9401 supervision requests (报警督办) from the regulator, and how they were answered.
create table alarm_supervisions (
    id              uuid primary key default gen_random_uuid(),
    alarm_id        uuid references alarms (id),
    supervision_id  bigint not null,
    level           smallint not null,
    supervisor      text not null default '',
    supervisor_tel  text not null default '',
    supervisor_email text not null default '',
    requested_at    timestamptz not null default now(),
    deadline        timestamptz not null,
    warn_type       integer,
    warn_time       timestamptz,
    plate           text,
    result          smallint,
    answered_at     timestamptz,
    escalated_at    timestamptz,
    unique (supervision_id, requested_at)
);
create index alarm_supervisions_alarm on alarm_supervisions (alarm_id, requested_at);
create index alarm_supervisions_open on alarm_supervisions (deadline) where escalated_at is null and answered_at is null;

-- 0x9301 duty checks (平台查岗): the question, and the on-duty officer's answer sent with 0x1301.
create table duty_checks (
    id            uuid primary key default gen_random_uuid(),
    info_id       bigint not null,
    msg_sn        bigint not null,
    object_type   smallint,
    object_id     text,
    question      text not null,
    answer_within interval,
    asked_at      timestamptz not null default now(),
    answer        text,
    answered_by   text,
    answered_at   timestamptz,
    sent_at       timestamptz
);
create index duty_checks_asked on duty_checks (asked_at desc, id desc);
create index duty_checks_unsent on duty_checks (answered_at) where answered_at is not null and sent_at is null;

-- +goose Down
drop table duty_checks, alarm_supervisions, jt809_alarm_reports, jt809_cursors;
alter table vehicles drop column plate_color;
