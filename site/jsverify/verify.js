// verify.js: the citylog verifier in the browser (docs/SPEC.md §6).
//
// It checks a city code against a log it does not trust, as cityverify
// does: the code's check character before any request; the signed
// checkpoint (C2SP signed-note, tlog-checkpoint, cosignature/v1 witness
// quorum) or checkpoint.edge (SPEC §5.1); the entry's inclusion, proven
// from tlog-tiles hash tiles with the leaf hash computed from the entry
// bundle; and the entry itself (SPEC §4). It is held to the Go verifier
// (package verifier) by shared vectors run in a real Chromium
// (site/jsverify/jsverify_test.go): same verdict, same files fetched.
//
// Verdicts: "verified"; "failed" for what the Go verifier calls
// ErrFailed (evidence against the log or the mirror) and also for
// ErrInput (a malformed code or key: then `input: true` is set and
// nothing was fetched, as cityverify exits 2 for it rather than 1);
// "unchecked" for everything else (a file missing, a host down, a
// timeout), which cityverify reports with exit status 3.
//
// No dependencies and no build step: WebCrypto for SHA-256 and Ed25519.
import iso from './rules.js';

const te = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Bounds on what one file may hold, as tiles/source.MaxSize: a hostile
// host cannot make us read more.
const MAX_CHECKPOINT = 1 << 16;
const EDGE_HEADER = 'citylog.org/checkpoint-edge/v1\n';
const MAX_EDGE = EDGE_HEADER.length + 64 * 45 + 1 + MAX_CHECKPOINT;
const MAX_OTHER = 4 << 20;
const MAX_ENTRY = 65535;
const EDGE_PATH = 'checkpoint.edge';
const EXTRA_PATH = 'extra-subdivisions.txt';
const EMPTY_ROOT = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';

// A check that ends early: verdict "failed" or "unchecked", and why.
class Stop extends Error {
  constructor(verdict, message, input = false) {
    super(message);
    this.verdict = verdict;
    this.input = input;
  }
}
const failed = (msg) => new Stop('failed', msg);
const unchecked = (msg) => new Stop('unchecked', msg);
const badInput = (msg) => new Stop('failed', msg, true);

// A file a host did not serve: ErrUnavailable of tiles/source, and
// refused (ErrRefused) when it answered 401, 403 and the like.
class Unavailable extends Error {
  constructor(message, refused = false) {
    super(message);
    this.refused = refused;
  }
}

// ---- bytes

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

const latin1 = (b) => {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
};

const toB64 = (b) => btoa(latin1(b));

// fromB64 decodes as Go's base64.StdEncoding does: padding required,
// unused bits ignored. Where a spelling must be unique, callers compare
// toB64 of the result with the input.
function fromB64(s) {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

function hash32(s) {
  const h = fromB64(s);
  return h && h.length === 32 && toB64(h) === s ? h : null;
}

const u32 = (b, at) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

// Go's unicode.IsSpace, which TrimSpace and key names use; JavaScript's
// trim differs by U+FEFF and U+0085.
const GO_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const trimRe = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, 'gu');
const spaceRe = new RegExp(`[${GO_SPACE}]`, 'u');
const trimGo = (s) => s.replace(trimRe, '');

// upperGo is Go's strings.ToUpper: the simple case mapping, one
// character for one (JavaScript's turns ß into SS).
const upperGo = (s) => [...s].map((c) => {
  const u = c.toUpperCase();
  return [...u].length === 1 ? u : c;
}).join('');

// ---- hashing (RFC 6962)

const sha256 = async (...parts) => new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)));
const leafHash = (entry) => sha256([0], entry);
const nodeHash = (l, r) => sha256([1], l, r);

// subtreeRoot is the hash of a perfect subtree over 2^k hashes.
async function subtreeRoot(hashes) {
  while (hashes.length > 1) {
    const up = [];
    for (let i = 0; i < hashes.length; i += 2) up.push(nodeHash(hashes[i], hashes[i + 1]));
    hashes = await Promise.all(up);
  }
  return hashes[0];
}

// foldRight folds perfect subtrees, left to right, into their root.
async function foldRight(hashes) {
  let root = hashes[hashes.length - 1];
  for (let i = hashes.length - 2; i >= 0; i--) root = await nodeHash(hashes[i], root);
  return root;
}

// verifyInclusion is RFC 9162 §2.1.3.2.
async function verifyInclusion(index, size, leaf, proof, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1n, r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  return sn === 0n && equal(r, root);
}

// ---- keys and signed notes (C2SP signed-note, tlog-cosignature)

const keyID = async (name, typedKey) => u32(await sha256(te.encode(name + '\n'), typedKey), 0);
const validName = (n) => n !== '' && !spaceRe.test(n) && !n.includes('+');

function ed25519(pub) {
  let key;
  return async (msg, sig) => {
    if (sig.length !== 64) return false;
    try {
      key ??= await crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
      return await crypto.subtle.verify('Ed25519', key, sig, msg);
    } catch (e) {
      // Not evidence against the log: this browser cannot check.
      if (e.name === 'NotSupportedError') throw unchecked('this browser cannot verify Ed25519 signatures (WebCrypto)');
      return false; // a key that is no curve point verifies nothing, as in Go
    }
  };
}

