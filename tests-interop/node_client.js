#!/usr/bin/env node
// Node `ws` client against a wspc echo server (wspc's *server* role).
//
// Usage: node_client.js URL [--subprotocol chat] [--compression] [--big-mib 16]
//
// Checks: handshake (extensions / subprotocol), multi-byte UTF-8 text, binary with all
// byte values, empty text and binary, fragmented text and binary sends
// (ws.send(chunk, {fin:false}) ... {fin:true}), 100 pipelined messages in order,
// 16 MiB binary and multi-byte text, ping/pong with payload, close 4000 + reason echoed.
// --compression: perMessageDeflate on, and the server must accept it (off otherwise).
// --subprotocol NAME: offer NAME, require the server to select it.
// Ends with "node_client: N passed, M failed"; exit status 1 on any failure.
'use strict';
const path = require('path');
const crypto = require('crypto');
const WebSocket = require(path.join(__dirname, '..', 'node_modules', 'ws'));

const STEP_TIMEOUT_MS = 60000;
const argv = process.argv.slice(2);
let url = null;
let subprotocol = null;
let compression = false;
let bigMiB = 16;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--subprotocol') subprotocol = argv[++i];
  else if (a === '--compression') compression = true;
  else if (a === '--no-compression') compression = false;
  else if (a === '--big-mib') bigMiB = Number(argv[++i]);
  else if (url === null) url = a;
  else { console.error(`node_client.js: unexpected argument ${a}`); process.exit(2); }
}
if (!url) { console.error('usage: node_client.js URL [--subprotocol NAME] [--compression]'); process.exit(2); }

