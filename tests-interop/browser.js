#!/usr/bin/env node
// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against a
// wspc echo server: the browser's own `new WebSocket(wsUrl)` talks to our server.
//
// Usage: browser.js WS_URL | PAGE_URL [--ws WS_URL] [--subprotocol NAME] [--max-mib 4]
//                   [--screenshot PNG]   (default tests-interop/out/browser.png)
//                   [--spki BASE64]  trust a test certificate: Chromium's
//                     --ignore-certificate-errors-spki-list (base64 SHA-256 of its SPKI)
//                   [--require-extension NAME]  (fail unless NAME was negotiated)
//   WS_URL (ws://...): a local test page (tests-interop/out/browser-page.html, loaded
//     as file://) runs the checks against WS_URL.
//   PAGE_URL (http://, file://, data:): that page is loaded and the checks run inside
//     it (page.evaluate) against --ws WS_URL (default: the page's host with ws://).
//
// Checks: text (multi-byte UTF-8) and binary (PRNG-filled ArrayBuffer) messages of
// 0 B ... 4 MiB each echoed byte for byte, then close(4001, reason) and the close
// event (code 4001, reason, wasClean). Prints every check, the negotiated extensions
// and "browser: N passed, M failed"; saves tests-interop/out/browser.png. Exit 1 on
// any failure. Never downloads a browser.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'node_modules', 'playwright-core'));

const argv = process.argv.slice(2);
let target = null;
let wsUrl = null;
let subprotocol = null;
let maxMiB = 4;
let screenshot = null;
let spki = null;
let requireExtension = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--ws') wsUrl = argv[++i];
  else if (a === '--subprotocol') subprotocol = argv[++i];
  else if (a === '--max-mib') maxMiB = Number(argv[++i]);
  else if (a === '--screenshot') screenshot = argv[++i];
  else if (a === '--spki') spki = argv[++i];
  else if (a === '--require-extension') requireExtension = argv[++i];
  else if (target === null) target = a;
  else { console.error(`browser.js: unexpected argument ${a}`); process.exit(2); }
}
if (!target) { console.error('usage: browser.js WS_URL | PAGE_URL [--ws WS_URL]'); process.exit(2); }

const OUT = path.join(__dirname, 'out');
fs.mkdirSync(OUT, { recursive: true });
if (!screenshot) screenshot = path.join(OUT, 'browser.png');

let pageUrl;
if (/^wss?:\/\//.test(target)) {
  wsUrl = target;
  const pagePath = path.join(OUT, 'browser-page.html');
  fs.writeFileSync(pagePath, `<!doctype html><html><head><meta charset="utf-8"><title>wspc browser interop</title>
<style>body{font:14px sans-serif;margin:16px} td,th{padding:2px 8px;text-align:left}
.ok{color:#080}.fail{color:#c00;font-weight:bold}</style></head>
<body><h2>wspc &harr; Chromium WebSocket interop</h2><div id="info"></div>
<table><thead><tr><th>check</th><th>result</th><th>ms</th></tr></thead><tbody id="rows"></tbody></table>
<p id="summary"></p></body></html>\n`);
  pageUrl = 'file://' + pagePath;
} else {
  pageUrl = target;
  if (!wsUrl) {
    const u = new URL(target);
    if (!/^https?:$/.test(u.protocol)) { console.error('browser.js: --ws WS_URL is needed with a non-http page'); process.exit(2); }
    wsUrl = `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}${u.pathname}`;
  }
}

