// The site's page script: the code page (verify a code in the browser,
// with site/verify.js), search (by code, by identifier through the log's
// index/ids shards, by name through site/names), and small touches on the
// home page. Every search answer is a hint that links to the code page,
// which proves it; nothing here is trusted.
import { parseCode, verifyCode } from './verify.js';

const meta = (name) => document.querySelector(`meta[name="citylog-${name}"]`)?.content ?? '';
// The public tree's root, relative to this page ("" for pages at the root).
const root = meta('log') || './';

// fold is site/fold.go's Fold, character for character: NFKD without
// marks, lower case, a few letters spelled out, and every run of other
// characters one space. The Go tests hold the two together in a browser.
const spelled = { 'ß': 'ss', 'ẞ': 'ss', 'Æ': 'ae', 'æ': 'ae', 'Œ': 'oe', 'œ': 'oe', 'Ø': 'o', 'ø': 'o', 'Ł': 'l', 'ł': 'l',
  'Đ': 'd', 'đ': 'd', 'Ħ': 'h', 'ħ': 'h', 'ı': 'i', 'Þ': 'th', 'þ': 'th', 'Ð': 'd', 'ð': 'd' };
export function fold(s) {
  let out = '';
  let space = false;
  for (const ch of s.normalize('NFKD')) {
    if (/\p{M}/u.test(ch)) continue;
    if (/[\p{L}\p{Nd}]/u.test(ch)) {
      if (space && out.length > 0) out += ' ';
      space = false;
      out += spelled[ch] ?? ch.toLowerCase();
    } else {
      space = true;
    }
  }
  return out;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- the code page ----

let started = performance.now();

function logSettings() {
  const q = new URLSearchParams(location.search);
  const witnesses = q.getAll('witness').flatMap((w) => w.split(/\s+/)).filter(Boolean);
  return {
    base: q.get('log') || root,
    key: q.get('key') || meta('key'),
    witnesses: q.has('witness') ? witnesses : meta('witnesses').split(/\s+/).filter(Boolean),
    quorum: Number(q.get('quorum') ?? meta('quorum') ?? 0) || 0,
  };
}

// setVerdict shows an outcome; final says the check is over, for people
// and for automated checks (data-done, and data-ms: how long it took).
function setVerdict(verdict, text, final = true) {
  const v = document.getElementById('verdict');
  v.dataset.verdict = verdict;
  if (final) {
    v.dataset.done = 'true';
    v.dataset.ms = String(Math.round(performance.now() - started));
    v.dataset.sinceLoad = String(Math.round(performance.now())); // from the navigation's start
  } else {
    delete v.dataset.done;
  }
  v.replaceChildren(el('span', { class: 'badge', text: { verified: '✔ Verified', failed: '✘ Failed', unchecked: '? Not checked' }[verdict] ?? verdict }), ' ', el('span', { class: 'text', text }));
}

async function codePage() {
  const form = document.getElementById('code-form');
  const input = document.getElementById('code-input');
  const settings = logSettings();
  const logForm = document.getElementById('log-form');
  if (new URLSearchParams(location.search).has('log')) {
    document.getElementById('log-url').value = settings.base;
    document.querySelector('details.settings').open = true;
  }
  logForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    const log = document.getElementById('log-url').value.trim();
    if (log) q.set('log', log);
    q.set('key', document.getElementById('log-key').value.trim());
    for (const w of document.getElementById('log-witnesses').value.split(/\s+/).filter(Boolean)) q.append('witness', w);
    q.set('quorum', document.getElementById('log-quorum').value || '0');
    location.search = q.toString(); // keeps the hash: the code
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = input.value.trim().toUpperCase();
    if (location.hash === '#' + code) run();
    else location.hash = code;
  });
  addEventListener('hashchange', run);
  await run();

  async function run() {
    started = performance.now();
    const code = decodeURIComponent(location.hash.slice(1)).trim();
    document.getElementById('entry').hidden = true;
    document.getElementById('checked').hidden = true;
    if (!code) {
      setVerdict('unchecked', 'Enter a code to verify it against the log’s signed checkpoint.');
      return;
    }
    input.value = code;
    document.title = `${code} · ${meta('origin')}`;
    // The code's syntax and check character come first: a typo is caught
    // here, before any request.
    const parsed = parseCode(code);
    if (!parsed.ok) {
      setVerdict('failed', parsed.error.replace(/[^.!?]$/, '$&.') + (parsed.suggestion ? ` Did you mean ${parsed.suggestion}?` : ''));
      if (parsed.suggestion) {
        const v = document.getElementById('verdict');
        v.append(' ', el('a', { href: '#' + parsed.suggestion, text: `Verify ${parsed.suggestion}` }));
      }
      return;
    }
    setVerdict('unchecked', `Verifying ${parsed.code}…`, false);
    let r;
    try {
      r = await verifyCode({ ...settings, code: parsed.code });
    } catch (e) {
      r = { verdict: 'unchecked', detail: `The verification could not run: ${e.message}`, fetched: [] };
    }
    setVerdict(r.verdict, r.detail);
    const fetched = document.getElementById('fetched');
    fetched.replaceChildren(...(r.fetched ?? []).map((p) => el('li', {}, el('code', { text: p }))));
    document.getElementById('checked').hidden = !(r.fetched ?? []).length;
    if (r.verdict !== 'verified' || !r.entry) return;
    const e = r.entry;
    const facts = document.getElementById('entry-facts');
    const row = (k, v) => [el('dt', { text: k }), v instanceof Node ? el('dd', {}, v) : el('dd', { text: String(v) })];
    const name = el('span', { dir: 'auto', text: e.name });
    facts.replaceChildren(
      ...row('Name', name),
      ...row('Code', el('code', { text: e.code })),
      ...row('Country', e.country),
      ...row('Subdivision', `${e.country}-${e.subdivision}`),
      ...row('Identifiers', (e.ids ?? []).join(', ')),
      ...(e.lat !== undefined ? row('Location', `${e.lat}, ${e.lon}`) : []),
      ...row('Allocated', e.time),
      ...row('Leaf index', parsed.index),
      ...(r.checkpoint ? row('Checkpoint', `size ${r.checkpoint.size}, root ${r.checkpoint.root}`) : []),
    );
    document.getElementById('entry-bytes').textContent = new TextDecoder().decode(r.entryBytes);
    const a = document.getElementById('receipt');
    if (r.receipt) {
      a.href = URL.createObjectURL(new Blob([r.receipt], { type: 'text/plain' }));
      a.download = `${e.code}.tlog-proof`;
      a.hidden = false;
    } else {
      a.hidden = true;
    }
    document.getElementById('entry').hidden = false;
  }
}

