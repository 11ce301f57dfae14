-- Content: items (image, video, web address, HTML, text) and their revisions.
--
-- `content` holds where an item stands in the approval lifecycle
-- (actors/domain/content_lifecycle.py): the working revision's number and state, the live
-- (approved, playing) revision, and who submitted the working revision. Every revision is
-- kept in `content_revisions`: what an approver approved or rejected stays on record, and
-- an approved revision keeps playing while its successor is edited and reviewed.
-- Uploaded media files live under MEDIA_ROOT/<tenant id>/<sha256> (store/media.py); a
-- revision names its file by SHA-256.
--
-- Rows are never deleted (archive is a state); revisions change only while they are the
-- working draft, and when their review is decided.

CREATE TABLE content (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id),
    kind          text        NOT NULL CHECK (kind IN ('image', 'video', 'url', 'html', 'text')),
    state         text        NOT NULL CHECK (
                      state IN ('draft', 'pending_approval', 'approved', 'rejected', 'archived')),
    revision      integer     NOT NULL CHECK (revision >= 1),
    live_revision integer     CHECK (live_revision BETWEEN 1 AND revision),
    submitted_by  uuid,
    -- Descriptive key/value pairs for editors (never sent to screens).
    metadata      jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_by    uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Target of the composite foreign keys that keep references inside one tenant.
    CONSTRAINT content_tenant_id_key UNIQUE (tenant_id, id),
    -- The invariants of ContentLifecycle, enforced again by the database.
    CONSTRAINT content_lifecycle_shape CHECK (
        (state = 'approved') = coalesce(live_revision = revision, false)
        AND (state <> 'archived' OR live_revision IS NULL)
        AND (state NOT IN ('pending_approval', 'approved', 'rejected') OR submitted_by IS NOT NULL)
    )
);
CREATE INDEX content_tenant_state_idx ON content (tenant_id, state, created_at DESC);

CREATE TABLE content_revisions (
    tenant_id    uuid        NOT NULL,
    content_id   uuid        NOT NULL,
    number       integer     NOT NULL CHECK (number >= 1),
    kind         text        NOT NULL CHECK (kind IN ('image', 'video', 'url', 'html', 'text')),
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    duration_s   integer     NOT NULL CHECK (duration_s BETWEEN 1 AND 86400),
    valid_from   timestamptz,
    valid_until  timestamptz CHECK (valid_until > valid_from),
    uri          text        CHECK (char_length(uri) <= 2048),
    body         text        CHECK (char_length(body) <= 65536),
    media_sha256 text        CHECK (media_sha256 ~ '^[0-9a-f]{64}$'),
    media_type   text        CHECK (char_length(media_type) <= 100),
    media_size   bigint      CHECK (media_size >= 0),
    created_by   uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    submitted_by uuid,
    submitted_at timestamptz,
    decision     text        CHECK (decision IN ('approved', 'rejected')),
    decided_by   uuid,
    decided_at   timestamptz,
    reason       text        CHECK (char_length(reason) <= 2000),
    PRIMARY KEY (tenant_id, content_id, number),
    FOREIGN KEY (tenant_id, content_id) REFERENCES content (tenant_id, id),
    CONSTRAINT content_revisions_media_shape CHECK (
        (media_sha256 IS NULL) = (media_type IS NULL) AND (media_sha256 IS NULL) = (media_size IS NULL)
    ),
    CONSTRAINT content_revisions_decision_shape CHECK (
        (decision IS NULL) = (decided_by IS NULL) AND (decision IS NULL) = (decided_at IS NULL)
    )
);

ALTER TABLE content ENABLE ROW LEVEL SECURITY;
CREATE POLICY content_isolation ON content
    USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON content TO signage_app;

ALTER TABLE content_revisions ENABLE ROW LEVEL SECURITY;
CREATE POLICY content_revisions_isolation ON content_revisions
    USING (tenant_id = app_tenant_id())
    WITH CHECK (tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON content_revisions TO signage_app;
