"""The slice of SPDY/3.1 that ``kubectl port-forward`` speaks inside a websocket.

Frames are 8-byte headers: control frames carry version 3 and a type
(SYN_STREAM 1, SYN_REPLY 2, RST_STREAM 3, SETTINGS 4, PING 6, GOAWAY 7,
WINDOW_UPDATE 9), data frames a stream id; both carry flags (FIN = 1) and a
24-bit length. Header blocks are zlib streams seeded with the dictionary the
SPDY/3 specification defines, one compression context per direction for the
whole connection, flushed with Z_SYNC_FLUSH.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1,
    2,
    3,
    4,
    6,
    7,
    8,
    9,
)
FLAG_FIN = 0x01
VERSION = 3

_NAMES = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
# The header-compression dictionary of the SPDY/3 specification (section 2.6.10.1).
DICTIONARY = b"".join(struct.pack(">I", len(n)) + n.encode() for n in _NAMES) + _TAIL.encode()


@dataclass(frozen=True)
class Frame:
    """A parsed frame; control frames have ``kind``, data frames ``kind == 0``."""

    kind: int
    flags: int
    stream_id: int
    payload: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass
class Codec:
    """Frame parsing and building for one connection, with its two zlib contexts."""

    _buffer: bytearray = field(default_factory=bytearray)
    _inflate: zlib._Decompress = field(default_factory=lambda: zlib.decompressobj(zdict=DICTIONARY))
    _deflate: zlib._Compress = field(
        default_factory=lambda: zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zdict=DICTIONARY)
    )

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by ``data``; a frame may span websocket messages."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = head[4]
            if head[0] & 0x80:
                kind = int.from_bytes(head[2:4], "big")
                stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF if payload else 0
                frames.append(Frame(kind, flags, stream_id, payload))
            else:
                frames.append(
                    Frame(0, flags, int.from_bytes(head[:4], "big") & 0x7FFFFFFF, payload)
                )
        return frames

    def headers(self, frame: Frame) -> dict[str, str]:
        """The header block of a SYN_STREAM (after its 10 bytes of ids and priority)."""
        block = self._inflate.decompress(frame.payload[10:])
        count = int.from_bytes(block[:4], "big")
        pos, found = 4, {}
        for _ in range(count):
            size = int.from_bytes(block[pos : pos + 4], "big")
            name = block[pos + 4 : pos + 4 + size].decode()
            pos += 4 + size
            size = int.from_bytes(block[pos : pos + 4], "big")
            found[name] = block[pos + 4 : pos + 4 + size].decode()
            pos += 4 + size
        return found

    def syn_reply(self, stream_id: int) -> bytes:
        block = self._deflate.compress(struct.pack(">I", 0)) + self._deflate.flush(
            zlib.Z_SYNC_FLUSH
        )
        return _control(SYN_REPLY, 0, struct.pack(">I", stream_id) + block)


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return (
        struct.pack(">HHB", 0x8000 | VERSION, kind, flags)
        + len(payload).to_bytes(3, "big")
        + payload
    )


def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
    return (
        struct.pack(">IB", stream_id, FLAG_FIN if fin else 0)
        + len(payload).to_bytes(3, "big")
        + payload
    )


def ping(frame: Frame) -> bytes:
    return _control(PING, 0, frame.payload)


def rst_stream(stream_id: int, status: int = 5) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))
