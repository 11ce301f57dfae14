// The player's service worker: the page and its files come from the node when it answers
// and from this cache when it does not, so a screen that restarts its browser while the
// network is down starts again and plays its stored manifest and checked media
// (player.js, media.js). Nothing else is touched: the API, the WebSocket and media go to
// the network as they would without it. Secure contexts only (https, localhost).

const CACHE_NAME = "signage-player-v1";
/** The page and every file it loads (tests/web checks this list against the package). */
const FILES = [
  "/player",
  "/player/player.css",
  "/player/player.js",
  "/player/backoff.js",
  "/player/media.js",
  "/player/playback.js",
  "/player/sha256.js",
  "/player/icon.svg",
];
/** An unreachable node that does not refuse (a dead route) is given up on after this. */
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE_NAME)
      .then((cache) => cache.addAll(FILES))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!FILES.includes(url.pathname)) return;
  event.respondWith(networkFirst(event.request, url.pathname));
});

/** The node's answer (kept for next time), else the kept one: upgrades apply at once. */
async function networkFirst(request, path) {
  const cache = await caches.open(CACHE_NAME);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), NETWORK_TIMEOUT_MS);
  try {
    const response = await fetch(request, { signal: controller.signal });
    if (response.ok) await cache.put(path, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(path);
    if (kept) return kept;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
