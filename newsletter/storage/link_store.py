"""A campaign's links (`campaign_links`): written when the campaign is created (and replaced
while a draft's content is edited), read by the click redirect, conversions and stats. Once
a campaign leaves draft they never change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from newsletter.rendering.links import Link
from newsletter.storage.database import tuples
from newsletter.storage.engagement_tables import campaign_links


@dataclass(slots=True)
class StoredLink:
    key: str
    url: str
    kind: str
    position: int
    label: str | None
    location: str | None = None  # the URL as a Location header value (engagement.directory)

    def as_link(self) -> Link:
        # The stored kind was written from a LinkKind (`insert_links`).
        return Link(id=self.key, url=self.url, kind=self.kind, label=self.label)  # type: ignore[arg-type]


def insert_links(conn: Connection, campaign_id: int, links: Sequence[Link]) -> None:
    if not links:
        return
    conn.execute(
        insert(campaign_links),
        [
            {
                "campaign_id": campaign_id,
                "link_key": link.id,
                "url": link.url,
                "kind": link.kind,
                "position": position,
                "label": link.label,
            }
            for position, link in enumerate(links, 1)
        ],
    )


def replace_links(conn: Connection, campaign_id: int, links: Sequence[Link]) -> None:
    """A draft's links after its content was edited (the caller holds it in draft)."""
    conn.execute(delete(campaign_links).where(campaign_links.c.campaign_id == campaign_id))
    insert_links(conn, campaign_id, links)


def links_of(conn: Connection, campaign_id: int) -> list[StoredLink]:
    """The campaign's links in reading order (the honeypot, if any, last)."""
    rows = conn.execute(
        select(
            campaign_links.c.link_key,
            campaign_links.c.url,
            campaign_links.c.kind,
            campaign_links.c.position,
            campaign_links.c.label,
        )
        .where(campaign_links.c.campaign_id == campaign_id)
        .order_by(campaign_links.c.position)
    )
    return [StoredLink(*row) for row in tuples(rows)]
