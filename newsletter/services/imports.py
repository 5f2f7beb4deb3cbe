"""CSV import: streaming, chunked, idempotent upsert by email with a consent record per person.

Chunks of rows are written in short transactions (one chunk, or the few already read while
the previous one was written) that also advance the batch record (`imports`), on a background
thread while the next chunk is read (`chunk_writer.py`), so a crash or Ctrl-C leaves every
chunk either fully applied or not at all, and a rerun of the same file into the same list
resumes the batch after the last committed line. Unsubscribed,
bounced, complained and suppressed addresses (including keyed-hash suppressions of erased
people) are skipped: an import never brings anyone back.
"""

from __future__ import annotations

import gc
import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, select, update

from newsletter.audiences.attributes import AttributeSpec
from newsletter.audiences.csv_import import (
    MAX_FILE_BYTES,
    MAX_ROW_BYTES,
    ImportRow,
    Reject,
    open_subscribers_csv,
    write_rejects,
)
from newsletter.audiences.emails import lookalike_scripts
from newsletter.audiences.segments import KIND_OF_TYPE
from newsletter.domain.subscribers import HashKey, email_hasher, lookup_hashes
from newsletter.errors import ValidationError
from newsletter.input_files import check_input_file
from newsletter.keys.ring import KeyRing
from newsletter.services.chunk_writer import ChunkWriter
from newsletter.services.import_chunks import (
    ChunkContext,
    PreparedChunk,
    apply_chunk,
    prepare_chunk,
)
from newsletter.services.subscribers import require_list
from newsletter.storage import audit_log
from newsletter.storage.audience_queries import ensure_consent_text
from newsletter.storage.bulk import bulk_transaction, refresh_statistics
from newsletter.storage.database import Database
from newsletter.storage.locks import database_lock
from newsletter.storage.tables import (
    consent_records,
    imports,
    subscriber_attributes,
    subscriber_tags,
    subscriber_topics,
    subscribers,
    subscriptions,
)

IMPORTED_TABLES = (
    subscribers,
    subscriptions,
    subscriber_topics,
    subscriber_tags,
    subscriber_attributes,
    consent_records,
)

ProgressCallback = Callable[[int, int], None]
_CHUNKS_PER_GC = 8
# Chunks already read while one is written share its transaction, up to this many
# (`chunk_writer.py`): fewer SQLite commits, each rewriting thousands of index pages.
_CHUNKS_PER_TRANSACTION = 8


@dataclass
class ImportSummary:
    batch_id: str
    list_name: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # unsubscribed, bounced, complained or suppressed: left alone
    rejected: int = 0
    rejects_path: Path | None = None
    resumed_after_line: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # look-alike addresses, by line


MAX_WARNINGS = 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise ValidationError(
            f"cannot read the file ({exc.strerror})", where=str(path), fix="check the path"
        ) from None
    return digest.hexdigest()


def default_rejects_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


def import_subscribers(
    db: Database,
    path: Path,
    *,
    key: HashKey,
    list_name: str,
    consent_text: str,
    specs: Mapping[str, AttributeSpec],
    consent_confirmed: bool = False,
    encoding: str | None = None,
    delimiter: str | None = None,
    rejects_path: Path | None = None,
    progress_cb: ProgressCallback | None = None,
    staff_user: str = "cli",
    chunk_size: int = 5000,
    now: datetime | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_row_bytes: int = MAX_ROW_BYTES,
) -> ImportSummary:
    """Import a subscribers CSV into a list. Raises ValidationError if the file can't be read
    (checked for type and size before a byte is read: `input_files.check_input_file`)."""
    now = now or datetime.now(UTC)
    if not consent_text or not consent_text.strip():
        raise ValidationError(
            "an import needs the consent basis: the exact wording people agreed to",
            fix='pass --consent "I agree to receive the clinic newsletter" (as shown to them)',
        )
    check_input_file(path, max_bytes=max_bytes, setting="NEWSLETTER_MAX_CSV_BYTES",
                     kind="subscriber CSV")  # fmt: skip
    sha = file_sha256(path)
    with db.read() as conn:
        target = require_list(conn, list_name)
    # One import at a time per database: two would race on the same addresses (PostgreSQL
    # would refuse one's chunk half-way with a unique violation) and on the batch counters.
    with database_lock(
        db,
        "import",
        taken="another import is running on this database",
        fix="wait for it to finish, then run this one (imports run one at a time); "
        "an interrupted import resumes where it stopped when run again",
    ):
        return _import_locked(
            db, path, sha, target, key=key, list_name=list_name, consent_text=consent_text,
            specs=specs, consent_confirmed=consent_confirmed, encoding=encoding,
            delimiter=delimiter, rejects_path=rejects_path, progress_cb=progress_cb,
            staff_user=staff_user, chunk_size=chunk_size, now=now, max_bytes=max_bytes,
            max_row_bytes=max_row_bytes,
        )  # fmt: skip


