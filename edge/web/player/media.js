// Media for the manifest's image and video items: downloaded once, checked against the
// manifest's SHA-256, then shown from a blob: URL (never from the network URL, so what
// is shown is exactly what was checked). Verified files are kept in Cache Storage where
// the browser has it (secure contexts), so a reloaded page plays without the network.

import { sha256Hex } from "./sha256.js";

const CACHE_NAME = "signage-media-v1";
const MEDIA_KINDS = new Set(["image", "video"]);

export class MediaError extends Error {}

export class MediaStore {
  /** @param {(message: string) => void} onError */
  constructor(onError) {
    this.onError = onError;
    /** @type {Map<string, string>} sha256 → blob: URL of verified bytes */
    this.urls = new Map();
    /** @type {Map<string, Promise<void>>} */
    this.loading = new Map();
    /** @type {Set<string>} digests that failed: not retried until the manifest changes */
    this.failed = new Set();
  }

  /** The blob: URL to show for `content`, or null while it is not verified. */
  url(content) {
    return content.sha256 ? this.urls.get(content.sha256) || null : null;
  }

  /** Start downloading every media item of `contents`; forget the ones no longer named. */
  prefetch(contents) {
    const wanted = new Set();
    for (const content of contents) {
      if (MEDIA_KINDS.has(content.kind) && content.url && content.sha256) {
        wanted.add(content.sha256);
        this.ensure(content);
      }
    }
    for (const [digest, url] of this.urls) {
      if (!wanted.has(digest)) {
        URL.revokeObjectURL(url);
        this.urls.delete(digest);
      }
    }
    this.failed = new Set([...this.failed].filter((d) => wanted.has(d)));
  }

  /** Download and verify `content` once; resolves when it is ready (or has failed). */
  ensure(content) {
    const digest = content.sha256;
    if (this.urls.has(digest) || this.failed.has(digest)) return Promise.resolve();
    if (!this.loading.has(digest)) {
      const job = this.load(content)
        .catch((error) => {
          this.failed.add(digest);
          this.onError(`content ${content.id}: ${error.message}`);
        })
        .finally(() => this.loading.delete(digest));
      this.loading.set(digest, job);
    }
    return this.loading.get(digest);
  }

  async load(content) {
    const digest = content.sha256.toLowerCase();
    let bytes = await this.cached(digest);
    if (bytes === null) {
      const response = await fetch(content.url, { credentials: "omit", referrerPolicy: "no-referrer" });
      if (!response.ok) throw new MediaError(`download failed (HTTP ${response.status})`);
      bytes = await response.arrayBuffer();
    }
    const actual = await sha256Hex(bytes);
    if (actual !== digest) {
      await this.forget(digest);
      throw new MediaError(`SHA-256 mismatch (got ${actual.slice(0, 12)}…, want ${digest.slice(0, 12)}…): not shown`);
    }
    await this.keep(digest, bytes, content.media_type);
    const blob = new Blob([bytes], { type: content.media_type || "application/octet-stream" });
    this.urls.set(content.sha256, URL.createObjectURL(blob));
  }

  async cached(digest) {
    if (!globalThis.caches) return null;
    try {
      const cache = await caches.open(CACHE_NAME);
      const hit = await cache.match(`/signage-media/${digest}`);
      return hit ? await hit.arrayBuffer() : null;
    } catch {
      return null; // storage refused (private mode, quota): download instead
    }
  }

  async keep(digest, bytes, mediaType) {
    if (!globalThis.caches) return;
    try {
      const cache = await caches.open(CACHE_NAME);
      const headers = { "Content-Type": mediaType || "application/octet-stream" };
      await cache.put(`/signage-media/${digest}`, new Response(bytes, { headers }));
    } catch {
      // A full or refused cache only costs a download at the next page load.
    }
  }

  async forget(digest) {
    if (!globalThis.caches) return;
    try {
      const cache = await caches.open(CACHE_NAME);
      await cache.delete(`/signage-media/${digest}`);
    } catch {
      // nothing kept, nothing to forget
    }
  }

  /** The `clear_cache` command: drop every kept file; the manifest's are fetched again. */
  async clear() {
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
    this.failed.clear();
    if (globalThis.caches) await caches.delete(CACHE_NAME);
  }
}
