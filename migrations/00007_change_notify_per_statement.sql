-- +goose Up
-- Changes to corridors, zones, trips and vehicles bump their change counter and notify once per
-- statement, not once per row: inserting 90,000 trips in one statement used to update the same
-- change_seq row 90,000 times in one transaction (minutes) and send 90,000 notifications, each
-- of which made every engine reload. A statement that touches a few rows still names them (the
-- JT/T 808 gateway re-resolves exactly those vehicles); a bigger one says "all".
-- +goose StatementBegin
create function notify_change_stmt() returns trigger language plpgsql as $$
declare
    ids text[];
begin
    if TG_OP = 'DELETE' then
        select array_agg(id::text order by id::text) into ids from (select id from old_rows limit 101) r;
    else
        select array_agg(id::text order by id::text) into ids from (select id from new_rows limit 101) r;
    end if;
    if ids is null then
        return null; -- no row changed
    end if;
    update change_seq set seq = seq + 1 where table_name = TG_TABLE_NAME;
    if cardinality(ids) > 100 then
        perform pg_notify('corridor_changes', json_build_object('table', TG_TABLE_NAME, 'op', TG_OP, 'all', true)::text);
    else
        perform pg_notify('corridor_changes', json_build_object('table', TG_TABLE_NAME, 'op', TG_OP, 'id', i)::text)
        from unnest(ids) i;
    end if;
    return null;
end $$;
-- +goose StatementEnd
drop trigger corridors_notify on corridors;
drop trigger zones_notify on zones;
drop trigger trips_notify on trips;
drop trigger vehicles_notify on vehicles;
create trigger corridors_notify_ins after insert on corridors referencing new table as new_rows for each statement execute function notify_change_stmt();
create trigger corridors_notify_upd after update on corridors referencing new table as new_rows for each statement execute function notify_change_stmt();
create trigger corridors_notify_del after delete on corridors referencing old table as old_rows for each statement execute function notify_change_stmt();
create trigger zones_notify_ins after insert on zones referencing new table as new_rows for each statement execute function notify_change_stmt();
create trigger zones_notify_upd after update on zones referencing new table as new_rows for each statement execute function notify_change_stmt();
create trigger zones_notify_del after delete on zones referencing old table as old_rows for each statement execute function notify_change_stmt();
create trigger trips_notify_ins after insert on trips referencing new table as new_rows for each statement execute function notify_change_stmt();
create trigger trips_notify_upd after update on trips referencing new table as new_rows for each statement execute function notify_change_stmt();
create trigger trips_notify_del after delete on trips referencing old table as old_rows for each statement execute function notify_change_stmt();
create trigger vehicles_notify_ins after insert on vehicles referencing new table as new_rows for each statement execute function notify_change_stmt();
create trigger vehicles_notify_upd after update on vehicles referencing new table as new_rows for each statement execute function notify_change_stmt();
create trigger vehicles_notify_del after delete on vehicles referencing old table as old_rows for each statement execute function notify_change_stmt();

-- +goose Down
drop trigger corridors_notify_ins on corridors;
drop trigger corridors_notify_upd on corridors;
drop trigger corridors_notify_del on corridors;
drop trigger zones_notify_ins on zones;
drop trigger zones_notify_upd on zones;
drop trigger zones_notify_del on zones;
drop trigger trips_notify_ins on trips;
drop trigger trips_notify_upd on trips;
drop trigger trips_notify_del on trips;
drop trigger vehicles_notify_ins on vehicles;
drop trigger vehicles_notify_upd on vehicles;
drop trigger vehicles_notify_del on vehicles;
drop function notify_change_stmt();
create trigger corridors_notify after insert or update or delete on corridors for each row execute function notify_change();
create trigger zones_notify after insert or update or delete on zones for each row execute function notify_change();
create trigger trips_notify after insert or update or delete on trips for each row execute function notify_change();
create trigger vehicles_notify after insert or update or delete on vehicles for each row execute function notify_change();