// logKey reads the log's note verifier key, name+hash+base64(01||pub),
// as x/mod's note.NewVerifier does.
async function logKey(vkey) {
  const [name, hex, b64] = splitKey(vkey);
  const key = fromB64(b64 ?? '');
  if (!/^[0-9a-fA-F]{8}$/.test(hex ?? '') || !key || !validName(name) || key.length === 0) {
    throw badInput(`"${vkey}" is not a note verifier key (name+hash+key)`);
  }
  if (parseInt(hex, 16) !== await keyID(name, key)) throw badInput(`verifier key "${vkey}": the hash does not match the key`);
  if (key[0] !== 1 || key.length !== 33) throw badInput(`verifier key "${vkey}" is not an Ed25519 key`);
  const check = ed25519(key.subarray(1));
  return { name, id: parseInt(hex, 16), pub: key.subarray(1), verify: check };
}

// witnessKey reads a cosignature/v1 verifier key, base64(04||pub), as
// tiles/cosig.NewVerifier does.
async function witnessKey(vkey) {
  const [name, hex, b64] = splitKey(trimGo(String(vkey)));
  const raw = fromB64(b64 ?? '');
  if (!name || hex?.length !== 8 || !raw || raw.length !== 33 || raw[0] !== 4) {
    throw badInput(`witness key "${vkey}" is not a cosignature/v1 key <name>+<key id>+<key>`);
  }
  if (!/^[0-9a-fA-F]{8}$/.test(hex) || parseInt(hex, 16) !== await keyID(name, raw)) {
    throw badInput(`witness key "${vkey}": key ID does not match the key`);
  }
  const check = ed25519(raw.subarray(1));
  return {
    name, id: parseInt(hex, 16), pub: raw.subarray(1),
    verify: (text, sig) => {
      if (sig.length !== 72) return false;
      const ts = new DataView(sig.buffer, sig.byteOffset).getBigUint64(0);
      if (ts === 0n || ts >= 1n << 63n) return false;
      return check(concat(te.encode(`cosignature/v1\ntime ${ts}\n`), text), sig.subarray(8));
    },
  };
}

function splitKey(s) {
  const i = s.indexOf('+');
  if (i < 0) return [s];
  const j = s.indexOf('+', i + 1);
  return j < 0 ? [s.slice(0, i), s.slice(i + 1), ''] : [s.slice(0, i), s.slice(i + 1, j), s.slice(j + 1)];
}

// policy reads the witnesses, refusing one given twice (it would count
// twice towards the quorum), as verifier.ParseWitnesses.
async function policy(witnesses, quorum) {
  const ws = [];
  if (!Array.isArray(witnesses)) throw badInput('witnesses is not a list of witness keys');
  for (const k of witnesses) {
    const w = await witnessKey(k);
    if (ws.some((o) => o.name === w.name || equal(o.pub, w.pub))) {
      throw badInput(`witness ${w.name} is given twice (by name or by key): one witness cannot count twice towards a quorum`);
    }
    ws.push(w);
  }
  if (!Number.isInteger(quorum) || quorum < 0 || quorum > ws.length) {
    throw badInput(`a quorum of ${quorum} is not between 0 and the ${ws.length} witnesses given`);
  }
  return { witnesses: ws, quorum };
}

// openNote verifies a signed note as x/mod's note.Open: every signature
// by a known key must verify, unknown ones are skipped, at least one known
// must be there.
async function openNote(msg, known) {
  let s;
  try {
    s = utf8.decode(msg);
  } catch {
    return { malformed: 'is not valid UTF-8' };
  }
  const split = s.lastIndexOf('\n\n');
  if (/[\x00-\x09\x0b-\x1f]/.test(s) || split < 0) return { malformed: 'is not a signed note' };
  const text = s.slice(0, split + 1), block = s.slice(split + 2);
  if (!block.endsWith('\n')) return { malformed: 'does not end in a signature line' };
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > 100) return { malformed: 'has more than 100 signatures' };
  const textBytes = te.encode(text), sigs = [], unverified = [], seen = new Set();
  for (const line of lines) {
    if (!line.startsWith('\u2014 ')) return { malformed: 'has a line that is not a signature' };
    const rest = line.slice(2), sp = rest.indexOf(' ');
    const name = sp < 0 ? rest : rest.slice(0, sp), b64 = sp < 0 ? '' : rest.slice(sp + 1);
    const sig = fromB64(b64);
    if (!sig || b64 === '' || !validName(name) || sig.length < 5) return { malformed: 'has a malformed signature line' };
    const id = u32(sig, 0), k = known.find((v) => v.name === name && v.id === id);
    if (seen.has(k ? name + '+' + id : line)) continue;
    seen.add(k ? name + '+' + id : line);
    if (!k) {
      unverified.push({ name, id });
    } else if (await k.verify(textBytes, sig.subarray(4))) {
      sigs.push(k);
    } else {
      return { invalid: `${name}+${hex8(id)}` };
    }
  }
  return { text, sigs, unverified };
}

const hex8 = (n) => n.toString(16).padStart(8, '0');

