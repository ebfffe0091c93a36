"""A response body as bytes, read raw from the network and decoded by our own decompressor,
so that a gzip or deflate bomb is cut at `max_bytes` of output, in bounded memory (fetch.py
reads every 200 through read_body)."""

from __future__ import annotations

import zlib
from typing import Protocol

import httpx


class _Decompressor(Protocol):
    @property
    def unconsumed_tail(self) -> bytes: ...

    def decompress(self, data: bytes, /, max_length: int = 0) -> bytes: ...
    def flush(self, length: int = ..., /) -> bytes: ...


class _Identity:
    """Passes bytes through, with a decompressor's interface."""

    unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        return data  # network chunks are small; the cap is checked right after

    def flush(self, length: int = 0) -> bytes:
        return b""


class _Deflate:
    """HTTP "deflate" should be zlib-wrapped (RFC 9110 §8.4.1.2); some servers send raw deflate."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj()
        self._started = False

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._started:
            return self._inner.decompress(data, max_length)
        self._started = True
        try:
            return self._inner.decompress(data, max_length)
        except zlib.error:
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._inner.decompress(data, max_length)

    def flush(self, length: int = zlib.DEF_BUF_SIZE) -> bytes:
        return self._inner.flush(length)


def _decompressor(content_encoding: str) -> _Decompressor | None:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # auto-detects gzip or zlib headers
    if encoding == "deflate":
        return _Deflate()
    return None


async def read_body(response: httpx.Response, max_bytes: int) -> bytes | str:
    """The decoded body, or why not. Never holds much more than ``max_bytes``."""
    content_encoding = response.headers.get("content-encoding", "")
    decoder = _decompressor(content_encoding)
    if decoder is None:
        return f"unsupported Content-Encoding {content_encoding!r}"
    body, received = bytearray(), 0
    too_big = f"body larger than {format_size(max_bytes)}"
    try:
        # aiter_raw, not aiter_bytes: httpx would inflate a whole chunk at once, and
        # 64 KiB of gzip can be 64 MiB of zeros.
        async for raw in response.aiter_raw():
            received += len(raw)  # also caps junk after the end of a gzip stream
            if received > max_bytes or not _inflate_into(body, decoder, raw, max_bytes):
                return too_big
        body += decoder.flush(max_bytes - len(body) + 1)
    except zlib.error as exc:
        return f"could not decode {content_encoding} body: {exc}"
    return too_big if len(body) > max_bytes else bytes(body)


def _inflate_into(body: bytearray, decoder: _Decompressor, data: bytes, max_bytes: int) -> bool:
    """Append ``data`` decoded to ``body``; False as soon as it passes ``max_bytes``."""
    while data:
        # One byte over the room left, so "exactly full" and "too big" differ.
        body += decoder.decompress(data, max_bytes - len(body) + 1)
        if len(body) > max_bytes:
            return False
        data = decoder.unconsumed_tail
    return True


def format_size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:  # "10 MiB", never "3.99902 KiB"
            return f"{size // scale} {unit}"
    return f"{size} bytes"
