#!/usr/bin/env python3
"""An independent RFC 8441 peer: Python's `h2` package drives an extended CONNECT by hand
against a wspc server over TLS (ALPN h2), then speaks RFC 6455 frames (masked, as a client
must) in the stream's DATA frames.

Usage: h2_client.py HOST PORT [--ca PEM]   (without --ca the certificate is not verified)

Checks: the server's SETTINGS carry SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; a CONNECT with
:protocol websocket gets 200 with no Sec-WebSocket-Accept; a masked text frame (multi-byte
UTF-8) and a masked binary frame of 100000 bytes split over several DATA frames come back
unmasked and identical; a masked close 1000 is answered with close 1000 and END_STREAM; a
CONNECT with sec-websocket-version 8 gets 400; a CONNECT for another :protocol gets 501; a header list over the server's 16 KiB limit is
refused.
Prints each check and "h2_client: N passed, M failed"; exit 1 on any failure.
"""
import os
import socket
import ssl
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings


def frame(opcode, payload):
    """A masked client frame (FIN set)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack('!H', n)
    else:
        head += bytes([0x80 | 127]) + struct.pack('!Q', n)
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def parse(buf):
    """One unmasked server frame from buf: (opcode, payload, rest) or None if incomplete."""
    if len(buf) < 2:
        return None
    opcode, n, i = buf[0] & 0x0F, buf[1] & 0x7F, 2
    if buf[1] & 0x80:
        raise ValueError('server frame is masked')
    if n == 126:
        if len(buf) < 4:
            return None
        n, i = struct.unpack('!H', buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, i = struct.unpack('!Q', buf[2:10])[0], 10
    if len(buf) < i + n:
        return None
    return opcode, bytes(buf[i:i + n]), buf[i + n:]


class Peer:
    def __init__(self, host, port, ca):
        ctx = ssl.create_default_context()
        if ca:
            ctx.load_verify_locations(ca)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(['h2'])
        self.sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=host)
        if self.sock.selected_alpn_protocol() != 'h2':
            raise RuntimeError(f'ALPN chose {self.sock.selected_alpn_protocol()!r}, not h2')
        self.authority = f'{host}:{port}'
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding='utf-8'))
        self.conn.initiate_connection()
        self.flush()
        self.connect_enabled = None
        self.streams = {}
        while self.connect_enabled is None:
            self.pump()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self):
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError('connection closed')
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                s = ev.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
                self.connect_enabled = bool(s and s.new_value == 1)
            elif isinstance(ev, h2.events.ResponseReceived):
                self.streams[ev.stream_id]['headers'] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                self.streams[ev.stream_id]['data'] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.streams[ev.stream_id]['ended'] = True
            elif isinstance(ev, h2.events.StreamReset):
                self.streams[ev.stream_id]['reset'] = ev.error_code
        self.flush()

    def connect(self, path, protocol='websocket', version='13', extra=()):
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = {'headers': None, 'data': bytearray(), 'ended': False, 'reset': None}
        self.conn.send_headers(sid, [(':method', 'CONNECT'), (':protocol', protocol), (':scheme', 'https'),
                                     (':path', path), (':authority', self.authority),
                                     ('sec-websocket-version', version)] + list(extra))
        self.flush()
        while self.streams[sid]['headers'] is None and self.streams[sid]['reset'] is None:
            self.pump()
        return sid

    def send(self, sid, data):
        # Split into DATA frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE).
        for i in range(0, len(data), 16384):
            while self.conn.local_flow_control_window(sid) < min(16384, len(data) - i):
                self.pump()
            self.conn.send_data(sid, data[i:i + 16384])
            self.flush()

    def recv_frame(self, sid):
        st = self.streams[sid]
        while True:
            got = parse(st['data'])
            if got:
                opcode, payload, rest = got
                st['data'] = bytearray(rest)
                return opcode, payload
            if st['ended'] or st['reset'] is not None:
                return None
            self.pump()


def main():
    args = sys.argv[1:]
    ca = None
    if '--ca' in args:
        i = args.index('--ca')
        ca = args[i + 1]
        del args[i:i + 2]
    host, port = args[0], int(args[1])
    results = []

    def check(name, ok, detail=''):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}", flush=True)

    p = Peer(host, port, ca)
    check('SETTINGS_ENABLE_CONNECT_PROTOCOL = 1', p.connect_enabled)
    sid = p.connect('/py-h2')
    hs = p.streams[sid]['headers']
    check('extended CONNECT answered 200', hs.get(':status') == '200', str(hs))
    check('no Sec-WebSocket-Accept over HTTP/2', 'sec-websocket-accept' not in hs, str(hs))
    text = 'héllo wörld — Ωμέγα ✓ 😀'.encode()
    p.send(sid, frame(0x1, text))
    got = p.recv_frame(sid)
    check('masked text frame echoed', got == (0x1, text), repr(got)[:200])
    blob = os.urandom(100000)
    p.send(sid, frame(0x2, blob))
    got = p.recv_frame(sid)
    check('masked binary 100000 B over several DATA frames echoed', got == (0x2, blob), repr(got)[:80])
    p.send(sid, frame(0x8, struct.pack('!H', 1000) + b'bye'))
    got = p.recv_frame(sid)
    check('close 1000 answered with close 1000', got is not None and got[0] == 0x8 and got[1][:2] == b'\x03\xe8',
          repr(got))
    while not p.streams[sid]['ended'] and p.streams[sid]['reset'] is None:
        p.pump()
    check('the server ended the stream (END_STREAM)', p.streams[sid]['ended'], str(p.streams[sid]['reset']))
    p.conn.end_stream(sid)
    p.flush()

    sid = p.connect('/bad-version', version='8')
    hs = p.streams[sid]['headers']
    check('sec-websocket-version 8 gets 400', hs.get(':status') == '400', str(hs))
    sid = p.connect('/other', protocol='not-websocket')
    hs = p.streams[sid]['headers']
    check('another :protocol gets 501', hs.get(':status') == '501', str(hs))
    sid = p.connect('/big', extra=[('x-big', 'a' * 20000)])
    st = p.streams[sid]
    check('a 20000-byte header is refused (431 or reset)',
          (st['headers'] or {}).get(':status') == '431' or st['reset'] is not None, str(st['headers']))
    p.conn.close_connection()
    p.flush()
    p.sock.close()

    failed = results.count(False)
    print(f'h2_client: {len(results) - failed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
