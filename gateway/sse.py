"""Incremental server-sent events decoder (the parts of the SSE format chat streams use).

Bytes go in as they arrive; out come the `data` payloads of complete events. Lines may end
in LF, CRLF or CR, even when a CRLF is split across two reads; UTF-8 is decoded per complete
line, so a character split across reads is never broken. Comments (`: PING`) and fields
other than `data` are ignored. EOF ends a pending event.
"""

from __future__ import annotations


class SSEDecoder:
    __slots__ = ("_data", "_pending", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._pending = b""  # an incomplete line
        self._data: list[str] = []  # data lines of the event being read
        self._skip_lf = False  # the last read ended in CR: a leading LF completes a CRLF
        self._started = False

    def feed(self, chunk: bytes) -> list[str]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        if not self._started:
            self._started = True
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")
        self._skip_lf = chunk[-1:] == b"\r"
        data = self._pending + chunk if self._pending else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return self._lines(lines)

    def close(self) -> list[str]:
        lines = [self._pending, b""] if self._pending else [b""]
        self._pending = b""
        self._skip_lf = False
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[str]:
        events: list[str] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data"):
                if len(line) == 4:
                    self._data.append("")
                elif line[4] == 58:  # ":"
                    value = line[6:] if line[5:6] == b" " else line[5:]
                    self._data.append(value.decode("utf-8", "replace"))
            # other lines are comments (":") or fields we do not use (event, id, retry)
        return events
