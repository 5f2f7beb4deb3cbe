"""Segments as a service: load by name from the audiences folder, count, resolve to ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsletter.audiences.attributes import AttributeSpec, load_attributes
from newsletter.audiences.segment_files import list_segment_files, load_segment, parse_segment
from newsletter.audiences.segments import Segment
from newsletter.audiences.targets import list_segment, parse_target
from newsletter.errors import NewsletterError
from newsletter.storage.database import Database
from newsletter.storage.segment_sql import (
    segment_count_query,
)

ATTRIBUTES_FILE = "attributes.yaml"


def declared_attributes(audiences_dir: Path) -> dict[str, AttributeSpec]:
    return load_attributes(audiences_dir / ATTRIBUTES_FILE)


def get_segment(audiences_dir: Path, name: str) -> Segment:
    """Load a checked segment by name (NotFound / ValidationError with file, line, field)."""
    return load_segment(audiences_dir, name, declared_attributes(audiences_dir))


def target_segment(audiences_dir: Path, target: str) -> Segment:
    """The audience of a campaign target (`segment:NAME` or `list:NAME`) as a segment."""
    parsed = parse_target(target)
    if parsed.kind == "list":
        return list_segment(parsed.name)
    return get_segment(audiences_dir, parsed.name)


@dataclass(frozen=True)
class SegmentEntry:
    name: str
    description: str
    error: str | None = None


def list_segments(audiences_dir: Path) -> list[SegmentEntry]:
    """Every segment file, with its description or the problem that makes it unusable."""
    attributes: Mapping[str, AttributeSpec] = declared_attributes(audiences_dir)
    entries = []
    for path in list_segment_files(audiences_dir):
        try:
            segment = parse_segment(path, attributes)
        except NewsletterError as exc:
            entries.append(SegmentEntry(path.stem, "", str(exc)))
        else:
            entries.append(SegmentEntry(segment.name, segment.description))
    return entries


def count_segment(db: Database, segment: Segment, *, now: datetime | None = None) -> int:
    with db.read() as conn:
        return int(conn.scalar(segment_count_query(segment.rule, now=now or datetime.now(UTC))))
