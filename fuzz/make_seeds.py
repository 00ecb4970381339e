#!/usr/bin/env python3
"""Writes seed inputs for the fuzz targets into fuzz/corpus/<target>/.

The seeds are well-formed examples of what each target parses (every
frame type, transport parameters, headers of every packet type, and for
`connection` / `endpoint` records in the targets' input format), so that
a short run starts from valid structure instead of finding it by chance.
Run from the repository root or from fuzz/: `python3 fuzz/make_seeds.py`.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(v):
    if v < 1 << 6:
        return bytes([v])
    if v < 1 << 14:
        return struct.pack(">H", 0x4000 | v)
    if v < 1 << 30:
        return struct.pack(">I", 0x8000_0000 | v)
    return struct.pack(">Q", 0xC000_0000_0000_0000 | v)


def vbytes(b):
    return varint(len(b)) + b


def frames_for(bidi, uni):
    """One example of every frame type; stream frames on `bidi`/`uni`."""
    return {
        "padding": b"\x00" * 5,
        "ping": b"\x01",
        "ack": b"\x02" + varint(10) + varint(3) + varint(1) + varint(2) + varint(1) + varint(3),
        "ack_ecn": b"\x03" + varint(5) + varint(0) + varint(0) + varint(5) + varint(1) + varint(2) + varint(3),
        "reset_stream": b"\x04" + varint(bidi) + varint(7) + varint(100),
        "stop_sending": b"\x05" + varint(bidi) + varint(9),
        "crypto": b"\x06" + varint(0) + vbytes(b"\x01\x00\x00\x04abcd"),
        "new_token": b"\x07" + vbytes(b"token"),
        "stream": bytes([0x0F]) + varint(bidi) + varint(0) + vbytes(b"hello") ,
        "stream_off": bytes([0x0E]) + varint(bidi) + varint(5) + vbytes(b"world"),
        "stream_uni_fin": bytes([0x0B]) + varint(uni) + vbytes(b"uni"),
        "stream_norest": bytes([0x08]) + varint(bidi) + b"to the end",
        "max_data": b"\x10" + varint(1 << 20),
        "max_stream_data": b"\x11" + varint(bidi) + varint(1 << 16),
        "max_streams_bidi": b"\x12" + varint(200),
        "max_streams_uni": b"\x13" + varint(200),
        "data_blocked": b"\x14" + varint(1000),
        "stream_data_blocked": b"\x15" + varint(bidi) + varint(1000),
        "streams_blocked_bidi": b"\x16" + varint(3),
        "streams_blocked_uni": b"\x17" + varint(3),
        "new_connection_id": b"\x18" + varint(2) + varint(0) + bytes([8]) + b"\x11" * 8 + b"\x22" * 16,
        "retire_connection_id": b"\x19" + varint(0),
        "path_challenge": b"\x1a" + b"\x01\x02\x03\x04\x05\x06\x07\x08",
        "path_response": b"\x1b" + b"\x01\x02\x03\x04\x05\x06\x07\x08",
        "connection_close": b"\x1c" + varint(0x0A) + varint(0x08) + vbytes(b"bad"),
        "connection_close_app": b"\x1d" + varint(0x100) + vbytes(b"bye"),
        "handshake_done": b"\x1e",
        "datagram": b"\x30" + b"payload",
        "datagram_len": b"\x31" + vbytes(b"dgram"),
    }


def tp_int(i, v):
    return varint(i) + vbytes(varint(v))


def transport_params(server):
    p = b""
    if server:
        p += varint(0x00) + vbytes(b"\x01" * 8)
        p += varint(0x02) + vbytes(b"\x33" * 16)
    p += tp_int(0x01, 30000) + tp_int(0x03, 1472) + tp_int(0x04, 1 << 20)
    p += tp_int(0x05, 1 << 16) + tp_int(0x06, 1 << 16) + tp_int(0x07, 1 << 16)
    p += tp_int(0x08, 100) + tp_int(0x09, 100) + tp_int(0x0A, 3) + tp_int(0x0B, 25)
    p += varint(0x0C) + vbytes(b"")
    if server:
        pa = bytes([127, 0, 0, 1]) + struct.pack(">H", 4433) + b"\x00" * 15 + b"\x01" + struct.pack(">H", 4433)
        pa += bytes([8]) + b"\x44" * 8 + b"\x55" * 16
        p += varint(0x0D) + vbytes(pa)
        p += varint(0x10) + vbytes(b"\x66" * 8)
    p += tp_int(0x0E, 4) + varint(0x0F) + vbytes(b"\x77" * 8) + tp_int(0x20, 65535)
    p += varint(58) + vbytes(b"")
    return p


def long_header(ty, dcid, scid, token=b"", payload=b"\x00" * 40, version=1):
    h = bytes([0xC0 | (ty << 4) | 3]) + struct.pack(">I", version)
    h += bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    if ty == 0:
        h += vbytes(token)
    if ty == 3:
        return h + token + b"\x00" * 16
    body = b"\x00\x00\x00\x01" + payload
    return h + varint(len(body)) + body


def record(tag, data):
    return bytes([tag]) + struct.pack("<H", len(data)) + data


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    client_frames = frames_for(bidi=0, uni=2)
    server_frames = frames_for(bidi=1, uni=3)

    # frames: each frame alone, and all of them in one payload.
    for name, f in client_frames.items():
        write("frames", name, f)
    write("frames", "all", b"".join(f for n, f in client_frames.items() if n not in ("stream_norest", "datagram")))

    # transport_params: both sides' full sets and an empty one.
    write("transport_params", "client", transport_params(False))
    write("transport_params", "server", transport_params(True))
    write("transport_params", "empty", b"")

    # packet_header: byte 0 is the short-header DCID length.
    d8, s4 = b"\x01" * 8, b"\x02" * 4
    initial = long_header(0, d8, s4, token=b"tok")
    handshake = long_header(2, d8, s4)
    write("packet_header", "initial", b"\x08" + initial)
    write("packet_header", "zero_rtt", b"\x08" + long_header(1, d8, s4))
    write("packet_header", "coalesced", b"\x08" + initial + handshake + b"\x40" + d8 + b"\x00" * 30)
    write("packet_header", "retry", b"\x08" + long_header(3, d8, s4, token=b"retry-token"))
    write("packet_header", "vn", b"\x08" + b"\x80\x00\x00\x00\x00" + bytes([4]) + s4 + bytes([8]) + d8 + b"\x00\x00\x00\x01\x1a\x2a\x3a\x4a")
    write("packet_header", "unknown_version", b"\x08" + long_header(0, d8, s4, version=0x1A2A3A4A))
    write("packet_header", "short", b"\x08" + b"\x41" + d8 + b"\x00" * 30)

    # endpoint, mode 0: raw datagrams.
    big_initial = long_header(0, d8, s4, payload=b"\x00" * 1200)
    write("endpoint", "raw_initial", b"\x00" + record(0, big_initial))
    write("endpoint", "raw_unknown_version", b"\x00" + record(0, long_header(0, d8, s4, payload=b"\x00" * 1200, version=0x0A0A0A0A)))
    write("endpoint", "raw_short", b"\x00" + record(0, b"\x41" + d8 + b"\x00" * 60))
    # endpoint, mode 1: the DCID record, then Initial payloads.
    init_frames = [client_frames[n] for n in ("crypto", "ack", "ping", "padding", "connection_close")]
    write("endpoint", "sealed_frames", b"\x01" + record(0, d8) + b"".join(record(0, f) for f in init_frames))
    write("endpoint", "sealed_with_token", b"\x01" + record(0, d8 + b"some-token-bytes") + record(0, client_frames["crypto"]))
    # endpoint, mode 2: edits of a real ClientHello; none at all first.
    write("endpoint", "hello", b"\x02")
    write("endpoint", "hello_edit", b"\x02" + record(0, b"\x20\x00\xff\xff") + record(1, b"\x40\x00\x00"))

    # connection: tag 2 = frames from the client to the server, tag 4 =
    # frames from the server to the client, 6 = a client stream, 7 = a
    # datagram each way, 0/1/5 = raw datagrams.
    for name, f in client_frames.items():
        write("connection", "c2s_" + name, record(2, f))
    for name, f in server_frames.items():
        write("connection", "s2c_" + name, record(4, f))
    write("connection", "traffic", record(6, b"request") + record(7, b"dgram") + record(2 | 8, client_frames["stream"]))
    write("connection", "stream_then_reset", record(6, b"abc" * 50) + record(2, client_frames["reset_stream"]) + record(2, client_frames["stop_sending"]))
    write("connection", "raw", record(0, b"\x41" + b"\x00" * 60) + record(1, b"\xc0\x00\x00\x00\x01" + b"\x00" * 60) + record(5, b"\x41" + b"\x00" * 60))
    write("connection", "many", b"".join(record(2, f) for f in client_frames.values()))


if __name__ == "__main__":
    main()