// Runs inside the page.
async function inPage({ wsUrl, subprotocol, maxMiB }) {
  const rows = document.getElementById('rows');
  const results = [];
  const log = (name, ok, detail, ms) => {
    results.push({ name, ok, detail, ms });
    if (rows) {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td></td><td class="${ok ? 'ok' : 'fail'}"></td><td>${ms}</td>`;
      tr.children[0].textContent = name;
      tr.children[1].textContent = ok ? 'ok' : `FAIL ${detail}`;
      rows.appendChild(tr);
    }
  };
  // xorshift32 PRNG
  const prng = (seed) => { let x = seed >>> 0 || 1; return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; }; };
  const randBytes = (n, seed) => {
    const r = prng(seed); const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = r() & 0xff;
    return b.buffer;
  };
  const CHARS = ['a', 'Z', '0', ' ', 'é', 'ß', 'Ω', 'ж', '日', '本', '語', '€', '🎉', '🚀', '\u0000', '\u{10FFFF}'];
  const LENS = CHARS.map((c) => new TextEncoder().encode(c).length);
  const randText = (nBytes, seed) => { // about nBytes of UTF-8
    const r = prng(seed); const parts = []; let n = 0;
    while (n < nBytes) { const k = r() % CHARS.length; parts.push(CHARS[k]); n += LENS[k]; }
    return parts.join('');
  };

  const inbox = []; const waiters = [];
  let closeEvent = null; let closeResolve = null;
  const closed = new Promise((r) => { closeResolve = r; });
  const ws = await new Promise((resolve, reject) => {
    const s = subprotocol ? new WebSocket(wsUrl, [subprotocol]) : new WebSocket(wsUrl);
    s.binaryType = 'arraybuffer';
    s.onopen = () => resolve(s);
    s.onerror = () => reject(new Error(`WebSocket error connecting to ${wsUrl}`));
    s.onmessage = (ev) => { if (waiters.length) waiters.shift()(ev.data); else inbox.push(ev.data); };
    s.onclose = (ev) => { closeEvent = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean }; closeResolve(closeEvent); };
  }).catch((e) => e);
  if (ws instanceof Error) { log('connect', false, ws.message, 0); return { results, extensions: null, protocol: null }; }
  const info = document.getElementById('info');
  if (info) info.textContent = `${wsUrl} — extensions: "${ws.extensions}" — protocol: "${ws.protocol}"`;
  const next = (ms) => new Promise((resolve, reject) => {
    if (inbox.length) return resolve(inbox.shift());
    if (closeEvent) return reject(new Error(`closed (${closeEvent.code} ${closeEvent.reason})`));
    const t = setTimeout(() => reject(new Error('timeout waiting for echo')), ms);
    waiters.push((d) => { clearTimeout(t); resolve(d); });
  });
  const check = async (name, fn) => {
    const t0 = performance.now();
    try { await fn(); log(name, true, '', Math.round(performance.now() - t0)); } catch (e) { log(name, false, e.message, Math.round(performance.now() - t0)); }
  };

  log('handshake', subprotocol ? ws.protocol === subprotocol : true,
    subprotocol ? `protocol "${ws.protocol}" != "${subprotocol}"` : '', 0);
  const MiB = 1024 * 1024;
  const sizes = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 * MiB, maxMiB * MiB].filter((s) => s <= maxMiB * MiB);
  let seed = 1;
  for (const size of sizes) {
    await check(`text ~${size} B (multi-byte UTF-8)`, async () => {
      const msg = randText(size, seed++);
      ws.send(msg);
      const got = await next(60000);
      if (typeof got !== 'string') throw new Error('echo is not text');
      if (got.length !== msg.length) throw new Error(`echo has ${got.length} UTF-16 units, sent ${msg.length}`);
      if (got !== msg) { let i = 0; while (got[i] === msg[i]) i++; throw new Error(`echo differs at unit ${i}`); }
    });
    await check(`binary ${size} B (PRNG ArrayBuffer)`, async () => {
      const buf = randBytes(size, seed++);
      ws.send(buf);
      const got = await next(60000);
      if (!(got instanceof ArrayBuffer)) throw new Error('echo is not binary');
      if (got.byteLength !== buf.byteLength) throw new Error(`echo has ${got.byteLength} bytes, sent ${buf.byteLength}`);
      const a = new Uint8Array(buf); const b = new Uint8Array(got);
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`echo differs at byte ${i}`);
    });
  }
  await check('20 pipelined mixed messages in order', async () => {
    const sent = [];
    for (let i = 0; i < 20; i++) { const m = i % 2 ? randText(1000 + i, 100 + i) : randBytes(1000 + i, 200 + i); sent.push(m); ws.send(m); }
    for (let i = 0; i < sent.length; i++) {
      const got = await next(30000);
      if (typeof sent[i] === 'string') { if (got !== sent[i]) throw new Error(`message ${i} differs`); } else {
        const a = new Uint8Array(sent[i]); const b = new Uint8Array(got);
        if (a.length !== b.length || a.some((v, j) => v !== b[j])) throw new Error(`message ${i} differs`);
      }
    }
  });
  await check('close 4001 + reason, close event', async () => {
    const reason = 'browser bye ✓';
    ws.close(4001, reason);
    const t = new Promise((_, rej) => setTimeout(() => rej(new Error('no close event within 20 s')), 20000));
    const ev = await Promise.race([closed, t]);
    if (ev.code !== 4001) throw new Error(`close event code ${ev.code}, expected 4001`);
    if (ev.reason !== reason) throw new Error(`close event reason "${ev.reason}", expected "${reason}"`);
    if (!ev.wasClean) throw new Error('close event wasClean=false');
  });
  const passed = results.filter((r) => r.ok).length;
  const s = document.getElementById('summary');
  if (s) s.textContent = `${passed} passed, ${results.length - passed} failed`;
  return { results, extensions: ws.extensions, protocol: ws.protocol };
}

async function main() {
  const t0 = Date.now();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wspc-chromium-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (spki) args.push(`--ignore-certificate-errors-spki-list=${spki}`);
  let context;
  let rc = 1;
  try {
    // launchPersistentContext passes --user-data-dir=<fresh temp dir> to Chromium.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 900, height: 820 }, timeout: 60000,
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.log(`(page console error: ${m.text()})`); });
    await page.goto(pageUrl, { timeout: 30000 });
    console.log(`browser: ${await context.browser()?.version?.() ?? 'chromium'} page ${pageUrl.slice(0, 80)} -> ${wsUrl}`);
    const res = await Promise.race([
      page.evaluate(inPage, { wsUrl, subprotocol, maxMiB }),
      new Promise((_, rej) => setTimeout(() => rej(new Error('page checks did not finish within 180 s')), 180000)),
    ]);
    if (requireExtension) {
      const ok = (res.extensions || '').split(',').some((e) => e.trim().split(';')[0].trim() === requireExtension);
      res.results.push({ name: `extension ${requireExtension} negotiated`, ok, detail: `extensions "${res.extensions}"`, ms: 0 });
    }
    for (const r of res.results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.ok ? '' : ': ' + r.detail} (${r.ms} ms)`);
    console.log(`negotiated extensions: "${res.extensions}", protocol: "${res.protocol}"`);
    await page.screenshot({ path: screenshot, fullPage: true });
    const passed = res.results.filter((r) => r.ok).length;
    const failed = res.results.length - passed;
    console.log(`screenshot: ${screenshot}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    console.log(`browser: ${passed} passed, ${failed} failed`);
    rc = failed ? 1 : 0;
  } catch (e) {
    console.log(`FAIL browser: ${e.message}`);
    console.log('browser: 0 passed, 1 failed');
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  return rc;
}

main().then((rc) => process.exit(rc));
