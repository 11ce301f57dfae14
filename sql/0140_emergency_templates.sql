-- Emergency templates: a tenant's pre-written emergencies, approved by a second person
-- before anyone can trigger one with {"template_id"} alone (docs/emergencies.md,
-- "Templates").
--
-- A template holds exactly what a trigger would (message, severity, target, expiry, mode),
-- under the same limits as `emergencies`. What was approved is what triggers: after the
-- insert only the approval and the archiving may be recorded, once each, in that order
-- (or archiving straight from pending), and never an approval by the template's creator.
CREATE TABLE emergency_templates (
    id             uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL REFERENCES tenants (id),
    name           text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    message        text        NOT NULL CHECK (char_length(message) BETWEEN 1 AND 1000),
    severity       text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    target_all     boolean     NOT NULL,
    target_groups  text[]      NOT NULL DEFAULT '{}',
    target_devices uuid[]      NOT NULL DEFAULT '{}',
    expires_in_s   integer     CHECK (expires_in_s BETWEEN 1 AND 604800),
    mode           text        NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'drill')),
    state          text        NOT NULL DEFAULT 'pending_approval'
                               CHECK (state IN ('pending_approval', 'approved', 'archived')),
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    approved_by    text,
    approved_at    timestamptz,
    archived_by    text,
    archived_at    timestamptz,
    CONSTRAINT emergency_templates_one_target CHECK (
        (target_all AND target_groups = '{}' AND target_devices = '{}')
        OR (NOT target_all AND target_groups <> '{}' AND target_devices = '{}')
        OR (NOT target_all AND target_groups = '{}' AND target_devices <> '{}')
    ),
    -- Four eyes, whatever the code above says.
    CONSTRAINT emergency_templates_four_eyes CHECK (approved_by <> created_by),
    CONSTRAINT emergency_templates_approval_shape
        CHECK ((approved_by IS NULL) = (approved_at IS NULL)),
    CONSTRAINT emergency_templates_archive_shape
        CHECK ((archived_by IS NULL) = (archived_at IS NULL)),
    CONSTRAINT emergency_templates_state_shape CHECK (
        (state = 'pending_approval' AND approved_at IS NULL AND archived_at IS NULL)
        OR (state = 'approved' AND approved_at IS NOT NULL AND archived_at IS NULL)
        OR (state = 'archived' AND archived_at IS NOT NULL)
    )
);
-- Names are unique among the templates in use; an archived one's name may be reused.
CREATE UNIQUE INDEX emergency_templates_live_name_key ON emergency_templates (tenant_id, name)
    WHERE state <> 'archived';
-- The list's order (name, id), archived ones included.
CREATE INDEX emergency_templates_tenant_name_idx ON emergency_templates (tenant_id, name, id);

CREATE FUNCTION emergency_templates_only_decisions() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF OLD.state = 'archived' THEN
        RAISE EXCEPTION 'emergency template % is archived: it cannot change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.state = 'approved' AND NEW.state <> 'archived' THEN
        RAISE EXCEPTION 'emergency template % is approved: it can only be archived', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.id, NEW.tenant_id, NEW.name, NEW.message, NEW.severity, NEW.target_all,
        NEW.target_groups, NEW.target_devices, NEW.expires_in_s, NEW.mode, NEW.created_by,
        NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.tenant_id, OLD.name, OLD.message, OLD.severity, OLD.target_all,
        OLD.target_groups, OLD.target_devices, OLD.expires_in_s, OLD.mode, OLD.created_by,
        OLD.created_at)
       OR (OLD.approved_at IS NOT NULL
           AND (NEW.approved_by, NEW.approved_at) IS DISTINCT FROM
               (OLD.approved_by, OLD.approved_at)) THEN
        RAISE EXCEPTION 'emergency template %: what was written (and approved) cannot change',
            OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER emergency_templates_only_decisions BEFORE UPDATE ON emergency_templates
    FOR EACH ROW EXECUTE FUNCTION emergency_templates_only_decisions();

ALTER TABLE emergency_templates ENABLE ROW LEVEL SECURITY;
CREATE POLICY emergency_templates_isolation ON emergency_templates
    USING (app_is_platform() OR tenant_id = app_tenant_id())
    WITH CHECK (app_is_platform() OR tenant_id = app_tenant_id());
GRANT SELECT, INSERT, UPDATE ON emergency_templates TO signage_app;
