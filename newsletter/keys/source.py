"""Where the key ring comes from, decided once at settings load.

1. `NEWSLETTER_SECRET_KEY` (the ring itself) or `NEWSLETTER_SECRET_KEY_FILE` (a file holding
   it: Docker and systemd secrets), never both.
2. Neither, in a production-like setup (an https public URL and a real delivery backend):
   stop. A key made up on the spot would silently change with the working directory or a
   lost file, voiding every unsubscribe link already mailed and un-erasing erased people.
3. Neither, anywhere else (previews, the demo, localhost, the emulator): a key generated
   once and kept next to the database (`<database file>.secret`), or, for a database that
   is not a file, in the user's state folder under a name derived from the database URL.
   Never in the working directory: the key belongs with the data its hashes and links
   refer to.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from newsletter.errors import ConfigurationError
from newsletter.keys.ring import KeyRing, KeyRingError

if TYPE_CHECKING:
    from newsletter.config import Settings

KEY_FILE_SUFFIX = ".secret"
LEGACY_SECRET_FILE = ".newsletter-secret"  # noqa: S105  (a file name: where keys used to be)
MAX_KEY_FILE_BYTES = 64 * 1024
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", ""})  # noqa: S104
GENERATE_FIX = (
    "make one with `newsletter secret generate`, keep it in your secret store, and set "
    "NEWSLETTER_SECRET_KEY (or NEWSLETTER_SECRET_KEY_FILE, the path of a file holding it); "
    "back it up together with the database (docs/settings.md)"
)


def is_local_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.endswith(".localhost")


def production_like(settings: Settings) -> bool:
    """An https public URL and a real delivery backend: SendGrid at a non-local API (not
    the emulator) or SMTP. Links from such a setup reach real inboxes."""
    public = settings.public_url
    if not public.startswith("https://") or is_local_host(public):
        return False
    backend = settings.delivery_backend
    if backend == "smtp":
        return True
    return backend == "sendgrid" and not is_local_host(settings.sendgrid_base_url)


def ring_text(settings: Settings) -> str:
    """The key ring's text for these settings, or ConfigurationError saying what to do."""
    given = settings.secret_key.get_secret_value() if settings.secret_key else None
    if given is not None and settings.secret_key_file is not None:
        raise ConfigurationError(
            "both NEWSLETTER_SECRET_KEY and NEWSLETTER_SECRET_KEY_FILE are set",
            where="settings `secret_key` and `secret_key_file`",
            fix="keep one of them",
        )
    if settings.secret_key_file is not None:
        return _checked(read_key_file(settings.secret_key_file), settings.secret_key_file)
    if given is not None:
        return given
    if production_like(settings):
        raise ConfigurationError(
            "NEWSLETTER_SECRET_KEY is not set, and this setup sends real email "
            f"(public URL {settings.public_url}, delivery {settings.delivery_backend})",
            where="setting `secret_key` (NEWSLETTER_SECRET_KEY or NEWSLETTER_SECRET_KEY_FILE)",
            fix=GENERATE_FIX,
        )
    path = generated_key_path(settings.database_url)
    if path is None:
        return "a:" + secrets.token_urlsafe(48)  # an in-memory database dies with its key
    return _checked(_generated(path, settings.database_url), path)


def _checked(text: str, path: Path) -> str:
    try:
        KeyRing.parse(text)
    except KeyRingError as exc:
        raise ConfigurationError(
            f"the key file is not a valid key ring: {exc}",
            where=str(path),
            fix="one `ID:SECRET` a line, the current key first (`newsletter secret generate`)",
        ) from None
    return text


def read_key_file(path: Path) -> str:
    """A key file's text, refusing folders, devices, FIFOs and anything oversized."""
    where = str(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigurationError(
                "is a folder, not a key file",
                where=f"{where} (NEWSLETTER_SECRET_KEY_FILE)",
                fix="give the path of the file holding the key",
            )
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(
                "is not a regular file",
                where=f"{where} (NEWSLETTER_SECRET_KEY_FILE)",
                fix="give the path of the file holding the key",
            )
        if info.st_size > MAX_KEY_FILE_BYTES:
            raise ConfigurationError(
                f"is {info.st_size:,} bytes: too large for a key file",
                where=f"{where} (NEWSLETTER_SECRET_KEY_FILE)",
                fix="the file holds one `ID:SECRET` a line",
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            "the key file does not exist",
            where=f"{where} (NEWSLETTER_SECRET_KEY_FILE)",
            fix="check the path (a Docker secret is mounted under /run/secrets/)",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigurationError(
            f"cannot read the key file ({reason})",
            where=f"{where} (NEWSLETTER_SECRET_KEY_FILE)",
            fix="check the path and that this user may read it",
        ) from None


def generated_key_path(database_url: str) -> Path | None:
    """Where a generated key lives for this database: next to a SQLite file, in the state
    folder for a server database, nowhere (None) for an in-memory one. (Parsed by hand:
    importing SQLAlchemy here would slow every command's start.)"""
    scheme, _, rest = database_url.partition("://")
    if scheme.split("+")[0] == "sqlite":
        database = rest[1:] if rest.startswith("/") else rest  # sqlite:///x → x, ////x → /x
        database = database.split("?")[0]
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        return Path(database + KEY_FILE_SUFFIX)
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    identity = f"{scheme.split('+')[0]}://{parts.username or ''}@{host}:{parts.port or ''}"
    identity += parts.path
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    name = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return state / "newsletter" / f"{scheme.split('+')[0]}-{name}{KEY_FILE_SUFFIX}"


def _generated(path: Path, database_url: str) -> str:
    """The generated key kept at `path`, created on first use (mode 0600)."""
    if path.exists():
        return _read_generated(path)
    database = Path(str(path)[: -len(KEY_FILE_SUFFIX)])
    legacy = Path(LEGACY_SECRET_FILE)
    database_exists = path.parent.is_dir() and database.is_file() and _holds_data(database)
    if database_exists and legacy.is_file():
        # Keys used to live in the working directory: adopt that one once, next to its
        # database (the database's own key check confirms it is the right key).
        value = "a:" + legacy.read_text(encoding="utf-8").strip()
    elif database_exists:
        raise ConfigurationError(
            "the database exists but the secret key generated for it is missing",
            where=f"{path} (next to {database})",
            fix="restore the key file from the backup of the database, or set "
            "NEWSLETTER_SECRET_KEY to the key it was used with (links already mailed and "
            "erasures depend on it)",
        )
    else:
        value = "a:" + secrets.token_urlsafe(48)
    _write_private(path, value + "\n")
    return _read_generated(path)  # another process may have written it first


def _holds_data(database: Path) -> bool:
    """Does this SQLite file hold anything a key protects (addresses, hashes, deliveries)?
    An empty or freshly migrated database can get a new key; anything else cannot."""
    import sqlite3

    try:
        uri = f"{database.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            for table in ("subscribers", "suppressions", "deliveries", "secret_keys"):
                if table in names and conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():  # noqa: S608
                    return True
    except sqlite3.Error:
        return False  # not a database: the database layer says so when it is opened
    return False


def _read_generated(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the generated secret key ({getattr(exc, 'strerror', None) or exc})",
            where=str(path),
            fix="check that this user may read it, or set NEWSLETTER_SECRET_KEY",
        ) from None


def _write_private(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process generated it first: both then read that one
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot keep the generated secret key next to the database ({exc.strerror})",
            where=str(path),
            fix="make that folder writable by this user, or set NEWSLETTER_SECRET_KEY "
            "(`newsletter secret generate`)",
        ) from None
