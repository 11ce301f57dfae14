-- Login throttling counts attempts in flight, not only failures (issue 14, M1).
--
-- A login reserves a slot on each of its keys (account, source address) before any
-- password work and gives it back with its outcome, so a burst of simultaneous guesses
-- cannot all be checked before the first failure is counted. A key row may now exist
-- with no failure yet (failures = 0, no failure times) while an attempt is in flight.
--
-- in_flight is trusted only until in_flight_until: a node that dies between reserving and
-- settling leaves a count that lapses by itself instead of locking the key for good.
ALTER TABLE login_throttle
    DROP CONSTRAINT login_throttle_failures_check,
    ADD CONSTRAINT login_throttle_failures_check CHECK (failures >= 0),
    ALTER COLUMN first_failure_at DROP NOT NULL,
    ALTER COLUMN last_failure_at DROP NOT NULL,
    ADD COLUMN in_flight integer NOT NULL DEFAULT 0 CHECK (in_flight >= 0),
    ADD COLUMN in_flight_until timestamptz;
