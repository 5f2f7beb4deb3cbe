"""Input files are checked before a byte is read: a regular file, readable, within its size
limit. `/dev/zero`, a FIFO or a terminal would otherwise be read forever (they have no
size), and an oversized file would be parsed before being refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from newsletter.errors import NewsletterError, ValidationError


def check_input_file(
    path: Path,
    *,
    max_bytes: int | None,
    setting: str | None = None,
    kind: str = "file",
    error: type[NewsletterError] = ValidationError,
) -> int:
    """The file's size, or `error` saying what is wrong (missing, folder, device, FIFO,
    unreadable, larger than `max_bytes` — named by `setting`, the variable that raises it)."""
    where = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(
            "cannot read the file (no such file)", where=where, fix="check the path"
        ) from None
    except OSError as exc:
        raise error(
            f"cannot read the file ({exc.strerror})",
            where=where,
            fix="check the path and its permissions",
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise error("is a folder, not a file", where=where, fix=f"give the path of a {kind}")
    if not stat.S_ISREG(info.st_mode):
        raise error(
            f"is not a regular file ({_file_type(info.st_mode)}): it could be read forever",
            where=where,
            fix=f"save the {kind} to a file first and give that path",
        )
    if not os.access(path, os.R_OK):
        raise error(
            "cannot read the file (permission denied)",
            where=where,
            fix="give this user read access to it",
        )
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(
            f"the file is {size_text(info.st_size)}; the limit for a {kind} is "
            f"{size_text(max_bytes)}",
            where=where,
            fix=(f"raise {setting} if this file is right, or " if setting else "")
            + "split it into smaller files",
        )
    return info.st_size


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def _file_type(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO / named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"
