"""A lean MQTT 5 subscriber for `alloyhub ingest`: what the ingest needs and nothing else.

Why not paho: the ingest receives tens of thousands of small QoS 1 messages a
second and paho, being general, reads each packet with several `recv` calls,
builds a Properties object per message and matches every topic against its
callback tree, under the GIL the ingest's own thread needs: the profile gave
it two fifths of the process. This reader takes whatever the socket holds in
one `recv`, cuts out every complete PUBLISH, and hands the lot to the ingest
in ONE call; acknowledgements are sent in lots too.

What it does: CONNECT (clean start off, session expiry, Receive Maximum,
user name and password, TLS when asked), SUBSCRIBE once connected, PUBLISH
in at QoS 0 and 1 with the Content Type property, PUBACK sent only when the
ingest says so (manual acknowledgement), keep-alive pings, and reconnection
with back-off. The broker never sends topic aliases (we announce none) nor
QoS 2 (we subscribe at QoS 1). Each connection has a generation number; an
acknowledgement for a message of an older connection is never sent, because
after a reconnect the same packet id names another message (the broker
redelivers the old one, unacknowledged, in the resumed session).
"""
from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 0x10, 0x20, 0x30, 0x40, 0x82, 0x90
PINGREQ, PINGRESP, DISCONNECT = b"\xc0\x00", 0xD0, 0xE0
# Property identifiers that may appear in a PUBLISH the broker sends us, and
# how long their values are (None: a two-byte length prefix; "v": a variable
# byte integer; "pair": two length-prefixed strings).
_PUBLISH_PROPERTIES = {0x01: 1, 0x02: 4, 0x03: None, 0x08: None, 0x09: None, 0x0B: "v", 0x23: 2, 0x26: "pair"}
CONTENT_TYPE = 0x03
_U16 = struct.Struct("!H")


class ProtocolError(Exception):
    pass


