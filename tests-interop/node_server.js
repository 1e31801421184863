#!/usr/bin/env node
// Node `ws` echo server: a real peer for wspc's *client* role.
//
// Usage: node_server.js [HOST:]PORT [--subprotocol chat] [--compression]
//
// Echoes every text/binary message unchanged (text stays text, binary stays binary;
// messages up to 64 MiB, unlimited fragments), answers close. With --subprotocol NAME
// the handshake is refused (HTTP 400) unless the client offers NAME, which is then
// selected. permessage-deflate is off unless --compression. Prints
// "listening on ws://HOST:PORT" on stderr once bound, then "connection: extensions=...
// subprotocol=..." for each connection. Also a stand-in for wspc's
// echo_server when validating the harness.
'use strict';
const path = require('path');
const { WebSocketServer } = require(path.join(__dirname, '..', 'node_modules', 'ws'));

function usage(msg) {
  if (msg) console.error(`node_server.js: ${msg}`);
  console.error('usage: node_server.js [HOST:]PORT [--subprotocol NAME] [--compression]');
  process.exit(2);
}

let addr = null;
let subprotocol = null;
let compression = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--subprotocol') subprotocol = argv[++i];
  else if (a === '--compression') compression = true;
  else if (a === '--no-compression') compression = false;
  else if (a === '-h' || a === '--help') usage();
  else if (addr === null) addr = a;
  else usage(`unexpected argument ${a}`);
}
if (addr === null) usage('missing PORT');
let host = '127.0.0.1';
let port = addr;
if (addr.includes(':')) {
  const i = addr.lastIndexOf(':');
  host = addr.slice(0, i).replace(/^\[|\]$/g, '') || host;
  port = addr.slice(i + 1);
}
port = Number(port);

const opts = {
  host,
  port,
  maxPayload: 64 * 1024 * 1024,
  maxFragments: 0, // unlimited (Autobahn 9.3.1/9.4.1 send 65,536 fragments)
  perMessageDeflate: compression,
  skipUTF8Validation: false,
};
if (subprotocol) {
  opts.handleProtocols = (protocols) => (protocols.has(subprotocol) ? subprotocol : false);
  opts.verifyClient = (info, cb) => {
    const offered = String(info.req.headers['sec-websocket-protocol'] || '')
      .split(',').map((s) => s.trim());
    if (offered.includes(subprotocol)) cb(true);
    else cb(false, 400, `subprotocol ${subprotocol} required`);
  };
}

const wss = new WebSocketServer(opts);
wss.on('listening', () => {
  const a = wss.address();
  console.error(`listening on ws://${a.address}:${a.port}`);
});
wss.on('error', (e) => { console.error(`node_server.js: ${e.message}`); process.exit(1); });
wss.on('connection', (ws) => {
  console.error(`connection: extensions=${ws.extensions || 'none'} subprotocol=${ws.protocol || 'none'}`);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => process.exit(0));
  });
}
