// The player reconnect contract (docs/devices.md, "The player reconnect contract"), the
// same rule as `signage simulate` (simulator/screen.py, reconnect_delay): exponential
// backoff with full jitter from 1 s to 60 s, a Retry-After as a floor, a `reconnect`
// frame's after_ms exact. Pure: every input is an argument, so it is tested as is.

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 60000;

/**
 * Milliseconds to wait before the next attempt, after `failures` attempts in a row that
 * did not reach a `welcome` (0 after a session that did).
 * @param {number} failures
 * @param {{retryAfterS?: number|null, afterMs?: number|null, rng?: () => number}} [given]
 */
export function reconnectDelay(failures, given = {}) {
  const { retryAfterS = null, afterMs = null, rng = Math.random } = given;
  if (afterMs !== null && afterMs !== undefined) {
    return Math.max(0, afterMs); // the node said when: it is draining (1012)
  }
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures));
  let delay = rng() * ceiling; // full jitter: a building's screens spread over the window
  if (retryAfterS !== null && retryAfterS !== undefined) {
    delay = Math.max(delay, retryAfterS * 1000);
  }
  return delay;
}

/**
 * A Retry-After header's value in seconds (delta-seconds or an HTTP date), else null.
 * @param {string|null} header
 * @param {number} [nowMs]
 */
export function parseRetryAfter(header, nowMs = Date.now()) {
  if (!header) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, (at - nowMs) / 1000);
}
