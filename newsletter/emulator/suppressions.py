"""In-memory suppression lists (docs/sendgrid.md §8) and the drop decision (§6 reasons)."""

from __future__ import annotations

import threading
from typing import Any

LISTS = ("unsubscribes", "bounces", "blocks", "spam_reports", "invalid_emails")

# list -> (dropped reason, bypass setting that skips it); blocks never cause a drop.
_DROP_RULES = (
    ("unsubscribes", "Unsubscribed Address", "bypass_unsubscribe_management"),
    ("bounces", "Bounced Address", "bypass_bounce_management"),
    ("spam_reports", "Spam Reporting Address", "bypass_spam_management"),
    ("invalid_emails", "Invalid", "bypass_bounce_management"),
)


def _enabled(mail_settings: Any, name: str) -> bool:
    try:
        return mail_settings[name]["enable"] is True
    except (KeyError, TypeError):
        return False


class Suppressions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in LISTS}

    def add(self, list_name: str, email: str, created: int, **extra: Any) -> dict[str, Any]:
        item = {"created": int(created), "email": email, **extra}
        with self._lock:
            self._lists[list_name][email.lower()] = item
        return item

    def remove(self, list_name: str, email: str) -> bool:
        with self._lock:
            return self._lists[list_name].pop(email.lower(), None) is not None

    def clear(self, list_name: str | None = None) -> None:
        with self._lock:
            for name in [list_name] if list_name else LISTS:
                self._lists[name].clear()

    def get(self, list_name: str, email: str) -> dict[str, Any] | None:
        with self._lock:
            return self._lists[list_name].get(email.lower())

    def query(
        self,
        list_name: str,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 500,
        offset: int = 0,
        email: str | None = None,
    ) -> list[dict[str, Any]]:
        """Items newest first, filtered on `created` and (substring of) `email`, paged."""
        with self._lock:
            items = list(self._lists[list_name].values())
        if start_time is not None:
            items = [i for i in items if i["created"] >= start_time]
        if end_time is not None:
            items = [i for i in items if i["created"] <= end_time]
        if email:
            items = [i for i in items if email.lower() in i["email"].lower()]
        items.sort(key=lambda i: (-i["created"], i["email"]))
        return items[offset : offset + limit]

    def drop_reason(self, email: str, mail_settings: Any = None) -> str | None:
        """The `dropped` reason for this recipient, or None when it may be delivered."""
        if _enabled(mail_settings, "bypass_list_management"):
            return None
        low = email.lower()
        with self._lock:
            for list_name, reason, bypass in _DROP_RULES:
                if low in self._lists[list_name] and not _enabled(mail_settings, bypass):
                    return reason
        return None

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: len(items) for name, items in self._lists.items()}