// ---- search ----

async function fetchText(path) {
  const resp = await fetch(root + path);
  if (resp.status === 404) return null;
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  return resp.text();
}

function codeLink(code, name) {
  const li = el('li');
  if (name !== undefined) li.append(el('span', { dir: 'auto', class: 'name', text: name }), ' ');
  li.append(el('a', { class: 'code', href: `${root}code.html#${code}`, text: code }));
  const [cc, sub] = code.split('-');
  li.append(' ', el('span', { class: 'muted', text: `${cc}-${sub}` }));
  return li;
}

// tilePath is a tlog-tiles path: the index in groups of three digits.
function tilePath(level, n, width) {
  let s = String(n % 1000).padStart(3, '0');
  for (n = Math.floor(n / 1000); n > 0; n = Math.floor(n / 1000)) s = `x${String(n % 1000).padStart(3, '0')}/${s}`;
  return `tile/${level}/${s}` + (width < 256 ? `.p/${width}` : '');
}

async function entryAt(leaf) {
  const cp = await fetchText('checkpoint');
  const size = Number(cp?.split('\n')[1] ?? 0);
  const n = Math.floor(leaf / 256);
  const width = n < Math.floor(size / 256) ? 256 : size % 256;
  let resp = await fetch(root + tilePath('entries', n, width));
  if (!resp.ok && width < 256) resp = await fetch(root + tilePath('entries', n, 256));
  if (!resp.ok) return null;
  const b = new Uint8Array(await resp.arrayBuffer());
  for (let off = 0, k = 0; off + 2 <= b.length; k++) {
    const len = (b[off] << 8) | b[off + 1];
    if (k === leaf % 256) return JSON.parse(new TextDecoder().decode(b.subarray(off + 2, off + 2 + len)));
    off += 2 + len;
  }
  return null;
}

