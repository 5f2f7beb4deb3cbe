"""Where a link goes: a delivery's campaign and a campaign's links, read once and kept.

Both never change once written (a delivery's campaign, a campaign's links), so the click
redirect asks the database at most once per delivery and once per campaign; everything
after that is a dictionary lookup. The caches are bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from urllib.parse import quote, urlsplit

from sqlalchemy import select

from newsletter.storage import link_store
from newsletter.storage.database import Database
from newsletter.storage.link_store import StoredLink
from newsletter.storage.sending_tables import deliveries

MAX_DELIVERIES = 200_000
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def location(url: str) -> str | None:
    """The stored URL as a `Location` value; None unless it is an absolute http(s) URL (a
    check on top of the one at campaign creation: never `javascript:`, `data:`, `//host`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe=_URL_SAFE)


MAX_CAMPAIGNS = 256


class LinkDirectory:
    def __init__(self, db: Database, *, max_deliveries: int = MAX_DELIVERIES):
        self.db = db
        self.max_deliveries = max_deliveries
        # On SQLite the lookup is a local B-tree read: callers may run it inline, on one
        # dedicated connection of the driver (autocommit, read-only use).
        self.inline = db.dialect == "sqlite"
        self._local = threading.local()
        self._campaign_of: OrderedDict[int, int] = OrderedDict()
        self._links: OrderedDict[int, dict[str, StoredLink]] = OrderedDict()
        self._lock = threading.Lock()

    def cached_campaign(self, delivery_id: int) -> int | None:
        with self._lock:
            return self._campaign_of.get(delivery_id)

    def campaign_of(self, delivery_id: int) -> int | None:
        """The delivery's campaign, or None when there is no such delivery."""
        found = self.cached_campaign(delivery_id)
        if found is not None:
            return found
        if self.inline:
            found = self._sqlite_campaign(delivery_id)
        else:
            with self.db.read() as conn:
                found = conn.scalar(
                    select(deliveries.c.campaign_id).where(deliveries.c.id == delivery_id)
                )
        if found is not None and self.max_deliveries:
            with self._lock:
                self._campaign_of[delivery_id] = found
                if len(self._campaign_of) > self.max_deliveries:
                    self._campaign_of.popitem(last=False)
        return found

    def _sqlite_campaign(self, delivery_id: int) -> int | None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.db.engine.raw_connection()
        row = connection.execute(
            "SELECT campaign_id FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def cached_links(self, campaign_id: int) -> dict[str, StoredLink] | None:
        with self._lock:
            return self._links.get(campaign_id)

    def links(self, campaign_id: int) -> dict[str, StoredLink]:
        """The campaign's links by link key (empty for an unknown campaign)."""
        found = self.cached_links(campaign_id)
        if found is not None:
            return found
        with self.db.read() as conn:
            found = {link.key: link for link in link_store.links_of(conn, campaign_id)}
        for link in found.values():  # checked and encoded once, not per click
            link.location = location(link.url)
        if found:  # an unknown campaign is not cached: it may be created later
            with self._lock:
                self._links[campaign_id] = found
                if len(self._links) > MAX_CAMPAIGNS:
                    self._links.popitem(last=False)
        return found
