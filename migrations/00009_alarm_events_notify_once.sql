-- +goose Up
-- One NOTIFY alarm_events per transaction instead of one per outbox row: the outbox publisher
-- only wakes on it and publishes whatever is unpublished, so the row id it carried was never
-- read. A statement-level trigger notifies once per INSERT statement, and PostgreSQL folds
-- identical notifications of one transaction into one (same channel, same empty payload).
-- +goose StatementBegin
create or replace function notify_alarm_event() returns trigger language plpgsql as $$
begin
    perform pg_notify('alarm_events', '');
    return null;
end $$;
-- +goose StatementEnd
drop trigger alarm_events_notify on alarm_events;
create trigger alarm_events_notify after insert on alarm_events for each statement execute function notify_alarm_event();

-- +goose Down
-- +goose StatementBegin
create or replace function notify_alarm_event() returns trigger language plpgsql as $$
begin
    perform pg_notify('alarm_events', NEW.id::text);
    return null;
end $$;
-- +goose StatementEnd
drop trigger alarm_events_notify on alarm_events;
create trigger alarm_events_notify after insert on alarm_events for each row execute function notify_alarm_event();