# A message as the ingest takes it: ((generation, packet id), qos, topic,
# payload, content type); a plain tuple, made tens of thousands of times a second.
Message = tuple


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return _U16.pack(len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


def connect_packet(client_id: str, *, keepalive: int, session_expiry: int, receive_maximum: int,
                   username: str | None = None, password: str | None = None) -> bytes:
    flags = (0x80 if username else 0) | (0x40 if password else 0)  # clean start off: resume the session
    props = b"\x11" + struct.pack("!I", session_expiry) + b"\x21" + _U16.pack(receive_maximum)
    body = _string("MQTT") + bytes([5, flags]) + _U16.pack(keepalive) + _varint(len(props)) + props
    body += _string(client_id)
    if username:
        body += _string(username)
    if password:
        body += _string(password)
    return _packet(CONNECT, body)


def subscribe_packet(packet_id: int, filters: Iterable[tuple[str, int]]) -> bytes:
    body = _U16.pack(packet_id) + b"\x00" + b"".join(_string(f) + bytes([qos]) for f, qos in filters)
    return _packet(SUBSCRIBE, body)


def puback_packets(mids: Iterable[int]) -> bytes:
    # Reason code omitted: success (MQTT 5, 3.4.2.1).
    return b"".join(b"\x40\x02" + _U16.pack(mid) for mid in mids)


def _read_varint(buf, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    for _ in range(4):
        if pos >= len(buf):
            return -1, pos
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ProtocolError("malformed remaining length")


def _publish(buf: bytes, start: int, end: int, flags: int, generation: int) -> Message:
    qos = (flags >> 1) & 3
    (n,) = _U16.unpack_from(buf, start)
    pos = start + 2 + n
    topic = buf[start + 2:pos].decode("utf-8", "replace")
    mid = 0
    if qos:
        (mid,) = _U16.unpack_from(buf, pos)
        pos += 2
    plen, pos = _read_varint(buf, pos)
    content_type, props_end = None, pos + plen
    while pos < props_end:
        ident = buf[pos]
        pos += 1
        kind = _PUBLISH_PROPERTIES.get(ident, 0)
        if kind is None:
            (n,) = _U16.unpack_from(buf, pos)
            if ident == CONTENT_TYPE:
                content_type = buf[pos + 2:pos + 2 + n].decode("utf-8", "replace")
            pos += 2 + n
        elif kind == "v":
            _, pos = _read_varint(buf, pos)
        elif kind == "pair":
            for _ in range(2):
                (n,) = _U16.unpack_from(buf, pos)
                pos += 2 + n
        elif kind:
            pos += kind
        else:
            raise ProtocolError(f"unexpected property {ident:#x} in PUBLISH")
    return (generation, mid), qos, topic, buf[props_end:end], content_type


class Reader:
    """Connects, subscribes and reads in its own thread; `on_messages(list)`
    gets every lot of messages read at once, `ack(generation, mids)` sends
    their acknowledgements (from any thread)."""

    def __init__(self, host: str, port: int, client_id: str, filters: list[tuple[str, int]],
                 on_messages: Callable[[list[Message]], None], *, username: str | None = None,
                 password: str | None = None, tls: bool = False, keepalive: int = 30,
                 session_expiry: int = 3600, receive_maximum: int = 10_000,
                 on_connect: Callable[[bool], None] | None = None, on_subscribed: Callable[[], None] | None = None,
                 on_disconnect: Callable[[str], None] | None = None):
        self.host, self.port, self.client_id, self.filters = host, port, client_id, filters
        self.on_messages = on_messages
        self.username, self.password, self.tls = username, password, tls
        self.keepalive, self.session_expiry, self.receive_maximum = keepalive, session_expiry, receive_maximum
        self.on_connect, self.on_subscribed, self.on_disconnect = on_connect, on_subscribed, on_disconnect
        self.generation = 0  # counts connections
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._last_send = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- public
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A clean DISCONNECT (the session stays, with what was not acknowledged)."""
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                self._send(b"\xe0\x00")
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(10)

    def ack(self, generation: int, mids: Iterable[int]) -> bool:
        """PUBACK the QoS 1 messages `mids` (packet ids) of connection
        `generation`; nothing is sent if the connection has changed since (the
        broker redelivers them in the resumed session)."""
        mids = [m for m in mids if m]
        if not mids or generation != self.generation:
            return False
        try:
            self._send(puback_packets(mids), generation)
        except OSError:
            return False  # the reader notices the broken connection and reconnects
        return True

    # --------------------------------------------------------------- internal
    def _send(self, data: bytes, generation: int | None = None) -> None:
        with self._send_lock:
            sock = self._sock
            if sock is None or (generation is not None and generation != self.generation):
                raise OSError("not connected")
            sock.sendall(data)
            self._last_send = time.monotonic()

    def _run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            reason = "connection lost"
            try:
                self._session()
                delay = 0.2
            except (OSError, ProtocolError, ssl.SSLError) as exc:
                reason = str(exc) or exc.__class__.__name__
            finally:
                with self._send_lock:
                    sock, self._sock = self._sock, None
                if sock is not None:
                    sock.close()
            if self._stop.is_set():
                break
            if self.on_disconnect:
                self.on_disconnect(reason)
            self._stop.wait(delay)
            delay = min(delay * 2, 2.0)

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        return sock

    def _session(self) -> None:
        sock = self._open()
        sock.sendall(connect_packet(self.client_id, keepalive=self.keepalive, session_expiry=self.session_expiry,
                                    receive_maximum=self.receive_maximum, username=self.username,
                                    password=self.password))
        buf = bytearray()
        first, body = self._read_one(sock, buf)
        if first & 0xF0 != CONNACK or len(body) < 2:
            raise ProtocolError("no CONNACK")
        if body[1] >= 0x80:
            raise ProtocolError(f"broker refused the connection (reason {body[1]:#x})")
        with self._send_lock:
            self.generation += 1
            generation = self.generation
            self._sock = sock
            self._last_send = time.monotonic()
        if self.on_connect:
            self.on_connect(bool(body[0] & 1))
        self._send(subscribe_packet(1, self.filters), generation)
        self._loop(sock, buf, generation)

    def _read_one(self, sock, buf: bytearray) -> tuple[int, bytes]:
        """One whole packet (for the handshake), leaving the rest in buf."""
        while True:
            if len(buf) >= 2:
                length, pos = _read_varint(buf, 1)
                if length >= 0 and len(buf) >= pos + length:
                    first, body = buf[0], bytes(buf[pos:pos + length])
                    del buf[:pos + length]
                    return first, body
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("the broker closed the connection")
            buf += chunk

    def _loop(self, sock, buf: bytearray, generation: int) -> None:
        # Wake up often enough to ping within the keep-alive interval.
        tick = max(0.5, self.keepalive / 4)
        sock.settimeout(tick)
        last_heard = time.monotonic()
        # recv_into one buffer: recv(n) would allocate n bytes on every call.
        scratch = memoryview(bytearray(262144))
        while not self._stop.is_set():
            messages = self._parse(buf, generation)
            if messages:
                self.on_messages(messages)
            now = time.monotonic()
            if now - self._last_send >= self.keepalive / 2:
                self._send(PINGREQ, generation)
            if now - last_heard > self.keepalive * 1.5:
                raise OSError("the broker stopped answering (keep-alive)")
            try:
                n = sock.recv_into(scratch)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            if not n:
                raise OSError("the broker closed the connection")
            buf += scratch[:n]
            last_heard = time.monotonic()

    def _parse(self, buf: bytearray, generation: int) -> list[Message]:
        """Every complete packet in buf; what is left is the start of the next."""
        messages, pos, size = [], 0, len(buf)
        if size < 2:
            return messages
        length, start = _read_varint(buf, 1)
        if length < 0 or start + length > size:
            return messages  # the first packet is not all here yet (a large one comes in many reads)
        data = bytes(buf)  # one copy: a slice of bytes is bytes (of a bytearray, a copy to copy again)
        while size - pos >= 2:
            first = data[pos]
            length, start = _read_varint(data, pos + 1)
            if length < 0 or start + length > size:
                break
            end = start + length
            kind = first & 0xF0
            if kind == PUBLISH:
                messages.append(_publish(data, start, end, first & 0x0F, generation))
            elif kind == SUBACK:
                plen, props = _read_varint(data, start + 2)
                codes = data[props + plen:end]
                refused = [c for c in codes if c >= 0x80]
                if refused:
                    log.warning("the broker refused %d of our subscriptions (reason %#x)", len(refused), refused[0])
                elif self.on_subscribed:
                    self.on_subscribed()
            elif kind == DISCONNECT:
                reason = data[start] if length else 0
                raise OSError(f"the broker disconnected us (reason {reason:#x})")
            # PINGRESP and anything else: nothing to do (hearing it is enough).
            pos = end
        if pos:
            del buf[:pos]
        return messages