function canonicalID(id) {
  let [scheme, ...rest] = id.split(':');
  scheme = scheme.toLowerCase();
  let value = rest.join(':');
  if (scheme === 'unlocode' || scheme === 'iso3166-2') value = value.toUpperCase();
  return `${scheme}:${value}`;
}

async function findIdentifier(id, out) {
  const m = JSON.parse((await fetchText('index/ids/meta')) ?? 'null');
  if (!m) return out.append(el('p', { text: 'This log publishes no identifier index.' }));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(id)));
  const key = ((digest[0] << 24) | (digest[1] << 16) | (digest[2] << 8) | digest[3]) >>> 0;
  const shard = (key >>> (32 - m.bits)).toString(16).padStart(Math.ceil(m.bits / 4), '0');
  const text = (await fetchText(`index/ids/${m.bits}/${shard}`)) ?? '';
  const leaves = text.split('\n').filter((l) => l.split('\t')[0] === id).map((l) => Number(l.split('\t')[1]));
  if (!leaves.length) {
    return out.append(el('p', { text: `No city holds ${id} in the first ${m.size} entries the index covers.` }));
  }
  const list = el('ul', { class: 'results' });
  for (const leaf of leaves) {
    const e = await entryAt(leaf);
    if (e?.code) list.append(codeLink(e.code, e.name));
  }
  out.append(el('p', { text: `${id} is held by:` }), list);
}

// The main name index: site/names/leaves.txt and its k<hex>.tsv leaves.
let leavesCache;
async function nameLeaves() {
  if (!leavesCache) {
    const text = (await fetchText('site/names/leaves.txt')) ?? 'citylog-names/v1\n';
    const lines = text.split('\n');
    if (lines[0] !== 'citylog-names/v1') throw new Error('site/names/leaves.txt is not a citylog-names/v1 file');
    const keys = lines.slice(1).filter(Boolean).map(unhex);
    const split = new Set();
    for (const k of keys) {
      const base = k.endsWith('$') ? k.slice(0, -1) : k;
      if (base !== k) split.add(base);
      const chars = [...base];
      for (let i = 0; i < chars.length; i++) split.add(chars.slice(0, i).join(''));
    }
    leavesCache = { keys: new Set(keys), split };
  }
  return leavesCache;
}

// The tail index of the newest names: site/names/tail.txt lists the
// first name of each chunk t<N>.tsv.
async function tailFirsts() {
  const text = (await fetchText('site/names/tail.txt')) ?? 'citylog-names-tail/v1\n';
  const lines = text.split('\n');
  if (lines[0] !== 'citylog-names-tail/v1') throw new Error('site/names/tail.txt is not a citylog-names-tail/v1 file');
  return lines.slice(1).filter(Boolean).map(unhex);
}

function unhex(h) {
  return new TextDecoder().decode(new Uint8Array(h.match(/../g)?.map((x) => parseInt(x, 16)) ?? []));
}

// less compares as Go does, by UTF-8 bytes (JavaScript compares UTF-16
// units, which order some characters differently).
function less(a, b) {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < x.length && i < y.length; i++) if (x[i] !== y[i]) return x[i] < y[i];
  return x.length < y.length;
}

// tailChunksFor is site/tail.go's: the chunks [lo, hi) that may hold
// names starting with q.
export function tailChunksFor(firsts, q) {
  let lo = 0;
  while (lo + 1 < firsts.length && less(firsts[lo + 1], q)) lo++;
  let hi = lo;
  while (hi < firsts.length && (hi === lo || less(firsts[hi], q) || firsts[hi].startsWith(q))) hi++;
  return [lo, hi];
}

