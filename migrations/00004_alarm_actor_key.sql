-- +goose Up
-- Who acknowledged or resolved an alarm: the key's id as well as its name (names are free text
-- and not unique; the id names exactly one key, revoked or not).
alter table alarms add column acknowledged_by_key_id text;
alter table alarms add column resolved_by_key_id text;

-- +goose Down
alter table alarms drop column resolved_by_key_id;
alter table alarms drop column acknowledged_by_key_id;
