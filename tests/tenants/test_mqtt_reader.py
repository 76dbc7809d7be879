"""The ingest's own MQTT 5 reader: packet parsing (whole, split across reads,
several per read, every property a broker may put in a PUBLISH), and against
the machine's Mosquitto: subscribe, receive, acknowledge only on request,
redelivery of what was not acknowledged after a reconnect, no stale
acknowledgement across connections, keep-alive."""
from __future__ import annotations

import queue
import secrets
import struct
import threading
import time

import pytest

from alloyhub.tenants.telemetry import mqtt_reader
from alloyhub.tenants.telemetry.ingest import parse_mqtt_url
from alloyhub.tenants.telemetry.mqtt_reader import Reader, _packet, _string, _varint


def publish_packet(topic: str, payload: bytes, *, qos=1, mid=7, dup=False, props: bytes = b"") -> bytes:
    body = _string(topic) + (struct.pack("!H", mid) if qos else b"") + _varint(len(props)) + props + payload
    return _packet(0x30 | (0x08 if dup else 0) | (qos << 1), body)


class Parser(Reader):
    def __init__(self):
        super().__init__("127.0.0.1", 1, "parser", [], lambda m: None)


def test_a_publish_with_every_property_is_parsed():
    props = (b"\x01\x01" + b"\x02" + struct.pack("!I", 60) + b"\x03" + _string("application/json+zlib")
             + b"\x08" + _string("reply/here") + b"\x09" + _string(b"\x00\x01") + b"\x0b" + _varint(300)
             + b"\x26" + _string("k") + _string("v"))
    buf = bytearray(publish_packet("ah/v1/x/telemetry", b"{}", props=props))
    [msg] = Parser()._parse(buf, 3)
    assert msg == ((3, 7), 1, "ah/v1/x/telemetry", b"{}", "application/json+zlib")
    assert buf == b""


def test_packets_split_across_reads_and_several_in_one_read():
    big = b"x" * 70_000  # a remaining length of three bytes
    stream = (publish_packet("a", b"1", mid=1) + publish_packet("b", big, mid=2) + publish_packet("c", b"3", qos=0)
              + b"\xd0\x00")  # and a PINGRESP
    parser, buf, got = Parser(), bytearray(), []
    for i in range(0, len(stream), 1000):  # arriving in small reads
        buf += stream[i:i + 1000]
        got += parser._parse(buf, 1)
    assert [(m[0][1], m[1], m[2], len(m[3])) for m in got] == [(1, 1, "a", 1), (2, 1, "b", 70_000), (0, 0, "c", 1)]
    assert buf == b""


def test_an_unexpected_property_is_a_protocol_error():
    buf = bytearray(publish_packet("a", b"1", props=b"\x7f\x00"))
    with pytest.raises(mqtt_reader.ProtocolError):
        Parser()._parse(buf, 1)


# ------------------------------------------------------------ against a broker

class Run:
    def __init__(self, mqtt_url: str, client_id: str, topic: str, keepalive: int = 30):
        host, port, *_ = parse_mqtt_url(mqtt_url)
        self.got: queue.Queue = queue.Queue()
        self.subscribed = threading.Event()
        self.reader = Reader(host, port, client_id, [(topic, 1)], lambda ms: [self.got.put(m) for m in ms],
                             keepalive=keepalive, session_expiry=60, receive_maximum=100,
                             on_subscribed=self.subscribed.set)
        self.reader.start()
        assert self.subscribed.wait(10), "did not subscribe"

    def take(self, n: int, timeout=10.0) -> list:
        return [self.got.get(timeout=timeout) for _ in range(n)]

    def stop(self):
        self.reader.stop()


@pytest.fixture
def publish(service_urls):
    import paho.mqtt.client as mqtt

    host, port, *_ = parse_mqtt_url(service_urls["MQTT_URL"])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{secrets.token_hex(4)}",
                         protocol=mqtt.MQTTv5)
    client.connect(host, port)
    client.loop_start()

    def send(topic, payload: bytes, content_type=None):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = None
        if content_type:
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = content_type
        client.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)

    yield send
    client.loop_stop()
    client.disconnect()


def test_unacknowledged_messages_come_back_after_a_reconnect_and_acknowledged_ones_do_not(service_urls, publish):
    import socket

    topic = f"test/reader/{secrets.token_hex(4)}"
    client_id = f"reader-{secrets.token_hex(4)}"
    run = Run(service_urls["MQTT_URL"], client_id, topic)
    try:
        publish(topic, b"one", content_type="application/json")
        publish(topic, b"two")
        one, two = run.take(2)
        assert (one[2], one[3], one[4]) == (topic, b"one", "application/json")
        assert two[3] == b"two" and two[4] is None
        assert run.reader.ack(one[0][0], [one[0][1]])  # "one" acknowledged, "two" not
        time.sleep(0.3)  # the PUBACK reaches the broker before the line drops
        run.reader._sock.shutdown(socket.SHUT_RDWR)  # the line drops; the reader reconnects
        [again] = run.take(1)
        assert again[3] == b"two"
        assert again[0][0] == two[0][0] + 1  # a new connection
        # A packet id of the old connection may name another message now: refused.
        assert not run.reader.ack(two[0][0], [two[0][1]])
        assert run.reader.ack(again[0][0], [again[0][1]])
        with pytest.raises(queue.Empty):
            run.take(1, timeout=1.0)
    finally:
        run.stop()
    run = Run(service_urls["MQTT_URL"], client_id, topic)  # the same session resumes in a new process
    try:
        with pytest.raises(queue.Empty):
            run.take(1, timeout=1.5)  # nothing left to redeliver
        publish(topic, b"three")
        assert run.take(1)[0][3] == b"three"  # taken, never acknowledged: the process stops
    finally:
        run.stop()
    run = Run(service_urls["MQTT_URL"], client_id, topic)
    try:
        [msg] = run.take(1)
        assert msg[3] == b"three"
        run.reader.ack(msg[0][0], [msg[0][1]])
    finally:
        run.stop()


def test_keep_alive_pings_hold_an_idle_connection(service_urls, publish):
    topic = f"test/reader/{secrets.token_hex(4)}"
    run = Run(service_urls["MQTT_URL"], f"reader-{secrets.token_hex(4)}", topic, keepalive=2)
    try:
        generation = run.reader.generation
        time.sleep(5)  # well past 1.5 x keep-alive with nothing to send but pings
        publish(topic, b"still here")
        [msg] = run.take(1)
        assert msg[3] == b"still here"
        assert run.reader.generation == generation, "the connection was dropped and made again"
        run.reader.ack(msg[0][0], [msg[0][1]])
    finally:
        run.stop()
