"""Test sends: the campaign as its recipients will get it, to a seed list of addresses,
marked [TEST], through the configured delivery backend, with no ledger rows.

Every link carries one token of purpose `test` that decodes to the campaign: clicks redirect
and count apart (never as a person), and unsubscribe or preference links show a "this was a
test" page (docs/tracking.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from newsletter import tokens
from newsletter.config import Settings
from newsletter.delivery.base import DeliveryBackend, OutgoingBatch, OutgoingRecipient
from newsletter.delivery_ids import DeliveryIds
from newsletter.domain.sending import Action, classify
from newsletter.errors import ValidationError
from newsletter.rendering.placeholders import Recipient
from newsletter.services.campaigns import compiled_email
from newsletter.storage import campaign_store
from newsletter.storage.database import Database


def send_test(
    db: Database,
    settings: Settings,
    backend: DeliveryBackend,
    campaign_id: int,
    addresses: Sequence[str],
) -> None:
    """Send the campaign to `addresses`, marked [TEST], a backend call per `max_batch`."""
    if not addresses:
        raise ValidationError("no test address given", fix="pass --to ADDRESS")
    valid = [_valid_address(a) for a in addresses]
    with db.read() as conn:
        row = campaign_store.get_campaign(conn, campaign_id)
    compiled = compiled_email(row, settings)
    keys = settings.signing_keys
    key_id, key = tokens.current_key(keys)
    test = tokens.sign("test", DeliveryIds(keys).test_id(campaign_id), key=key, key_id=key_id)
    recipient = Recipient(None, test, test, test)
    recipients = [
        OutgoingRecipient(
            email=address,
            substitutions=compiled.substitutions(recipient),
            list_unsubscribe=f"{settings.public_url}/u/{test}",
            send_id=tokens.new_random_id(),
        )
        for address in valid
    ]
    for index in range(0, len(recipients), backend.max_batch):
        batch = OutgoingBatch(
            subject=f"[TEST] {compiled.subject}",
            html=compiled.html.source,
            text=compiled.text.source,
            sender_name=compiled.sender_name,
            sender_email=compiled.sender_email,
            reply_to=compiled.reply_to,
            list_id=settings.list_id,
            recipients=tuple(recipients[index : index + backend.max_batch]),
        )
        result = backend.send(batch)
        decision = classify(result, live=len(batch.recipients), now=datetime.now(UTC).timestamp())
        if decision.action != Action.ACCEPTED:
            raise ValidationError(
                f"the test send was not accepted: {decision.reason}",
                fix="check the delivery settings",
            )


def _valid_address(address: str) -> str:
    from newsletter.audiences.emails import validate_email

    try:
        return validate_email(address)
    except ValueError as exc:
        raise ValidationError(f"{address!r} is not an email address: {exc}", where="--to") from None
