-- Proof of play (docs/devices.md, "Proof of play"): what screens say they played, rolled
-- up per screen, content item and UTC hour.
--
-- A play is one row's increment, never a row of its own: 10,000 screens playing a
-- 10-second item around the clock add at most (screens x items they play) rows per hour,
-- however many plays. Reports sum these rows; retention deletes whole hours.
--
-- play_marks holds, per screen, the start of the newest play counted. Screens report in
-- the order they played, so an item starting at or before the mark is a repeat (a frame
-- sent again after a reconnect) and is not counted twice: the writer locks the marks of
-- the screens in a batch, counts only the newer items, and moves the marks, in one
-- transaction.

CREATE TABLE play_hours (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id),
    hour        timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
    device_id   uuid        NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    content_id  uuid        NOT NULL REFERENCES content (id),
    plays       integer     NOT NULL CHECK (plays >= 1),
    duration_ms bigint      NOT NULL CHECK (duration_ms >= 0),
    PRIMARY KEY (tenant_id, hour, device_id, content_id)
);
CREATE INDEX play_hours_content_idx ON play_hours (tenant_id, content_id, hour);
CREATE INDEX play_hours_device_idx ON play_hours (tenant_id, device_id, hour);

ALTER TABLE play_hours ENABLE ROW LEVEL SECURITY;
CREATE POLICY play_hours_isolation ON play_hours
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON play_hours TO signage_app;

CREATE TABLE play_marks (
    device_id       uuid        PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    tenant_id       uuid        NOT NULL REFERENCES tenants (id),
    last_started_at timestamptz NOT NULL
);

ALTER TABLE play_marks ENABLE ROW LEVEL SECURITY;
CREATE POLICY play_marks_isolation ON play_marks
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON play_marks TO signage_app;
