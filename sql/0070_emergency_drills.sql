-- Drills: an emergency is `live` (the default, every emergency before this migration) or a
-- `drill` (an exercise: screens show it marked as one). docs/emergencies.md, "Drills".
--
-- The rules that keep a drill from ever competing with a real emergency are enforced by
-- the use cases under the tenant's emergency counter lock (emergency_sequences): a drill
-- starts only while no live emergency of the tenant is active, and a live start ends the
-- tenant's active drills in its own transaction.

ALTER TABLE emergencies
    ADD COLUMN mode text NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'drill'));

-- What was broadcast is evidence (0030's emergencies_only_end): the mode is part of it.
-- A trigger of its own, so that later migrations replacing 0030's function keep this rule.
CREATE FUNCTION emergencies_mode_fixed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.mode IS DISTINCT FROM OLD.mode THEN
        RAISE EXCEPTION 'emergency %: its mode cannot change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER emergencies_mode_fixed BEFORE UPDATE ON emergencies
    FOR EACH ROW EXECUTE FUNCTION emergencies_mode_fixed();

CREATE INDEX emergencies_active_mode_idx ON emergencies (tenant_id, mode)
    WHERE ended_at IS NULL;

-- The counter row doubles as the tenant's emergency lock. A drill takes it *before* it
-- looks for live emergencies (so a live start cannot slip in between), which needs a row
-- to lock even for a tenant that never had an emergency: 0 = "none yet", as the heads
-- query already reads a missing row.
ALTER TABLE emergency_sequences DROP CONSTRAINT emergency_sequences_last_seq_check;
ALTER TABLE emergency_sequences ADD CONSTRAINT emergency_sequences_last_seq_check
    CHECK (last_seq >= 0);
