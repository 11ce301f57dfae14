-- Playlists (ordered content with per-item durations) and schedule entries (which
-- playlist plays where and when: actors/domain/schedule_types.py, docs/scheduling.md).
--
-- Composite foreign keys (tenant_id, ...) keep every reference inside one tenant: a
-- playlist can only name its own tenant's content, a schedule its own tenant's playlist.
-- A playlist that a schedule names cannot be deleted (RESTRICT); its items go with it.

CREATE TABLE playlists (
    id         uuid        PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES tenants (id),
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_by uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT playlists_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX playlists_tenant_name_idx ON playlists (tenant_id, name);

CREATE TABLE playlist_items (
    tenant_id   uuid    NOT NULL,
    playlist_id uuid    NOT NULL,
    position    integer NOT NULL CHECK (position BETWEEN 0 AND 499),
    content_id  uuid    NOT NULL,
    duration_s  integer CHECK (duration_s BETWEEN 1 AND 86400),
    PRIMARY KEY (tenant_id, playlist_id, position),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, content_id) REFERENCES content (tenant_id, id)
);
-- "Which playlists play this content?" (approvals and archives refresh manifests).
CREATE INDEX playlist_items_content_idx ON playlist_items (tenant_id, content_id);

CREATE TABLE schedules (
    id                uuid        PRIMARY KEY,
    tenant_id         uuid        NOT NULL REFERENCES tenants (id),
    playlist_id       uuid        NOT NULL,
    target_scope      text        NOT NULL CHECK (target_scope IN ('tenant', 'groups', 'devices')),
    target_groups     text[]      NOT NULL DEFAULT '{}',
    target_device_ids uuid[]      NOT NULL DEFAULT '{}',
    priority          integer     NOT NULL,
    starts_at         timestamptz,
    ends_at           timestamptz CHECK (ends_at > starts_at),
    days_of_week      smallint[]  CHECK (
                          cardinality(days_of_week) BETWEEN 1 AND 7
                          AND days_of_week <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]),
    start_time        time        CHECK (start_time = date_trunc('minute', start_time)),
    end_time          time        CHECK (end_time = date_trunc('minute', end_time)),
    timezone          text        CHECK (char_length(timezone) BETWEEN 1 AND 64),
    created_by        uuid        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT schedules_tenant_id_key UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, id),
    CONSTRAINT schedules_target_shape CHECK (
        CASE target_scope
            WHEN 'tenant' THEN cardinality(target_groups) = 0 AND cardinality(target_device_ids) = 0
            WHEN 'groups' THEN cardinality(target_groups) BETWEEN 1 AND 64
                               AND cardinality(target_device_ids) = 0
            ELSE cardinality(target_device_ids) BETWEEN 1 AND 1000
                 AND cardinality(target_groups) = 0
        END
    )
);
CREATE INDEX schedules_tenant_idx ON schedules (tenant_id, created_at);
CREATE INDEX schedules_playlist_idx ON schedules (tenant_id, playlist_id);

ALTER TABLE playlists ENABLE ROW LEVEL SECURITY;
CREATE POLICY playlists_isolation ON playlists
    USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON playlists TO signage_app;

ALTER TABLE playlist_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY playlist_items_isolation ON playlist_items
    USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, DELETE ON playlist_items TO signage_app;

ALTER TABLE schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY schedules_isolation ON schedules
    USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, DELETE ON schedules TO signage_app;