// openCheckpoint is verifier.OpenCheckpoint: the log's signature, the
// witness quorum, a canonical body whose origin is the key's name.
async function openCheckpoint(signed, key, pol, where) {
  const n = await openNote(signed, [key, ...pol.witnesses]);
  if (n.malformed) throw failed(`${where} ${n.malformed}`);
  if (n.invalid) throw failed(`${where} carries a signature by ${n.invalid} that does not verify`);
  const origin = n.text.split('\n')[0];
  if (!n.sigs.includes(key)) {
    const by = n.unverified.map((s) => `${s.name}+${hex8(s.id)}`).join(', ') || 'no key';
    throw failed(`${where} is not signed by this key (${key.name}+${hex8(key.id)}): the checkpoint of origin "${origin}" is signed by ${by}`);
  }
  const cosigners = pol.witnesses.filter((w) => n.sigs.includes(w)).map((w) => w.name);
  if (pol.quorum > 0 && cosigners.length < pol.quorum) {
    const missing = pol.witnesses.filter((w) => !n.sigs.includes(w)).map((w) => w.name).join(', ');
    throw failed(`${where} is cosigned by ${cosigners.length} of the ${pol.quorum} witnesses required; missing: ${missing}`);
  }
  const lines = n.text.slice(0, -1).split('\n');
  const size = lines[1], root = hash32(lines[2] ?? '');
  let why = '';
  if (lines.length < 3) why = `has ${lines.length} lines, want at least origin, size and root`;
  else if (lines[0] === '') why = 'has an empty origin';
  else if (!/^(0|[1-9][0-9]*)$/.test(size) || BigInt(size) >= 1n << 64n) why = `size "${size}" is not a decimal number without leading zeros`;
  else if (!root) why = `root "${lines[2]}" is not the base64 of 32 bytes`;
  else if (size === '0' && lines[2] !== EMPTY_ROOT) why = 'of size 0 does not carry the empty root';
  else if (lines.slice(3).includes('')) why = 'has an empty extension line';
  else if (origin !== key.name) why = `origin "${origin}" is not the key's "${key.name}"`;
  if (why) throw failed(`${where}: the signed checkpoint ${why}`);
  return { origin, size: BigInt(size), root, signed, cosigners };
}

// ---- checkpoint.edge (SPEC §5.1)

const isEdge = (b) => equal(b.subarray(0, EDGE_HEADER.length), te.encode(EDGE_HEADER));

function parseEdge(b) {
  let at = EDGE_HEADER.length;
  const hashes = [];
  for (;;) {
    const nl = b.indexOf(10, at);
    if (nl < 0) throw failed(`${EDGE_PATH} ends before the empty line that precedes its checkpoint`);
    const line = latin1(b.subarray(at, nl));
    at = nl + 1;
    if (line === '') break;
    if (hashes.length === 64) throw failed(`${EDGE_PATH} has more than 64 hashes`);
    const h = line.length === 44 && hash32(line);
    if (!h) throw failed(`${EDGE_PATH}: hash ${hashes.length + 1} is not the base64 of 32 bytes`);
    hashes.push(h);
  }
  if (at === b.length) throw failed(`${EDGE_PATH} holds no checkpoint`);
  return { hashes, checkpoint: b.subarray(at) };
}

// rangeNodes are the perfect subtrees [level, index] of the compact
// range [lo, hi), left to right (largest first from 0).
function rangeNodes(lo, hi) {
  const out = [];
  while (lo < hi) {
    let l = 0n;
    while (l < 63n && lo % (2n << l) === 0n && lo + (2n << l) <= hi) l++;
    out.push([l, lo >> l]);
    lo += 1n << l;
  }
  return out;
}

// ---- tiles (C2SP tlog-tiles)

function tilePath(level, index, width) {
  let s = String(index % 1000n).padStart(3, '0');
  for (let n = index / 1000n; n > 0n; n /= 1000n) s = `x${String(n % 1000n).padStart(3, '0')}/${s}`;
  return `tile/${level < 0 ? 'entries' : level}/${s}${width < 256 ? `.p/${width}` : ''}`;
}

// tileWidth is the width of tile (level, index) in a tree of size; level
// -1 (a bundle) follows level 0. 0 if the tree has no such tile.
function tileWidth(level, index, size) {
  const n = size >> (8n * BigInt(Math.max(level, 0)));
  if (n / 256n > index) return 256;
  return n / 256n === index ? Number(n % 256n) : 0;
}

// source fetches files of the public tree under base, within the bounds
// above, retrying once what may pass (a network error, 5xx, 429, a
// timeout). get returns the bytes, or null for 404 and 410 (the file is
// not there); it throws Unavailable otherwise.
function source(base, fetchFn, timeout) {
  const fetched = [];
  let b = String(base);
  if (!b.endsWith('/')) b += '/';
  const root = new URL(b, globalThis.location?.href);
  async function once(path, max) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeout);
    const stop = new Promise((_, reject) => ctl.signal.addEventListener('abort', () => reject(
      Object.assign(new Unavailable(`${path}: no complete response within ${timeout} ms`), { retry: true }))));
    stop.catch(() => {});
    try {
      let resp;
      try {
        resp = await Promise.race([fetchFn(new URL(path, root).href, { signal: ctl.signal }), stop]);
      } catch (e) {
        throw e instanceof Unavailable ? e : Object.assign(new Unavailable(`${path}: ${e.message}`), { retry: true });
      }
      if (resp.status === 404 || resp.status === 410) return null;
      if (resp.status === 429 || resp.status >= 500) throw Object.assign(new Unavailable(`${path}: status ${resp.status}`), { retry: true });
      if (resp.status !== 200) throw new Unavailable(`${path}: status ${resp.status}`, true);
      const len = Number(resp.headers?.get?.('content-length') ?? 0);
      if (len > max + max / 64 + 1024) throw new Unavailable(`${path}: Content-Length ${len} is more than the ${max} bytes allowed`);
      if (!resp.body) {
        const all = new Uint8Array(await Promise.race([resp.arrayBuffer(), stop]));
        if (all.length > max) throw new Unavailable(`${path}: more than the ${max} bytes allowed`);
        return all;
      }
      const reader = resp.body.getReader(), chunks = [];
      for (let n = 0; ;) {
        const { done, value } = await Promise.race([reader.read(), stop]);
        if (done) return concat(...chunks);
        n += value.length;
        if (n > max) {
          reader.cancel().catch(() => {});
          throw new Unavailable(`${path}: more than the ${max} bytes allowed`);
        }
        chunks.push(value);
      }
    } finally {
      clearTimeout(timer);
    }
  }
  async function get(path, max) {
    fetched.push(path);
    try {
      return await once(path, max);
    } catch (e) {
      if (!e.retry) throw e;
      await new Promise((r) => setTimeout(r, 100));
      return once(path, max);
    }
  }
  return { get, fetched };
}

