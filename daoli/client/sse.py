"""A small, bounded parser for ``text/event-stream`` (the node's ``GET /v1/events``).

Written here rather than taken from a library so that the sync and async clients share it
and so that a misbehaving server cannot make it buffer without limit: a line longer than
``max_line`` bytes or an event larger than ``max_event`` bytes is a
:class:`~daoli.client.errors.BadResponse`.
"""

from __future__ import annotations

from daoli.client.errors import BadResponse

MAX_LINE = 1 << 20
MAX_EVENT = 4 << 20


class SseParser:
    """Feed it bytes as they arrive; it returns the complete ``(event, data)`` pairs.

    Comment lines (``: ping``) are skipped, ``id:`` and ``retry:`` are ignored (the node's
    stream does not resume by id: docs/api.md says to resume with ``/v1/blocks?from=``), and
    an event without ``event:`` is named ``message`` as the SSE standard says.
    """

    __slots__ = ("_buf", "_data", "_event", "_size", "max_event", "max_line")

    def __init__(self, max_line: int = MAX_LINE, max_event: int = MAX_EVENT) -> None:
        self.max_line = max_line
        self.max_event = max_event
        self._buf = bytearray()
        self._event = ""
        self._data: list[str] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        self._buf += chunk
        out: list[tuple[str, str]] = []
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end < 0:
                break
            line = bytes(self._buf[start:end])
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.max_line:
                raise BadResponse(f"event stream: a line longer than {self.max_line:,} bytes")
            done = self._line(line)
            if done is not None:
                out.append(done)
        del self._buf[:start]
        if len(self._buf) > self.max_line:
            raise BadResponse(f"event stream: a line longer than {self.max_line:,} bytes")
        return out

    def _line(self, raw: bytes) -> tuple[str, str] | None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadResponse("event stream: a line is not UTF-8") from None
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data, self._size = "", [], 0
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._size += len(value) + 1
            if self._size > self.max_event:
                raise BadResponse(f"event stream: an event larger than {self.max_event:,} "
                                  "bytes")
            self._data.append(value)
        return None


__all__ = ["SseParser"]
