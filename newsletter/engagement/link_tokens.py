"""What the token in a link from an email stands for (pure: signatures and ciphers only).

One scheme for every link (`/r/`, `/o/`, `/u/`, `/p/`):

- a campaign email's token (purpose `click`, `unsubscribe` or `preferences`) decodes to its
  delivery (`newsletter.delivery_ids`);
- a test send's token (purpose `test`, the same in every link of that email) decodes to the
  campaign: its clicks redirect and are counted apart, never as a person, and its
  unsubscribe and preference links show a page saying it was a test;
- a preview's token (purpose `preview`, from `newsletter render`, `check`, `preview`) decodes
  to nothing: its links open a page saying it is a preview.

Anything else (tampered, truncated, foreign, another purpose) is None: a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from newsletter import tokens
from newsletter.delivery_ids import DeliveryIds

MAX_TOKEN = 120  # a key id, up to 64 characters of id and a 16-character MAC


@dataclass(frozen=True, slots=True)
class LinkToken:
    kind: Literal["delivery", "test", "preview"]
    id: int | None  # the delivery (delivery) or the campaign (test); None for a preview


def resolve(purpose: tokens.Purpose, token: str, keys: Mapping[str, str]) -> LinkToken | None:
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        return None
    ids = DeliveryIds(keys)
    link_id = tokens.verify(purpose, token, keys=keys)
    if link_id is not None:
        delivery = ids.delivery_for_link_id(link_id)
        return None if delivery is None else LinkToken("delivery", delivery)
    test_id = tokens.verify("test", token, keys=keys)
    if test_id is not None:
        campaign = ids.campaign_for_test_id(test_id)
        return None if campaign is None else LinkToken("test", campaign)
    if tokens.verify("preview", token, keys=keys) is not None:
        return LinkToken("preview", None)
    return None