// fetchFile fetches a file: its bytes, or null if the host has none.
async function fetchFile(src, path, max) {
  try {
    return await src.get(path, max);
  } catch (e) {
    throw unchecked(`couldn't fetch ${e.message}`);
  }
}

// fetchTile fetches a tile (a bundle if level is -1), falling back from
// a partial the host no longer has to the full tile that replaced it, as
// tlog-tiles allows. It returns the path read, the bytes, and whether
// they are the full tile's.
async function fetchTile(src, level, index, width) {
  const path = tilePath(level, index, width), per = level < 0 ? 2 + MAX_ENTRY : 32;
  const b = await fetchFile(src, path, width * per);
  if (b !== null) return { path, data: b, full: width === 256 };
  if (width < 256) {
    const full = tilePath(level, index, 256);
    const fb = await src.get(full, 256 * per).catch(() => null);
    if (fb !== null) return { path: full, data: level < 0 || fb.length < width * 32 ? fb : fb.subarray(0, width * 32), full: true };
  }
  throw unchecked(`${path} is not there (404)`);
}

// parseBundle splits an entry bundle into exactly width entries.
function parseBundle(b, width, path) {
  const out = [];
  for (let at = 0; at < b.length;) {
    if (b.length - at < 2) throw failed(`${path}: entry ${out.length} has a dangling length byte`);
    const n = (b[at] << 8) | b[at + 1];
    if (b.length - at - 2 < n) throw failed(`${path}: entry ${out.length} claims ${n} bytes but only ${b.length - at - 2} remain`);
    if (out.length === width) throw failed(`${path} holds more than ${width} entries`);
    out.push(b.subarray(at + 2, at + 2 + n));
    at += 2 + n;
  }
  if (out.length !== width) throw failed(`${path} holds ${out.length} entries, want ${width}`);
  return out;
}

// proveInclusion fetches the leaf's bundle and the tiles its inclusion
// proof needs, all at once (as verifier.ProveInclusion: neither depends on
// the other, and each is a round trip), builds the proof (with the checked
// edge, if any) and verifies it against the signed root. The leaf hash
// comes from the entry bytes, never a tile.
async function proveInclusion(src, cp, index) {
  const size = cp.size, bi = index / 256n, bw = tileWidth(-1, bi, size);
  const own = tilePath(0, bi, bw); // the bundle's leaf hashes stand for it
  const memo = new Map(cp.edge ?? []);
  // The proof (RFC 6962 PATH), as lists of perfect nodes to fold.
  const items = [];
  for (let m = index, lo = 0n, n = size; n > 1n;) {
    let k = 1n;
    while (k << 1n < n) k <<= 1n;
    if (m < k) {
      items.unshift(rangeNodes(lo + k, lo + n));
      n = k;
    } else {
      items.unshift(rangeNodes(lo, lo + k));
      m -= k; lo += k; n -= k;
    }
  }
  const where = new Map(), wanted = [];
  for (const [l, k] of items.flat()) {
    if (memo.has(`${l}/${k}`)) continue;
    const tl = Number(l / 8n), first = k << (l % 8n), ti = first / 256n, w = tileWidth(tl, ti, size);
    const path = tilePath(tl, ti, w);
    where.set(`${l}/${k}`, [path, Number(first % 256n), Number(first % 256n) + (1 << Number(l % 8n))]);
    if (path !== own && !wanted.some((t) => t[0] === path)) wanted.push([path, tl, ti, w]);
  }
  const bundleP = fetchTile(src, -1, bi, bw);
  bundleP.catch(() => {}); // awaited below, first
  const got = await Promise.allSettled(wanted.map(([, tl, ti, w]) => fetchTile(src, tl, ti, w)));
  const bundle = await bundleP; // its error comes first, as if fetched first
  const entries = parseBundle(bundle.data, bundle.full ? 256 : bw, bundle.path).slice(0, bw);
  const entry = entries[Number(index % 256n)];
  const tiles = new Map([[own, await Promise.all(entries.map(leafHash))]]);
  const lost = got.find((g) => g.status === 'rejected');
  if (lost) throw lost.reason;
  const used = [bundle.path];
  const served = [{ file: bundle.path, level: 0n, index: bi, hashes: tiles.get(own) }];
  got.forEach(({ value: { path, data } }, i) => {
    const w = wanted[i][3];
    if (data.length !== w * 32) throw failed(`${path} is ${data.length} bytes, want ${w * 32} for ${w} hashes`);
    tiles.set(wanted[i][0], Array.from({ length: w }, (_, j) => data.subarray(32 * j, 32 * j + 32)));
    used.push(path);
    served.push({ file: path, level: BigInt(wanted[i][1]), index: wanted[i][2], hashes: tiles.get(wanted[i][0]) });
  });
  // All nodes at once: awaited one after another, their digests took
  // twice as long in a cold page (18 ms against 8 for a proof at 2.4M).
  const roots = await Promise.all([...where.values()].map(([path, start, end]) => subtreeRoot(tiles.get(path).slice(start, end))));
  [...where.keys()].forEach((key, i) => memo.set(key, roots[i]));
  const proof = await Promise.all(items.map((nodes) => foldRight(nodes.map(([l, k]) => memo.get(`${l}/${k}`)))));
  if (!await verifyInclusion(index, size, await leafHash(entry), proof, cp.root)) {
    const culprit = await blame(cp, served);
    if (culprit) throw failed(`entry ${index} is not in the signed tree: ${culprit}`);
    throw failed(`entry ${index} is not in the signed tree: its inclusion proof, built from ${used.join(', ')}` +
      `${cp.edge ? ` and ${EDGE_PATH}` : ''}, does not lead to the root of size ${size}; one of these files is not the log's`);
  }
  return { entry, proof, bundlePath: bundle.path };
}