// A tiny deterministic PRNG (xorshift32) so failures are reproducible.
function prngBytes(n, seed) {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

// Queue of incoming messages so that each step can await the next one.
const inbox = [];
const waiters = [];
let closeInfo = null;
const closeWaiters = [];
function nextMessage() {
  if (inbox.length) return Promise.resolve(inbox.shift());
  if (closeInfo) return Promise.reject(new Error(`connection closed (${closeInfo.code} ${closeInfo.reason})`));
  return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

function same(label, sent, got) {
  if (sent.isBinary !== got.isBinary) {
    throw new Error(`${label}: sent ${sent.isBinary ? 'binary' : 'text'}, echo is ${got.isBinary ? 'binary' : 'text'}`);
  }
  const a = Buffer.from(sent.data);
  const b = got.data;
  if (a.length !== b.length) throw new Error(`${label}: sent ${a.length} bytes, echo has ${b.length}`);
  if (!a.equals(b)) {
    let i = 0;
    while (a[i] === b[i]) i++;
    throw new Error(`${label}: echo differs at byte ${i}`);
  }
}

async function echo(ws, label, data, isBinary) {
  ws.send(data, { binary: isBinary });
  const got = await nextMessage();
  same(label, { data, isBinary }, got);
}

const results = [];
async function step(name, fn) {
  const t = process.hrtime.bigint();
  try {
    await withTimeout(fn(), STEP_TIMEOUT_MS, name);
    results.push([name, true]);
    console.log(`ok   ${name} (${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(2)}s)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
  }
}

async function main() {
  console.log(`node_client: ${url} (perMessageDeflate=${compression ? 'on' : 'off'} subprotocol=${subprotocol || '-'})`);
  const ws = new WebSocket(url, subprotocol ? [subprotocol] : [], {
    perMessageDeflate: compression,
    maxPayload: 64 * 1024 * 1024,
    handshakeTimeout: 20000,
    headers: { 'User-Agent': 'wspc-interop-node-client' },
  });
  ws.on('message', (data, isBinary) => {
    const m = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data), isBinary };
    if (waiters.length) waiters.shift().resolve(m); else inbox.push(m);
  });
  ws.on('close', (code, reason) => {
    closeInfo = { code, reason: reason.toString('utf8') };
    for (const w of waiters.splice(0)) w.reject(new Error(`connection closed (${code} ${closeInfo.reason})`));
    for (const r of closeWaiters.splice(0)) r(closeInfo);
  });
  const opened = await withTimeout(new Promise((resolve) => {
    ws.once('open', () => resolve(null));
    ws.once('error', (e) => resolve(e));
    ws.once('unexpected-response', (_req, res) => resolve(new Error(`HTTP ${res.statusCode} instead of 101`)));
  }), 30000, 'connect').catch((e) => e);
  if (opened) {
    console.log(`FAIL connect ${url}: ${opened.message}`);
    console.log('node_client: 0 passed, 1 failed');
    return 1;
  }
  ws.on('error', (e) => console.log(`(socket error: ${e.message})`));

  await step('handshake (extensions/subprotocol)', async () => {
    const ext = ws.extensions || '';
    if (compression && !/permessage-deflate/.test(ext)) throw new Error(`perMessageDeflate offered, server accepted "${ext}"`);
    if (!compression && ext) throw new Error(`nothing offered, server negotiated "${ext}"`);
    if ((ws.protocol || null) !== (subprotocol || null)) {
      throw new Error(`offered subprotocol ${subprotocol || '(none)'}, server selected "${ws.protocol}"`);
    }
  });
  await step('text multi-byte UTF-8', () => echo(ws, 'utf8', 'héllo wörld — Ωμέγα — 日本語 — 🎉🚀 \u0000 end', false));
  await step('binary all byte values', () => echo(ws, 'binary', Buffer.from([...Array(1024).keys()].map((i) => i & 0xff)), true));
  await step('empty text', () => echo(ws, 'empty text', '', false));
  await step('empty binary', () => echo(ws, 'empty binary', Buffer.alloc(0), true));

  await step('fragmented sends (fin:false ... fin:true)', async () => {
    const parts = ['frag-1 ', 'ünïcode ', '', '🎉 split', ' end'];
    parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === parts.length - 1 }));
    same('fragmented text', { data: parts.join(''), isBinary: false }, await nextMessage());
    const bparts = [...Array(10).keys()].map((i) => Buffer.alloc(1000 + i, i));
    bparts.forEach((p, i) => ws.send(p, { binary: true, fin: i === bparts.length - 1 }));
    same('fragmented binary', { data: Buffer.concat(bparts), isBinary: true }, await nextMessage());
    // A 4 MiB binary message sent as 64 fragments of 64 KiB.
    const big = prngBytes(4 * 1024 * 1024, 7);
    for (let i = 0; i < 64; i++) ws.send(big.subarray(i * 65536, (i + 1) * 65536), { binary: true, fin: i === 63 });
    same('4 MiB in 64 fragments', { data: big, isBinary: true }, await nextMessage());
  });

  await step('100 pipelined messages in order', async () => {
    const msgs = [];
    for (let i = 0; i < 100; i++) {
      const isBinary = i % 2 === 0;
      const data = isBinary ? prngBytes((i * 37) % 2000, i + 1) : `msg ${i} ` + 'é'.repeat((i * 53) % 1000);
      msgs.push({ data, isBinary });
      ws.send(data, { binary: isBinary });
    }
    for (let i = 0; i < msgs.length; i++) same(`pipelined ${i}`, msgs[i], await nextMessage());
  });

  const big = bigMiB * 1024 * 1024;
  await step(`${bigMiB} MiB binary`, () => echo(ws, 'big binary', prngBytes(big, 42), true));
  await step(`${bigMiB} MiB multi-byte text`, () => echo(ws, 'big text', 'aé日🎉'.repeat(Math.floor(big / 10)), false));

  await step('ping/pong with payload', async () => {
    for (const payload of [Buffer.alloc(0), Buffer.from('ping-payload-\xff'), Buffer.alloc(125, 0x78)]) {
      if (closeInfo) throw new Error(`connection closed (${closeInfo.code} ${closeInfo.reason})`);
      const pong = new Promise((resolve) => ws.once('pong', resolve));
      ws.ping(payload);
      const got = await withTimeout(pong, 10000, 'pong');
      if (!payload.equals(got)) throw new Error(`pong payload ${got.toString('hex')} != ping ${payload.toString('hex')}`);
    }
    await echo(ws, 'after ping', 'after ping', false);
  });

  await step('close 4000 + reason echoed', async () => {
    const reason = 'bye from node_client — ✓';
    const closed = closeInfo ? Promise.resolve(closeInfo) : new Promise((r) => closeWaiters.push(r));
    ws.close(4000, reason);
    const info = await withTimeout(closed, 20000, 'close echo');
    if (info.code !== 4000) throw new Error(`close echo code ${info.code}, expected 4000`);
    if (info.reason !== reason) throw new Error(`close echo reason "${info.reason}", expected "${reason}"`);
  });

  const passed = results.filter((r) => r[1]).length;
  const failed = results.length - passed;
  console.log(`node_client: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.log(`FAIL: ${e.stack || e}`); process.exit(1); });
