"""The byte stream after PLAY: interleaved frames (``$``, channel, length, data) with RTSP
messages between them (answers to keep-alives, requests from the server). Pure."""

from __future__ import annotations

from edge_agent.nvr.rtsp_messages import (
    MAX_BODY,
    MAX_HEADER_LINES,
    MAX_LINE,
    RtspProtocolError,
    RtspResponse,
)


class InterleavedParser:
    """Splits the byte stream after PLAY into interleaved frames and RTSP messages. Pure."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.messages: list[RtspResponse] = []
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer
        buffer += data
        frames: list[tuple[int, bytes]] = []
        position = 0
        size = len(buffer)
        while position < size:
            if buffer[position] == 0x24:  # "$"
                if position + 4 > size:
                    break
                length = (buffer[position + 2] << 8) | buffer[position + 3]
                end = position + 4 + length
                if end > size:
                    break
                frames.append((buffer[position + 1], bytes(buffer[position + 4 : end])))
                position = end
                continue
            consumed = self._message(position)
            if consumed == 0:
                break
            position += consumed
        del buffer[:position]
        return frames

    def _message(self, position: int) -> int:
        """Bytes of one whole RTSP message at ``position`` (0 if it is not all here yet)."""
        buffer = self._buffer
        rest = bytes(buffer[position : position + 5])
        if len(rest) < 5 and b"RTSP/".startswith(rest):
            return 0  # the start of a status line: wait for more
        if b"\r\n" not in buffer[position : position + MAX_LINE] and len(buffer) - position < 64:
            return 0  # perhaps a request line, not all here yet
        if not buffer.startswith(b"RTSP/", position) and not _looks_like_request(buffer, position):
            raise RtspProtocolError(
                f"NVR at {self.where} sent neither an interleaved frame nor an RTSP message:"
                f" {bytes(buffer[position : position + 40])!r}"
            )
        end = buffer.find(b"\r\n\r\n", position)
        if end < 0:
            if len(buffer) - position > MAX_HEADER_LINES * 100:
                raise RtspProtocolError(f"NVR at {self.where} sent an endless RTSP header")
            return 0
        head = bytes(buffer[position:end]).decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            raise RtspProtocolError(f"NVR at {self.where} sent a bad Content-Length") from None
        if not 0 <= length <= MAX_BODY:
            raise RtspProtocolError(f"NVR at {self.where} sent a body of {length} bytes")
        total = end + 4 - position + length
        if position + total > len(buffer):
            return 0
        first = head[0].split(" ", 2)
        status = int(first[1]) if first[0].startswith("RTSP/") and first[1].isdigit() else 0
        self.messages.append(RtspResponse(status, first[-1], headers))
        return total


def _looks_like_request(buffer: bytearray, position: int) -> bool:
    line_end = buffer.find(b"\r\n", position, position + MAX_LINE)
    return line_end > position and bytes(buffer[position:line_end]).endswith(b"RTSP/1.0")
