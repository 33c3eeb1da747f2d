"""Small media files for tests, made here rather than shipped."""

from __future__ import annotations

import struct
import zlib


def png(width: int = 24, height: int = 16, rgb: tuple[int, int, int] = (10, 99, 201)) -> bytes:
    """A valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def mp3() -> bytes:
    """Bytes that stand for an audio file (Anki does not decode media on import)."""
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4
