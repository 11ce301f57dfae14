-- A session opened by single sign-on whose provider asserted a second factor (the ID
-- token's amr, RFC 8176): it meets second-factor policies (MFA_REQUIRED_ROLES, a tenant's
-- policy) without a TOTP enrolled here. Password sessions never carry it.
ALTER TABLE refresh_families
    ADD COLUMN mfa_at_provider boolean NOT NULL DEFAULT false;

-- Housekeeping deletes expired sign-ins of every scope in bounded batches, oldest first.
CREATE INDEX sso_login_states_expires_idx ON sso_login_states (expires_at);