// blame finds which served file broke an inclusion proof, so that the
// verdict names it alone: each tile (the bundle's leaf hashes first among
// them at level 0) is held, from the highest level down, to the nodes
// already known to be the log's: those of checkpoint.edge, whose fold to
// the signed root was checked, and those of tiles that passed. A tile
// whose hashes fold to another value than a known node over the same
// entries is not the log's. It returns null when no file can be singled
// out (no edge, or no known node over the tiles' entries).
async function blame(cp, served) {
  const known = new Map((cp.edge ?? []).map(([key, hash]) => [key, { hash, from: EDGE_PATH }]));
  for (const t of [...served].sort((a, b) => (a.level < b.level ? 1 : -1))) {
    const h0 = 8n * t.level, first = t.index * 256n, end = first + BigInt(t.hashes.length);
    for (const [key, { hash, from }] of [...known]) {
      const [h, k] = key.split('/').map(BigInt);
      if (h < h0) continue;
      const lo = k << (h - h0), hi = (k + 1n) << (h - h0);
      if (lo < first || hi > end) continue;
      const span = t.hashes.slice(Number(lo - first), Number(hi - first));
      if (!equal(await subtreeRoot(span), hash)) {
        const what = t.level === 0n ? 'its entries' : 'its hashes of entries';
        return `${t.file} is not the log's: ${what} ${lo << h0} to ${(hi << h0) - 1n} ` +
          `do not hash to the signed tree's node over them (from ${from})`;
      }
      span.forEach((x, j) => known.set(`${h0}/${lo + BigInt(j)}`, { hash: x, from: t.file }));
    }
  }
  return null;
}

// ---- codes (SPEC §1, log/idcode)

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function checkChar(s) {
  let p = 36;
  for (const c of s) {
    const v = parseInt(c, 36);
    if (Number.isNaN(v)) continue;
    let t = (p + v) % 36;
    if (t === 0) t = 36;
    p = (2 * t) % 37;
  }
  return ((37 - p) % 36).toString(36).toUpperCase();
}

function serial(index) {
  let s = '';
  for (let n = index; n > 0n; n >>= 5n) s = CROCKFORD[Number(n & 31n)] + s;
  return s.padStart(4, '0');
}

const codeOf = (cc, sub, index) => {
  const c = `${cc}-${sub}-${serial(index)}-`;
  return c + checkChar(c);
};

// readCode is idcode.Parse, with the index as a BigInt.
function readCode(s) {
  if (typeof s !== 'string') return { ok: false, error: 'a code is a string' };
  const inp = upperGo(trimGo(s)), parts = inp.split('-');
  const bad = (why) => ({ ok: false, error: `"${s}" is not a code: ${why}` });
  if (parts.length !== 4) return bad('it does not have the form CC-SSS-NNNN-K (four parts separated by "-")');
  const [cc, sub, ser, check] = parts;
  if (!/^[A-Z]{2}$/.test(cc)) return bad(`country "${cc}" is not two letters A-Z`);
  if (!/^[A-Z0-9]{1,3}$/.test(sub)) return bad(`subdivision "${sub}" is not 1-3 of [A-Z0-9]`);
  if (ser.length < 4) return bad(`serial "${ser}" has fewer than 4 characters`);
  if (ser.length > 4 && (ser[0] === '0' || ser[0] === 'O')) return bad(`serial "${ser}" has a leading zero beyond 4 characters`);
  if (ser.length > 13) return bad(`serial "${ser}" is too long`);
  let index = 0n;
  for (const c of ser) {
    const d = CROCKFORD.indexOf(c === 'O' ? '0' : c === 'I' || c === 'L' ? '1' : c);
    if (d < 0) return bad(`serial "${ser}": "${c}" is not a Crockford base32 digit`);
    index = (index << 5n) | BigInt(d);
  }
  if (index >= 1n << 64n) return bad(`serial "${ser}" is too large`);
  if (!/^[0-9A-Z]$/.test(check)) return bad(`check character "${check}" is not one of [0-9A-Z]`);
  const code = codeOf(cc, sub, index);
  if (code.at(-1) !== check) {
    return {
      ok: false, suggestion: code,
      error: `code ${inp} has check character ${check}, expected ${code.at(-1)}: a character is probably mistyped`,
    };
  }
  return { ok: true, code, country: cc, subdivision: sub, index };
}

/**
 * parseCode reads a code as cityverify does (SPEC §1.2): lower case,
 * surrounding space and the Crockford aliases O, I, L are accepted. A
 * wrong check character comes with the corrected code as `suggestion`.
 * @param {string} s
 * @returns {{ok: true, code: string, country: string, subdivision: string, index: number}
 *   | {ok: false, error: string, suggestion?: string}}
 */
export function parseCode(s) {
  const c = readCode(s);
  return c.ok ? { ...c, index: Number(c.index) } : c;
}

// ---- the rules (SPEC §2, log/entry)

const isoSubs = new Map();

