"""paho's MQTT client as the hub uses it: reading in large chunks, pausable, acks joined.

With `hub/mqtt/session.py` and `hub/mqtt/oneshot.py`, the only modules that touch paho.
"""

from collections import deque
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MessageType, MQTTErrorCode

RECV_CHUNK = 65536  # bytes taken from the socket at once
QOS_AT_LEAST_ONCE = 1


class BrokerUnavailableError(Exception):
    """The broker could not be reached or refused the connection."""


class PausableClient(paho.Client):
    """paho's client, reading the socket in large chunks and able to stop reading at once.

    paho asks for a packet a few bytes at a time (its type, each byte of its length, then the
    rest): a system call each. Here one call takes up to `RECV_CHUNK` bytes and paho's reads
    are served from them, which halves the cost of reading a burst.

    One `loop_read` call reads as many packets as the client has messages in flight, which can
    be thousands; taking the reader off the event loop alone would not stop it mid-call. While
    `reading` is off, every receive says "nothing to read yet", which paho already handles at any
    point of a packet: it keeps what it has and carries on when reading resumes.

    paho writes each queued packet with a system call of its own. The hub acknowledges a
    committed batch all at once, hundreds of four-byte PUBACKs: waiting acknowledgements are
    joined into one packet before paho writes them, one system call for the lot.
    """

    reading = True
    _chunk = b""
    _chunk_at = 0
    _chunk_of: object = None  # the socket the chunk came from

    @property
    def buffered(self) -> bool:
        """Whether bytes already received wait to be read (the socket will not signal them)."""
        return self._chunk_of is self._sock and self._chunk_at < len(self._chunk)

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.reading:
            raise BlockingIOError
        if not self.buffered:
            chunk = super()._sock_recv(RECV_CHUNK)
            if not chunk:
                return chunk  # the broker closed the connection
            self._chunk, self._chunk_at, self._chunk_of = chunk, 0, self._sock
        start = self._chunk_at
        self._chunk_at = start + bufsize
        return self._chunk[start : start + bufsize]

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        """Hand a message to `on_message`, the hub's one message callback.

        paho first looks for per-topic callbacks (a topic match and two locks per message,
        some 5 % of reading a burst); the hub registers none.
        """
        on_message = self.on_message
        if on_message is not None:
            on_message(self, self._userdata, message)

    def loop_write(self) -> MQTTErrorCode:
        """Write what is queued, with waiting acknowledgements joined into one packet."""
        self._join_acks()
        return super().loop_write()

    def _join_acks(self) -> None:
        """Join runs of waiting PUBACKs (none of them begun) into one packet each.

        paho does nothing when a PUBACK has been written but count it out, so a joined packet
        behaves as its parts would, in the same order among the other packets.
        """
        queued = self._out_packet
        if len(queued) < 2:  # noqa: PLR2004 (nothing to join)
            return
        joined: deque[Any] = deque()
        for packet in queued:
            last = joined[-1] if joined else None
            if _fresh_ack(packet) and last is not None and _fresh_ack(last):
                joined[-1] = {**last, "packet": last["packet"] + packet["packet"]}
                joined[-1]["to_process"] = len(joined[-1]["packet"])
            else:
                joined.append(packet)
        self._out_packet = joined


def _fresh_ack(packet: Any) -> bool:
    """Whether a queued packet is a PUBACK of which nothing has been written yet."""
    return bool(packet["command"] & 0xF0 == MessageType.PUBACK and packet["pos"] == 0)
