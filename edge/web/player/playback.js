// What plays when: the manifest's slice covering "now" (server time), looping through its
// items, each for its duration_s. Pure functions plus one small scheduler.

/** The slice of `manifest` that covers `nowMs`, or null. */
export function sliceAt(manifest, nowMs) {
  if (!manifest || !Array.isArray(manifest.slices)) return null;
  for (const slice of manifest.slices) {
    if (Date.parse(slice.start) <= nowMs && nowMs < Date.parse(slice.end)) return slice;
  }
  return null;
}

export class Playback {
  /**
   * @param {{now: () => number, render: (item: object|null, content: object|null) => boolean,
   *          visible: () => boolean, played: (contentId: string, startMs: number, ms: number) => void}} hooks
   *   `render` shows one item (null: the idle screen) and says whether it could;
   *   `visible` says whether the stage can be seen (not under an emergency takeover);
   *   `played` receives each play that ended (proof of play).
   */
  constructor(hooks) {
    this.hooks = hooks;
    /** The play on screen now: {contentId, startMs}, or null. */
    this.current = null;
    this.manifest = null;
    this.content = new Map();
    this.slice = null;
    this.index = -1;
    this.timer = null;
  }

  /** Play `manifest` from now on (the current item restarts only if its slice changed). */
  load(manifest) {
    this.manifest = manifest;
    this.content = new Map((manifest.content || []).map((c) => [c.id, c]));
    this.slice = null;
    this.advance();
  }

  /** Show the next playable item of the current slice, and schedule the one after. */
  advance() {
    clearTimeout(this.timer);
    const now = this.hooks.now();
    this.endPlay(now);
    const slice = sliceAt(this.manifest, now);
    if (slice !== this.slice) {
      this.slice = slice;
      this.index = -1;
    }
    const items = slice ? slice.items || [] : [];
    let shown = null;
    for (let tries = 0; tries < items.length && shown === null; tries++) {
      this.index = (this.index + 1) % items.length;
      const item = items[this.index];
      if (this.hooks.render(item, this.content.get(item.content_id) || null)) shown = item;
    }
    if (shown === null) this.hooks.render(null, null);
    else if (this.hooks.visible()) this.current = { contentId: shown.content_id, startMs: now };
    // Next item after its duration; an idle screen looks again in a few seconds (media
    // still downloading). Never past the slice's end: the next slice starts on time.
    let wait = shown ? shown.duration_s * 1000 : 5000;
    if (slice) wait = Math.min(wait, Math.max(50, Date.parse(slice.end) - now));
    else if (this.manifest) wait = Math.min(wait, 60000);
    this.timer = setTimeout(() => this.advance(), wait);
  }

  /** The play on screen ends now (next item, or hidden by a takeover): report it. */
  endPlay(now = this.hooks.now()) {
    if (this.current !== null) {
      this.hooks.played(this.current.contentId, this.current.startMs, Math.max(0, now - this.current.startMs));
      this.current = null;
    }
  }

  /** What plays now, for the heartbeat's `playing`. */
  playing() {
    const items = this.slice ? this.slice.items || [] : [];
    const item = this.index >= 0 ? items[this.index] : null;
    return item ? `content:${item.content_id}` : null;
  }
}