def _other_hashes(key: HashKey) -> Callable[[ImportRow], list[str]]:
    """Hashes an erased person may be stored under besides the current key's hash of the
    current form: older keys of the ring, and the pre-NFKC form (non-ASCII addresses only).
    Nothing to compute for an ASCII address under a one-key ring (a million-row import)."""
    older = isinstance(key, KeyRing) and len(key.ids) > 1

    def other(row: ImportRow) -> list[str]:
        if not older and row.legacy_email is None:
            return []
        forms = (row.email,) if row.legacy_email is None else (row.email, row.legacy_email)
        return lookup_hashes(key, forms)[1:]

    return other


def _lookalikes(rows: list[ImportRow], warnings: list[str]) -> None:
    for row in rows:
        if not row.email.isascii() and len(warnings) < MAX_WARNINGS:
            scripts = lookalike_scripts(row.email)
            if scripts:
                mixed = " and ".join(s.title() for s in scripts)
                warnings.append(
                    f"line {row.line}: the address mixes {mixed} letters and may imitate "
                    "another address; check it with the person"
                )


def _import_locked(
    db: Database,
    path: Path,
    sha: str,
    target: Any,
    *,
    key: HashKey,
    list_name: str,
    consent_text: str,
    specs: Mapping[str, AttributeSpec],
    consent_confirmed: bool,
    encoding: str | None,
    delimiter: str | None,
    rejects_path: Path | None,
    progress_cb: ProgressCallback | None,
    staff_user: str,
    chunk_size: int,
    now: datetime,
    max_bytes: int,
    max_row_bytes: int,
) -> ImportSummary:
    rejects: list[Reject] = []
    warnings: list[str] = []
    with open_subscribers_csv(
        path, encoding=encoding, delimiter=delimiter, attributes=specs, max_bytes=max_bytes,
        max_row_bytes=max_row_bytes,
    ) as csv_file:  # fmt: skip
        batch_id, last_line = _start_batch(db, path, sha, target.id, consent_text,
                                           consent_confirmed, now)  # fmt: skip
        with db.read() as conn:
            version = conn.scalar(
                select(imports.c.consent_text_version).where(imports.c.id == batch_id)
            )
        context = ChunkContext(
            key=key,
            batch_id=batch_id,
            list_id=target.id,
            double_opt_in=bool(target.double_opt_in),
            consent_confirmed=consent_confirmed,
            consent_text_version=version,
            staff_user=staff_user,
            kinds={name: KIND_OF_TYPE[spec.type] for name, spec in specs.items()},
            now=now,
            hasher=email_hasher(key),
            other_hashes=_other_hashes(key),
        )
        written = [0]

        @contextmanager
        def transaction() -> Iterator[Connection]:  # on the writer thread
            with db.write() as conn:
                bulk_transaction(conn)
                yield conn

        def write(conn: Connection, chunk: PreparedChunk) -> None:  # one chunk at a time
            counts = apply_chunk(conn, context, chunk)
            _advance(conn, batch_id, counts, chunk.last_line)
            written[0] += 1
            if written[0] & (written[0] - 1) == 0 and written[0] >= 4:  # 4, 8, 16… chunks
                refresh_statistics(conn, IMPORTED_TABLES)
            if written[0] % _CHUNKS_PER_GC == 0:
                gc.collect(1)  # a few hundred reference cycles a chunk (see _young_gc_only)

        writer: ChunkWriter[Connection, PreparedChunk] = ChunkWriter(
            write, transaction, group=_CHUNKS_PER_TRANSACTION
        )
        with _young_gc_only():
            try:
                for chunk in csv_file.chunks(size=chunk_size):
                    rows: list[ImportRow] = []
                    for item in chunk:
                        if isinstance(item, Reject):
                            rejects.append(item)
                        elif item.line > last_line:
                            rows.append(item)
                    if rows:
                        _lookalikes(rows, warnings)
                        writer.submit(prepare_chunk(context, rows))
                    if progress_cb is not None:
                        progress_cb(csv_file.bytes_read, csv_file.total_bytes)
                writer.close()
            except BaseException:
                writer.abort()  # chunks already written stay written; a rerun resumes after them
                raise
        ignored = list(getattr(csv_file.header, "ignored", []) or [])
    if written[0]:
        with db.write() as conn:
            refresh_statistics(conn, IMPORTED_TABLES)
    summary = _finish(db, batch_id, list_name, now, actor=staff_user, rejected=len(rejects))
    summary.resumed_after_line = last_line
    summary.ignored_columns = ignored
    summary.warnings = warnings
    if rejects:
        summary.rejects_path = rejects_path or default_rejects_path(path)
        write_rejects(summary.rejects_path, rejects)
        with db.write() as conn:  # an erasure purges the person from this file too
            conn.execute(
                update(imports)
                .where(imports.c.id == batch_id)
                .values(rejects_path=str(summary.rejects_path.resolve())[:1000])
            )
    return summary


