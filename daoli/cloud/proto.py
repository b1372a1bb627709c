"""Framing and messages of the cloud protocols, over any byte stream.

A cloud stream carries length-prefixed frames (:func:`daoli.core.wire.encode_frame`, request
id always 0: one stream is one ordered conversation), each frame one canonical CBOR array led
by a short text verb: ``["put", name, size]``, ``["chunk", data]``, ``["err", code, text]``.
Arrays rather than one dataclass per verb keep a new service to a page of code; every field
is still checked with :mod:`daoli.core.encoding`'s validators as it is read.

Hostile input is bounded before it costs anything: a frame over :data:`MAX_FRAME_BYTES` is
refused from its length prefix, every read has a deadline (an idle stream and a stalled frame
have separate ones), and decoding admits only the plain CBOR subset of
:func:`daoli.core.encoding.decode_raw`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any, Protocol

import trio

from daoli.core import encoding as enc
from daoli.core import wire
from daoli.errors import DaoliError, DecodeError, TimedOut

STORAGE_PROTOCOL = "/daoli/cloud/storage/1"
COMPUTE_PROTOCOL = "/daoli/cloud/compute/1"

CHUNK_BYTES = 64 * 1024
"""Largest payload of one ``chunk``/``out`` frame: streaming never buffers more per frame."""
MAX_FRAME_BYTES = CHUNK_BYTES + 4 * 1024
"""Largest frame either side accepts: a full chunk and its envelope, nothing more."""
READ_BYTES = 65_536
IDLE_S = 120.0
"""Wait for the next request on an open session before closing it."""
STALL_S = 10.0
"""A frame begun but not finished within this is a stalled stream."""


class CloudError(DaoliError):
    """A cloud operation failed; subclasses say whether the peer refused or misbehaved."""


class Refused(CloudError):
    """The other side refused the request; ``code`` is a stable machine-readable word
    (``no_lease``, ``not_buyer``, ``expired``, ``wrong_provider``, ``quota``, ``cut_off``,
    ``escrow``, ``bad_request``, ``not_found``, ``busy``, ``auth``...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ProtocolViolation(CloudError):
    """The peer sent something the protocol does not allow (or closed mid-conversation)."""


class RawStream(Protocol):
    """What a channel needs of a stream: libp2p's ``INetStream`` has exactly this shape."""

    async def read(self, n: int | None = None) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...

    async def reset(self) -> None: ...


class Channel:
    """Frames in and out of one stream, with deadlines and caps.

    ``recv`` raises :class:`ProtocolViolation` for junk (and the channel is then spent),
    :class:`~daoli.errors.TimedOut` when the peer says nothing in time, and
    :class:`ProtocolViolation` when the stream ends."""

    def __init__(self, stream: RawStream, max_frame: int = MAX_FRAME_BYTES,
                 stall_s: float = STALL_S) -> None:
        self.stream = stream
        self.max_frame = max_frame
        self.stall_s = stall_s
        self._decoder = wire.FrameDecoder(max_frame)
        self._frames: deque[bytes] = deque()
        self.closed = False

    async def send(self, msg: list[Any]) -> None:
        data = enc.encode(msg)
        try:
            frame = wire.encode_frame(0, data, self.max_frame)
        except wire.WireError as exc:
            raise CloudError(f"refusing to send an oversized frame: {exc}") from None
        try:
            await self.stream.write(frame)
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - resets, closed muxers, broken transports
            self.closed = True
            raise ProtocolViolation(f"the stream closed while sending: {exc}") from None

    async def recv(self, timeout: float) -> list[Any]:
        """The next message (a non-empty array led by a text verb)."""
        while not self._frames:
            if self.closed:
                raise ProtocolViolation("the stream is closed")
            limit = min(timeout, self.stall_s) if self._decoder.in_frame else timeout
            data = b""
            with trio.move_on_after(limit) as scope:
                data = await self._read()
            if scope.cancelled_caught:
                raise TimedOut("the peer stalled mid-frame" if self._decoder.in_frame
                               else f"no message within {limit:g} s")
            if not data:
                self.closed = True
                raise ProtocolViolation("the stream ended" + (
                    " inside a frame" if self._decoder.in_frame else ""))
            try:
                self._frames.extend(f.message for f in self._decoder.feed(data))
            except wire.WireError as exc:
                self.closed = True
                raise ProtocolViolation(f"bad frame: {exc}") from None
        raw = self._frames.popleft()
        try:
            msg = enc.decode_raw(raw, self.max_frame)
        except DecodeError as exc:
            raise ProtocolViolation(f"bad message: {exc}") from None
        if type(msg) is not list or not msg or type(msg[0]) is not str:
            raise ProtocolViolation("a message is an array led by a text verb")
        return msg

    async def _read(self) -> bytes:
        try:
            data: bytes = await self.stream.read(READ_BYTES)
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception:  # noqa: BLE001 - EOF and resets end the stream alike
            return b""
        return data or b""

    async def aclose(self) -> None:
        self.closed = True
        with trio.move_on_after(1):
            with contextlib.suppress(Exception):  # already gone
                await self.stream.close()

    async def abort(self) -> None:
        self.closed = True
        with trio.move_on_after(1):
            with contextlib.suppress(Exception):  # already gone
                await self.stream.reset()


def expect(msg: list[Any], verb: str, n: int) -> list[Any]:
    """The fields of ``msg`` after its verb, which must be ``verb`` with ``n`` fields."""
    if msg[0] != verb:
        if msg[0] == "err" and len(msg) == 3 and type(msg[1]) is str and type(msg[2]) is str:
            raise Refused(msg[1][:64], msg[2][:300])
        raise ProtocolViolation(f"expected {verb!r}, got {str(msg[0])[:32]!r}")
    if len(msg) != n + 1:
        raise ProtocolViolation(f"{verb}: expected {n} fields, got {len(msg) - 1}")
    return msg[1:]


def field(fn: Any, *args: Any) -> Any:
    """Run one of :mod:`daoli.core.encoding`'s validators, turning its DecodeError into a
    refusal the peer can read (``bad_request``)."""
    try:
        return fn(*args)
    except DecodeError as exc:
        raise Refused("bad_request", str(exc)) from None


def err(code: str, message: str) -> list[Any]:
    return ["err", code, message[:300]]


__all__ = [
    "CHUNK_BYTES",
    "COMPUTE_PROTOCOL",
    "MAX_FRAME_BYTES",
    "STORAGE_PROTOCOL",
    "Channel",
    "CloudError",
    "ProtocolViolation",
    "RawStream",
    "Refused",
    "err",
    "expect",
    "field",
]