function hex(s) {
  return [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// leavesFor walks an index as site/names.go's leafFor does: the leaf a
// folded query falls in or, for a query that stops at a split key, the
// names equal to it and some of the leaves under it.
function leavesFor(t, q) {
  const chars = [...q];
  let key = '';
  let k = 0;
  while (t.split.has(key) && k < chars.length) key += chars[k++];
  if (!t.split.has(key)) return { leaves: t.keys.has(key) ? [key] : [], partial: false };
  const under = [...t.keys].filter((l) => l.startsWith(key)).sort();
  return { leaves: under.slice(0, 6), partial: under.length > 6 };
}

async function findName(query, out) {
  const q = fold(query);
  if (!q) return out.append(el('p', { text: 'Type a few letters of a name.' }));
  // Both indexes, and the files of each, are fetched at once.
  const fetchAll = (paths) => Promise.all(paths.map((p) => fetchText(p)));
  const found = await Promise.all([
    nameLeaves().then((t) => {
      const { leaves, partial } = leavesFor(t, q);
      return fetchAll(leaves.map((leaf) => `site/names/k${hex(leaf)}.tsv`)).then((texts) => ({ texts, partial }));
    }),
    tailFirsts().then((firsts) => {
      const [lo, hi] = tailChunksFor(firsts, q);
      const n = Math.min(hi, lo + 6);
      return fetchAll(Array.from({ length: n - lo }, (_, i) => `site/names/t${lo + i}.tsv`)).then((texts) => ({ texts, partial: hi > n }));
    }),
  ]);
  const partial = found.some((f) => f.partial);
  const hits = [];
  const seen = new Set();
  for (const text of found.flatMap((f) => f.texts)) {
    for (const line of (text ?? '').split('\n')) {
      const [folded, name, code] = line.split('\t');
      if (code && folded.startsWith(q) && !seen.has(code)) {
        seen.add(code);
        hits.push({ folded, name, code });
      }
    }
  }
  hits.sort((a, b) => (a.folded < b.folded ? -1 : a.folded > b.folded ? 1 : a.code < b.code ? -1 : 1));
  if (!hits.length) return out.append(el('p', { text: `No city’s name starts with “${query}”.` }));
  const shown = hits.slice(0, 100);
  out.append(el('p', { text: `${hits.length} ${hits.length === 1 ? 'city' : 'cities'} whose name starts with “${query}”${partial || hits.length > shown.length ? ' (some of them: type more letters to narrow the search)' : ''}:` }),
    el('ul', { class: 'results' }, ...shown.map((h) => codeLink(h.code, h.name))));
}

async function searchPage() {
  const q = new URLSearchParams(location.search).get('q')?.trim() ?? '';
  const input = document.getElementById('q');
  input.value = q;
  const out = document.getElementById('search-results');
  if (!q) return;
  out.replaceChildren(el('p', { text: 'Searching…' }));
  const results = el('div');
  try {
    if (/^[A-Za-z]{2}-[A-Za-z0-9]{1,3}-[0-9A-Za-z]{4,}-[0-9A-Za-z*]$/.test(q)) {
      const p = parseCode(q.toUpperCase());
      if (p.ok) results.append(el('p', { text: 'A code: verify it on its page.' }), el('ul', { class: 'results' }, codeLink(p.code)));
      else results.append(el('p', { text: p.error + (p.suggestion ? ` Did you mean ${p.suggestion}?` : '') }),
        ...(p.suggestion ? [el('ul', { class: 'results' }, codeLink(p.suggestion))] : []));
    } else if (/^(unlocode|geonames|iso3166-2|national):/i.test(q)) {
      await findIdentifier(canonicalID(q), results);
    } else {
      await findName(q, results);
    }
  } catch (e) {
    results.replaceChildren(el('p', { class: 'error', text: `The search could not be completed: ${e.message}` }));
  }
  out.replaceChildren(results);
  out.dataset.done = 'true';
}

function homePage() {
  const here = new URL(root, location.href).href.replace(/\/$/, '');
  for (const s of document.querySelectorAll('.log-url')) {
    if (s.textContent === 'URL-OF-THIS-SITE') s.textContent = here;
  }
}

const page = document.body.dataset.page;
if (page === 'code') codePage();
else if (page === 'search') searchPage();
else if (page === 'home') homePage();