@contextmanager
def _young_gc_only() -> Iterator[None]:
    """Python's cyclic collector rescans young objects every 700 allocations; an import
    allocates millions of short-lived tuples that reference counting frees anyway, and those
    scans were ~20 % of its time. Automatic collection is off while the import runs; the
    writer collects the young generations every `_CHUNKS_PER_GC` chunks (each leaves a few
    hundred cyclic objects from the database layer), so memory stays flat. Every chunk was
    too often: each collection scans the ~3 chunks alive at the time (~8 % of the writer)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _start_batch(
    db: Database,
    path: Path,
    sha: str,
    list_id: int,
    consent_text: str,
    consent_confirmed: bool,
    now: datetime,
) -> tuple[str, int]:
    """Resume the unfinished batch for this file and list, or start a new one."""
    with db.write() as conn:
        running = conn.execute(
            select(imports.c.id, imports.c.last_line).where(
                and_(
                    imports.c.file_sha256 == sha,
                    imports.c.list_id == list_id,
                    imports.c.status == "running",
                )
            )
        ).first()
        if running is not None:
            return running.id, running.last_line
        batch_id = secrets.token_hex(8)
        version = ensure_consent_text(conn, consent_text, now)
        conn.execute(
            imports.insert().values(
                id=batch_id,
                file_name=path.name[:500],
                file_sha256=sha,
                list_id=list_id,
                consent_text_version=version,
                consent_confirmed=consent_confirmed,
                status="running",
                last_line=0,
                added=0,
                updated=0,
                unchanged=0,
                skipped=0,
                started_at=now,
            )
        )
        return batch_id, 0


def _advance(conn: Connection, batch_id: str, counts: Mapping[str, int], line: int) -> None:
    values: dict[str, Any] = {name: imports.c[name] + n for name, n in counts.items()}
    conn.execute(update(imports).where(imports.c.id == batch_id).values(last_line=line, **values))


def _finish(
    db: Database, batch_id: str, list_name: str, now: datetime, *, actor: str, rejected: int
) -> ImportSummary:
    with db.write() as conn:
        conn.execute(
            update(imports)
            .where(imports.c.id == batch_id)
            .values(status="completed", finished_at=now)
        )
        row = conn.execute(select(imports).where(imports.c.id == batch_id)).one()
        counts = {name: row._mapping[name] for name in ("added", "updated", "unchanged", "skipped")}
        audit_log.record(
            conn, actor=f"staff:{actor}", action="import", target=f"list:{list_name}", now=now,
            detail={"batch": batch_id, "rejected": rejected, **counts},
        )  # fmt: skip
    return ImportSummary(batch_id=batch_id, list_name=list_name, rejected=rejected, **counts)
