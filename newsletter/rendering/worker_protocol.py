"""The worker's wire format: length-prefixed JSON frames, Markup kept as Markup.

Shared by the parent (`rendering.isolated`) and the worker (`rendering.worker`), and light
to import: the parent never loads Jinja or MJML just to talk to the worker.
"""

from __future__ import annotations

import json
import struct
from typing import IO, Any

from markupsafe import Markup

MARKUP = "__markup__"
_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


def encode(value: Any) -> Any:
    """Context values → JSON, keeping which strings are Markup (already escaped HTML)."""
    if isinstance(value, Markup):
        return {MARKUP: str(value)}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    raise TypeError(f"a template context holds plain values, not {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and MARKUP in value:
            return Markup(value[MARKUP])  # noqa: S704  (escaped by the parent, which sent it)
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def write_frame(stream: IO[bytes], message: dict[str, Any]) -> None:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    body = stream.read(size)
    if len(body) < size:
        return None
    return json.loads(body)
