// SHA-256 of downloaded media, checked against the manifest before anything is shown.
// WebCrypto where the page is a secure context (https, localhost); elsewhere (a player
// on plain http on a LAN, where `crypto.subtle` does not exist) this file's own
// implementation (FIPS 180-4), so a screen never shows bytes it could not check.

const rotr = (x, n) => (x >>> n) | (x << (32 - n));

function primes(count) {
  const found = [];
  for (let n = 2; found.length < count; n++) {
    if (found.every((p) => n % p !== 0)) found.push(n);
  }
  return found;
}

const frac32 = (x) => Math.floor((x - Math.floor(x)) * 2 ** 32) >>> 0;
// The constants are the standard's definition (fractional parts of the square and cube
// roots of the first primes); tests/web checks the digests against known values.
const K = Uint32Array.from(primes(64), (p) => frac32(Math.cbrt(p)));
const H0 = Uint32Array.from(primes(8), (p) => frac32(Math.sqrt(p)));

/** Hex SHA-256 of `bytes`, in JavaScript. @param {Uint8Array} bytes */
export function sha256Fallback(bytes) {
  const length = bytes.length;
  const padded = new Uint8Array(Math.ceil((length + 9) / 64) * 64);
  padded.set(bytes);
  padded[length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
  view.setUint32(padded.length - 4, (length * 8) >>> 0);
  const h = Uint32Array.from(H0);
  const w = new Uint32Array(64);
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15];
      const b = w[i - 2];
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let i = 0; i < 64; i++) {
      const s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const t1 = (k + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      k = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    [a, b, c, d, e, f, g, k].forEach((v, i) => {
      h[i] = (h[i] + v) >>> 0;
    });
  }
  return Array.from(h, (v) => v.toString(16).padStart(8, "0")).join("");
}

/** Hex SHA-256 of `buffer`. @param {ArrayBuffer} buffer @returns {Promise<string>} */
export async function sha256Hex(buffer) {
  if (globalThis.crypto && globalThis.crypto.subtle) {
    const digest = await globalThis.crypto.subtle.digest("SHA-256", buffer);
    return Array.from(new Uint8Array(digest), (v) => v.toString(16).padStart(2, "0")).join("");
  }
  return sha256Fallback(new Uint8Array(buffer));
}