// rules are the ISO data, plus a log's extra subdivisions ("CC-SSS").
function rules(extra = new Set()) {
  const subsOf = (cc) => {
    if (!isoSubs.has(cc)) isoSubs.set(cc, new Set(iso[cc] ? iso[cc].split(' ') : []));
    return isoSubs.get(cc);
  };
  const country = (cc) => Object.hasOwn(iso, cc);
  return {
    country,
    subdivision: (cc, sub) => country(cc) && (sub === '0' ? iso[cc] === '' : subsOf(cc).has(sub) || extra.has(`${cc}-${sub}`)),
    extra,
  };
}
const builtin = rules();

// parseExtra is entry.Rules.ParseExtraSubdivisions.
function parseExtra(b) {
  const extra = new Set();
  new TextDecoder().decode(b).split('\n').forEach((raw, i) => {
    const line = trimGo(raw), dash = line.indexOf('-');
    if (line === '' || line.startsWith('#')) return;
    const cc = line.slice(0, dash), sub = line.slice(dash + 1);
    if (dash < 0 || !builtin.country(cc) || !/^[A-Z0-9]{1,3}$/.test(sub) || sub === '0') {
      throw failed(`${EXTRA_PATH}, line ${i + 1}: "${line}" is not CC-SSS with CC an ISO 3166-1 country and SSS 1-3 of [A-Z0-9]`);
    }
    extra.add(line);
  });
  return rules(extra);
}

const cut = (s, sep) => {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
};

function canonicalID(cc, id, r) {
  const [scheme, value] = cut(id, ':');
  if (value === undefined) return null;
  if (scheme === 'unlocode') {
    const v = upperGo(value);
    return v.length === 5 && v.slice(0, 2) === cc && /^[A-Z2-9]{3}$/.test(v.slice(2)) ? `unlocode:${v}` : null;
  }
  if (scheme === 'geonames') return /^[1-9][0-9]{0,11}$/.test(value) ? id : null;
  if (scheme === 'iso3166-2') {
    const v = upperGo(value), [c, sub] = cut(v, '-');
    return c === cc && sub !== undefined && sub !== '0' && r.subdivision(cc, sub) ? `iso3166-2:${v}` : null;
  }
  if (scheme === 'national') {
    const [c, rest = ''] = cut(value, ':'), [authority, code] = cut(rest, ':');
    const part = /^[A-Za-z0-9.-]{1,32}$/;
    return c === cc && code !== undefined && part.test(authority) && part.test(code) ? id : null;
  }
  return null;
}

