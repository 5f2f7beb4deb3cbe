"""One recipient's MIME message, built exactly as SendGrid would build it.

Substitution uses the same function as the SendGrid emulator, so what the outbox or SMTP
backend produces is what SendGrid would send.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from newsletter.delivery.base import OutgoingBatch, OutgoingRecipient
from newsletter.emulator.substitutions import apply_substitutions


def build_message(batch: OutgoingBatch, recipient: OutgoingRecipient) -> EmailMessage:
    values = recipient.substitutions
    message = EmailMessage()
    message["From"] = formataddr((batch.sender_name, batch.sender_email))
    message["To"] = recipient.email
    message["Reply-To"] = batch.reply_to
    message["Subject"] = apply_substitutions(batch.subject, values)
    message["Message-ID"] = make_msgid(domain=batch.sender_email.rsplit("@", 1)[-1])
    if batch.list_id:  # not for transactional email (a confirmation)
        message["List-Id"] = batch.list_id
    if recipient.list_unsubscribe:
        message["List-Unsubscribe"] = f"<{recipient.list_unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(apply_substitutions(batch.text, values), cte="quoted-printable")
    message.add_alternative(
        apply_substitutions(batch.html, values), subtype="html", cte="quoted-printable"
    )
    return message