const jsonString = (s) => `"${s.replace(/["\\\x00-\x1f]/g, (c) => (c < ' ' ? `\\u00${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\${c}`))}"`;

// round6 is entry's roundCoord: to millionths, halves away from zero.
const round6 = (v) => (Math.sign(v) * Math.round(Math.abs(v) * 1e6)) / 1e6 || 0;

const daysIn = (y, m) => [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];

const FIELDS = ['v', 'code', 'country', 'subdivision', 'name', 'ids', 'lat', 'lon', 'time'];

// checkEntry is verifier.CheckEntry (entry.Rules.Decode and the index),
// in the same order, so that it asks for the log's extra subdivisions in
// exactly the cases the Go verifier does: it returns {entry} or {error},
// with unknownSub set when the subdivision is well formed but unknown.
function checkEntry(bytes, index, r) {
  const bad = (why) => ({ error: why });
  let e;
  try {
    e = JSON.parse(utf8.decode(bytes));
  } catch {
    return bad('it is not UTF-8 JSON');
  }
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return bad('it is not a JSON object');
  const unknown = Object.keys(e).find((k) => !FIELDS.includes(k));
  if (unknown !== undefined) return bad(`unknown field "${unknown}"`);
  const str = (k) => (e[k] === undefined ? '' : e[k]);
  if (['code', 'country', 'subdivision', 'name', 'time'].some((k) => typeof str(k) !== 'string')) return bad('a field is not a string');
  const ids = e.ids === undefined ? [] : e.ids;
  if (!Array.isArray(ids) || ids.length > 8 || ids.some((x) => typeof x !== 'string')) return bad('ids is not an array of at most 8 strings');
  if (['lat', 'lon'].some((k) => e[k] !== undefined && !Number.isFinite(e[k]))) return bad('lat or lon is not a number');
  if (e.v !== undefined && !(Number.isInteger(e.v) && e.v >= 0)) return bad('v is not a non-negative integer');
  if ((e.v ?? 0) !== 1) return bad(`format version ${e.v ?? 0}, this verifier reads 1`);
  const cc = str('country'), sub = str('subdivision'), c = readCode(str('code'));
  if (!c.ok) return bad(c.error);
  if (c.country !== cc || c.subdivision !== sub) return bad(`code ${c.code} does not match country "${cc}" and subdivision "${sub}"`);
  const t = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/.exec(str('time'))?.slice(1).map(Number);
  if (!t || t[1] < 1 || t[1] > 12 || t[2] < 1 || t[2] > daysIn(t[0], t[1]) || t[3] > 23 || t[4] > 59 || t[5] > 59) {
    return bad(`time "${str('time')}" is not YYYY-MM-DDThh:mm:ssZ`);
  }
  if (!r.country(cc)) return bad(`country "${cc}" is not an ISO 3166-1 alpha-2 code`);
  if (!r.subdivision(cc, sub)) {
    const why = `subdivision "${sub}" is not one of ${cc} in ${r.extra.size ? `the ISO data or ${EXTRA_PATH}` : 'the ISO data'}`;
    return { error: why, unknownSub: sub !== '0' && /^[A-Z0-9]{1,3}$/.test(sub) };
  }
  const name = trimGo(str('name')).normalize('NFC'), chars = [...name].length;
  if (chars < 1 || chars > 200) return bad(`name has ${chars} characters after trimming, want 1-200`);
  if (/[\p{Cc}\uFFFD]|(?![\u200C\u200D])\p{Cf}/u.test(name)) return bad('name contains a control or format character');
  if (ids.length === 0) return bad('ids: a city needs 1-8 identifiers');
  const canon = ids.map((id) => canonicalID(cc, id, r));
  if (canon.includes(null)) {
    const id = ids[canon.indexOf(null)];
    // An iso3166-2 identifier of a well-formed subdivision the rules lack
    // may be one of the log's extra subdivisions, like the entry's own.
    const [scheme, value = ''] = cut(id, ':'), [c2, s2] = cut(upperGo(value), '-');
    const unknownSub = scheme === 'iso3166-2' && c2 === cc && s2 !== undefined && s2 !== '0' && /^[A-Z0-9]{1,3}$/.test(s2) && !r.subdivision(cc, s2);
    return { error: `identifier "${id}" is not valid for ${cc}`, unknownSub };
  }
  canon.sort();
  if (canon.some((id, i) => i > 0 && id === canon[i - 1])) return bad('an identifier is given twice');
  let loc = '';
  if (e.lat !== undefined && e.lon !== undefined) {
    if (!(e.lat >= -90 && e.lat <= 90 && e.lon >= -180 && e.lon <= 180)) return bad(`location ${e.lat},${e.lon} is out of range`);
    loc = `,"lat":${round6(e.lat)},"lon":${round6(e.lon)}`;
  }
  const canonical = `{"v":1,"code":${jsonString(c.code)},"country":${jsonString(cc)},"subdivision":${jsonString(sub)},` +
    `"name":${jsonString(name)},"ids":[${canon.map(jsonString).join(',')}]${loc},"time":${jsonString(str('time'))}}`;
  if (!equal(te.encode(canonical), bytes)) return bad(`entry ${c.code} is not in canonical form`);
  if (c.index !== index) return bad(`it carries code ${c.code}, whose serial is index ${c.index}`);
  return { entry: e, code: c.code };
}

// ---- the checks

// readCheckpoint is verifier.Log.Checkpoint: checkpoint.edge if the host
// has one (a file without its header line, a 404 or a refusal mean it has
// none), else checkpoint.
async function readCheckpoint(src, key, pol) {
  let b;
  try {
    b = await src.get(EDGE_PATH, MAX_EDGE);
  } catch (e) {
    if (!e.refused) throw unchecked(`couldn't fetch ${e.message}`);
  }
  if (b && isEdge(b)) {
    const edge = parseEdge(b);
    const cp = await openCheckpoint(edge.checkpoint, key, pol, EDGE_PATH);
    const nodes = rangeNodes(0n, cp.size);
    if (edge.hashes.length !== nodes.length) {
      throw failed(`${EDGE_PATH} has ${edge.hashes.length} hashes, a tree of size ${cp.size} has ${nodes.length} perfect subtrees`);
    }
    if (cp.size > 0n && !equal(await foldRight(edge.hashes), cp.root)) {
      throw failed(`${EDGE_PATH}: the right edge served with the signed checkpoint does not fold to its root`);
    }
    cp.edge = nodes.map(([l, k], i) => [`${l}/${k}`, edge.hashes[i]]);
    return cp;
  }
  b = await fetchFile(src, 'checkpoint', MAX_CHECKPOINT);
  if (b === null) throw unchecked('checkpoint is not there (404)');
  return openCheckpoint(b, key, pol, 'checkpoint');
}

const summary = (cp) => ({ origin: cp.origin, size: Number(cp.size), root: toB64(cp.root), cosigners: cp.cosigners });

function signedBy(cp, pol) {
  if (pol.quorum > 0) return `signed by the log's key and cosigned by ${cp.cosigners.length} of the ${pol.quorum} witnesses required (${cp.cosigners.join(', ')})`;
  return "signed by the log's key (no witness quorum required)";
}

// result turns a Stop into a result, and rethrows anything else: a bug.
function result(e, extra) {
  if (!(e instanceof Stop)) throw e;
  return { verdict: e.verdict, detail: e.message, ...(e.input ? { input: true } : {}), ...extra };
}

/**
 * verifyCode proves a code end to end, as verifier.Log.VerifyCode: the
 * code's syntax and check character (before any request), the checkpoint
 * and witness quorum, the entry's inclusion, the entry itself. It never
 * throws for anything a host or the input can do.
 *
 * The result: verdict ("verified", "failed" or "unchecked", see the top
 * of this file), detail (one sentence: what was checked, or what failed
 * and in which file), fetched (the paths asked for, in order), input
 * (true when the code or a key is malformed: nothing was fetched),
 * suggestion (the corrected code, for a mistyped check character),
 * checkpoint ({origin, size, root (base64), cosigners}) once it verified,
 * entryBytes once the entry is proven in the tree, entry (the parsed
 * entry) once it is also valid, and receipt (a c2sp.org/tlog-proof@v1
 * whose extra line is the entry, SPEC §5.4) when verified.
 *
 * @param {object} o
 * @param {string} o.base the log's URL: absolute, or relative to the page
 * @param {string} o.key the log's note verifier key
 * @param {string[]} [o.witnesses] cosignature/v1 witness verifier keys
 * @param {number} [o.quorum] how many of them must have cosigned
 * @param {string} o.code the code
 * @param {function} [o.fetch] fetch(url) returning a Response
 * @param {number} [o.timeout] milliseconds one request may take
 */
export async function verifyCode({ base, key, witnesses = [], quorum = 0, code, fetch = globalThis.fetch.bind(globalThis), timeout = 10000 }) {
  const out = { fetched: [] };
  try {
    const c = readCode(code);
    if (!c.ok) throw Object.assign(badInput(c.error), c.suggestion ? { suggestion: c.suggestion } : {});
    if (!globalThis.crypto?.subtle) throw unchecked('this page has no WebCrypto: it must be served over https (or from localhost)');
    const k = await logKey(String(key)), pol = await policy(witnesses, quorum);
    let src;
    try {
      src = source(base, fetch, timeout);
    } catch {
      throw badInput(`base "${base}" is not a URL`);
    }
    out.fetched = src.fetched;
    const cp = await readCheckpoint(src, k, pol);
    out.checkpoint = summary(cp);
    if (c.index >= cp.size) throw failed(`${c.code} is not in the log (tree size ${cp.size})`);
    const inc = await proveInclusion(src, cp, c.index);
    out.entryBytes = inc.entry;
    let r = checkEntry(inc.entry, c.index, builtin);
    if (r.unknownSub) {
      // The extra subdivisions only add to the ISO data: read them only
      // for an entry the ISO data alone does not admit.
      let b;
      try {
        b = await src.get(EXTRA_PATH, MAX_OTHER);
      } catch (e) {
        throw unchecked(`couldn't fetch ${e.message}`);
      }
      r = checkEntry(inc.entry, c.index, b === null ? builtin : parseExtra(b));
    }
    if (r.error) throw failed(`entry ${c.index} (${inc.bundlePath}) is not a valid citylog entry: ${r.error}`);
    out.entry = r.entry;
    if (r.code !== c.code) throw failed(`index ${c.index} holds ${r.code}, not ${c.code}`);
    out.receipt = `c2sp.org/tlog-proof@v1\nextra ${toB64(inc.entry)}\nindex ${c.index}\n${inc.proof.map((h) => toB64(h) + '\n').join('')}\n` +
      utf8.decode(cp.signed);
    return {
      verdict: 'verified', ...out,
      detail: `${c.code} is entry ${c.index} of ${cp.origin}, in its checkpoint of size ${cp.size} with root ${toB64(cp.root)}, ` +
        `${signedBy(cp, pol)}; the entry is canonical, valid under the log's rules, and carries this code.`,
    };
  } catch (e) {
    return result(e, { ...out, ...(e.suggestion ? { suggestion: e.suggestion } : {}) });
  }
}

/**
 * verifyReceipt checks an offline receipt (SPEC §5.4) with no network, as
 * verifier.VerifyReceipt with the built-in rules: an entry in a
 * subdivision only the log's extra-subdivisions.txt lists is "unchecked".
 * @param {string|Uint8Array} text the c2sp.org/tlog-proof@v1 file
 * @param {string} key the log's note verifier key
 * @param {string[]} [witnesses]
 * @param {number} [quorum]
 */
export async function verifyReceipt(text, key, witnesses = [], quorum = 0) {
  const out = {};
  try {
    const data = typeof text === 'string' ? te.encode(text) : text;
    const k = await logKey(String(key)), pol = await policy(witnesses, quorum);
    let at = -1;
    for (let i = 0; i + 1 < data.length && at < 0; i++) if (data[i] === 10 && data[i + 1] === 10) at = i;
    if (at < 0) throw badInput('not a receipt: no blank line before its checkpoint');
    const lines = latin1(data.subarray(0, at)).split('\n'), signed = data.subarray(at + 2);
    if (lines.shift() !== 'c2sp.org/tlog-proof@v1') throw badInput('not a receipt: it does not start with c2sp.org/tlog-proof@v1');
    let extra = null;
    if (lines[0]?.startsWith('extra ')) {
      const v = lines.shift().slice(6);
      extra = fromB64(v);
      if (!extra?.length || toB64(extra) !== v) throw badInput("not a receipt: the extra line is not canonical, non-empty base64");
    }
    if (!extra) throw badInput('receipt has no entry (no extra line): not a citylog receipt');
    const idx = /^index (0|[1-9][0-9]*)$/.exec(lines.shift() ?? '')?.[1];
    if (idx === undefined || BigInt(idx) >= 1n << 64n) throw badInput('not a receipt: no canonical index line');
    const proof = lines.map(hash32);
    if (proof.length > 64 || proof.includes(null) || !signed.length) throw badInput('not a receipt: bad proof hashes or no checkpoint');
    const cp = await openCheckpoint(signed, k, pol, "the receipt's checkpoint");
    out.checkpoint = summary(cp);
    const index = BigInt(idx);
    if (!await verifyInclusion(index, cp.size, await leafHash(extra), proof, cp.root)) {
      throw failed(`the receipt's entry is not in its checkpoint's tree (index ${index}, size ${cp.size})`);
    }
    out.entryBytes = extra;
    const r = checkEntry(extra, index, builtin);
    if (r.unknownSub) {
      throw unchecked(`the receipt's signature and proof hold, but its entry's ${r.error}: it may be one the log's operator added (${EXTRA_PATH}), which only the log publishes`);
    }
    if (r.error) throw failed(`entry ${index} is not a valid citylog entry: ${r.error}`);
    out.entry = r.entry;
    return {
      verdict: 'verified', ...out,
      detail: `${r.code} is entry ${index} of ${cp.origin}, in its checkpoint of size ${cp.size} with root ${toB64(cp.root)}, ` +
        `${signedBy(cp, pol)}; the entry is canonical, valid under the ISO data, and carries its code.`,
    };
  } catch (e) {
    return result(e, out);
  }
}
