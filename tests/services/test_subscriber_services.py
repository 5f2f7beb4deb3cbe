"""Staff operations, suppression, double opt-in and GDPR export/erase on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from newsletter.audiences.attributes import AttributeSpec
from newsletter.domain.subscribers import SuppressionReason, email_hash
from newsletter.errors import NotFound, ValidationError
from newsletter.services.double_opt_in import confirm_subscription, request_confirmation
from newsletter.services.lists import create_list, list_lists
from newsletter.services.privacy import erase_subscriber, gdpr_export
from newsletter.services.subscribers import (
    add_subscriber,
    add_to_list,
    edit_subscriber,
    subscriber_profile,
    tag_subscriber,
)
from newsletter.services.suppressions import resubscribe, suppress_in, unsubscribe
from newsletter.storage import confirmation_queue
from newsletter.storage.tables import (
    consent_records,
    lists,
    subscriber_events,
    subscribers,
    subscriptions,
    suppressions,
)
from tests.claim_probe import claimable

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SPECS = {"city": AttributeSpec("city", "string", "City, for event invitations")}
XSS = '"><img src=x onerror=alert(1)>'
SQLI = "Robert'); DROP TABLE subscribers;--"


@pytest.fixture
def key(settings):
    return settings.secret_key.get_secret_value()


@pytest.fixture
def staffed(db, key):
    create_list(db, "newsletter", now=NOW)
    add_subscriber(
        db, key=key, email=" Ann@Example.COM", consent_text="I agree", staff_user="alice",
        list_name="newsletter", first_name=SQLI, last_name=XSS, tags=[XSS], topics=["events"],
        attributes={"city": SQLI}, specs=SPECS, now=NOW,
    )  # fmt: skip
    return db


def test_add_show_edit_tag_store_strings_verbatim(staffed):
    db = staffed
    profile = subscriber_profile(db, "ann@example.com")
    assert profile["first_name"] == SQLI and profile["last_name"] == XSS
    assert profile["tags"] == [XSS] and profile["attributes"] == {"city": SQLI}
    assert profile["status"] == "active" and profile["lists"] == {"newsletter": "active"}
    edit_subscriber(db, "ANN@example.com", first_name="Ann", attributes={"city": "Boston"},
                    specs=SPECS)  # fmt: skip
    assert subscriber_profile(db, "ann@example.com")["attributes"] == {"city": "Boston"}
    assert tag_subscriber(db, "ann@example.com", add=["vip"], remove=[XSS]) == ["vip"]
    assert [(i.name, i.active) for i in list_lists(db)] == [("newsletter", 1)]


def test_add_refuses_duplicates_unknown_attributes_and_lists(staffed, key):
    with pytest.raises(ValidationError, match="already a subscriber"):
        add_subscriber(staffed, key=key, email="ann@example.com", consent_text="x",
                       staff_user="a")  # fmt: skip
    with pytest.raises(ValidationError, match="unknown attribute 'diagnosis'"):
        add_subscriber(staffed, key=key, email="b@example.com", consent_text="x", staff_user="a",
                       attributes={"diagnosis": "x"}, specs=SPECS)  # fmt: skip
    with pytest.raises(NotFound, match="unknown list 'nope'"):
        add_subscriber(staffed, key=key, email="b@example.com", consent_text="x", staff_user="a",
                       list_name="nope")  # fmt: skip
    with pytest.raises(NotFound):
        subscriber_profile(staffed, "nobody@example.com")


def _suppression(db, key, email):  # type: ignore[no-untyped-def]
    """The reason the address is suppressed under `key`, or None."""
    with db.read() as conn:
        return conn.scalar(
            select(suppressions.c.reason).where(suppressions.c.email_hash == email_hash(key, email))
        )


def test_unsubscribe_suppresses_and_resubscribe_needs_new_consent(staffed, key):
    db = staffed
    ann_id = subscriber_profile(db, "ann@example.com")["id"]
    assert claimable(db, [ann_id]) == {ann_id}
    unsubscribe(db, key=key, email="ann@example.com", source="alice", now=NOW)
    assert _suppression(db, key, "ann@example.com") == "staff"
    assert claimable(db, [ann_id]) == set()  # the next claim skips her
    with pytest.raises(ValidationError, match="consent"):
        resubscribe(db, key=key, email="ann@example.com", consent_text="", source="alice")
    resubscribe(db, key=key, email="ann@example.com", consent_text="I agree again",
                source="alice", now=NOW)  # fmt: skip
    assert _suppression(db, key, "ann@example.com") is None
    assert claimable(db, [ann_id]) == {ann_id}
    with db.read() as conn:
        events = list(conn.scalars(select(consent_records.c.event).order_by(consent_records.c.id)))
    assert events == ["consent_given", "withdrawn", "resubscribed"]


def test_bounced_or_complained_can_never_be_resubscribed(staffed, key):
    with staffed.write() as conn:
        suppress_in(conn, key=key, email="ann@example.com", reason=SuppressionReason.COMPLAINT,
                    source="webhook", now=NOW)  # fmt: skip
    assert subscriber_profile(staffed, "ann@example.com")["status"] == "complained"
    with pytest.raises(ValidationError, match="cannot be resubscribed"):
        resubscribe(staffed, key=key, email="ann@example.com", consent_text="yes", source="a")


def test_erase_leaves_only_a_keyed_hash_and_blocks_the_address(staffed, key):
    db = staffed
    data = gdpr_export(db, "ann@example.com")
    json.dumps(data)  # JSON-ready
    assert data["profile"]["email"] == "ann@example.com"
    assert data["consent_history"][0]["consent_text"] == "I agree"
    assert data["memberships"][0]["list"] == "newsletter"
    erase_subscriber(db, key=key, email="ann@example.com", source="staff:alice", now=NOW)
    with pytest.raises(NotFound):
        subscriber_profile(db, "ann@example.com")
    with db.read() as conn:
        rows = conn.execute(select(suppressions)).all()
        assert conn.scalar(select(func.count()).select_from(consent_records)) == 0
    assert len(rows) == 1 and rows[0].email is None and rows[0].reason == "erasure"
    assert rows[0].email_hash == email_hash(key, "ann@example.com")
    with pytest.raises(ValidationError, match="suppressed"):
        add_subscriber(db, key=key, email="ann@example.com", consent_text="x", staff_user="a")
    with pytest.raises(NotFound):
        erase_subscriber(db, key=key, email="never@example.com", source="staff:alice")


def test_double_opt_in_flow_and_rate_limits(db, settings, tmp_path):
    create_list(db, "events", double_opt_in=True, now=NOW)

    def ask(at):
        return request_confirmation(
            db, settings, email="Vic@Example.com", list_name="events", consent_text="Yes please",
            source="form:signup", first_name="Vic", ip="203.0.113.9", user_agent="UA", now=at,
        )  # fmt: skip

    first = ask(NOW)
    assert first.requested and first.reason == "queued" and first.delivery is None
    assert first.token not in ("", None) and "vic@example.com" not in first.token
    with db.read() as conn:  # queued with the pending membership, for the engine to send
        assert confirmation_queue.counts(conn) == {"queued": 1}
    assert subscriber_profile(db, "vic@example.com")["status"] == "pending"
    assert ask(NOW + timedelta(minutes=5)).reason == "rate limited"  # < 10 min apart
    assert ask(NOW + timedelta(minutes=11)).requested
    assert ask(NOW + timedelta(minutes=22)).requested
    assert ask(NOW + timedelta(minutes=40)).reason == "rate limited"  # 4th within 24 h
    assert ask(NOW + timedelta(hours=24, minutes=1)).requested
    with db.read() as conn:
        assert confirmation_queue.counts(conn) == {"queued": 4}
    with pytest.raises(ValidationError, match="invalid or has expired"):
        confirm_subscription(db, settings, first.token[:-2] + "xx", now=NOW)
    with pytest.raises(ValidationError, match="invalid or has expired"):
        confirm_subscription(db, settings, first.token, now=NOW + timedelta(days=8))
    assert confirm_subscription(db, settings, first.token, ip="203.0.113.9",
                                now=NOW + timedelta(hours=1)) == "vic@example.com"  # fmt: skip
    assert subscriber_profile(db, "vic@example.com")["status"] == "active"
    assert subscriber_profile(db, "vic@example.com")["lists"] == {"events": "active"}
    assert ask(NOW + timedelta(days=3)).reason == "already subscribed"


def test_suppressed_address_gets_no_confirmation(db, settings, key):
    create_list(db, "events", double_opt_in=True, now=NOW)
    with db.write() as conn:
        suppress_in(conn, key=key, email="x@example.com", reason=SuppressionReason.HARD_BOUNCE,
                    source="webhook", now=NOW)  # fmt: skip
    outcome = request_confirmation(db, settings, email="x@example.com", list_name="events",
                                   consent_text="Yes", source="form", now=NOW)  # fmt: skip
    assert not outcome.requested and outcome.email_id is None
    with db.read() as conn:
        assert confirmation_queue.counts(conn) == {}


def test_engagement_rows_are_erased_with_the_person(staffed, key):
    db = staffed
    ann_id = subscriber_profile(db, "ann@example.com")["id"]
    with db.write() as conn:
        conn.execute(
            subscriber_events.insert().values(
                subscriber_id=ann_id, event="click", link_kind="article", occurred_at=NOW
            )
        )
    assert gdpr_export(db, "ann@example.com")["engagement"][0]["event"] == "click"
    erase_subscriber(db, key=key, email="ann@example.com", source="staff:alice", now=NOW)
    with db.read() as conn:
        assert conn.scalar(select(func.count()).select_from(subscriber_events)) == 0


def test_profile_by_any_form_of_the_address_and_list_membership(staffed):
    db = staffed
    found = subscriber_profile(db, " ANN@example.com")
    assert (found["email"], found["status"]) == ("ann@example.com", "active")
    with pytest.raises(NotFound):
        subscriber_profile(db, "nobody@example.com")
    create_list(db, "events", now=NOW)
    create_list(db, "confirmed-only", double_opt_in=True, now=NOW)
    assert add_to_list(db, "ann@example.com", "events", consent_text="Events too", staff_user="a")
    assert subscriber_profile(db, "ann@example.com")["lists"] == {
        "events": "active",
        "newsletter": "active",
    }
    with pytest.raises(ValidationError, match="double opt-in"):
        add_to_list(db, "ann@example.com", "confirmed-only", consent_text="x", staff_user="a")
    with pytest.raises(ValidationError, match="consent"):
        add_to_list(db, "ann@example.com", "events", consent_text=" ", staff_user="a")


def _memberships(db, email):
    return subscriber_profile(db, email)["lists"]


def test_resubscribe_restores_only_what_the_global_unsubscribe_closed(staffed, key):
    """A list left on its own stays left; an unconfirmed double opt-in is never promoted."""
    db = staffed
    create_list(db, "events", now=NOW)
    create_list(db, "research", double_opt_in=True, now=NOW)
    add_to_list(db, "ann@example.com", "events", consent_text="I agree", staff_user="a", now=NOW)
    with db.write() as conn:  # a sign-up to the double opt-in list, never confirmed
        ann_id = conn.scalar(select(subscribers.c.id))
        list_id = conn.scalar(select(lists.c.id).where(lists.c.name == "research"))
        conn.execute(insert(subscriptions).values(subscriber_id=ann_id, list_id=list_id,
                     status="pending", created_at=NOW, updated_at=NOW))  # fmt: skip
    unsubscribe(db, key=key, email="ann@example.com", source="a", list_name="events", now=NOW)
    unsubscribe(db, key=key, email="ann@example.com", source="a", now=NOW)
    assert _memberships(db, "ann@example.com") == {
        "events": "unsubscribed",
        "newsletter": "unsubscribed",
        "research": "unsubscribed",
    }
    active = resubscribe(db, key=key, email="ann@example.com", consent_text="yes again",
                         source="a", now=NOW)  # fmt: skip
    assert active == ["newsletter"]
    assert _memberships(db, "ann@example.com") == {
        "events": "unsubscribed",
        "newsletter": "active",
        "research": "pending",
    }
    assert subscriber_profile(db, "ann@example.com")["status"] == "active"
    assert _suppression(db, key, "ann@example.com") is None


def test_resubscribe_without_a_record_of_what_was_closed_needs_a_list(staffed, key):
    db = staffed
    unsubscribe(db, key=key, email="ann@example.com", source="a", now=NOW)
    with db.write() as conn:  # as an unsubscribe from before the record existed left it
        conn.execute(update(subscriptions).values(suppressed_from=None))
    with pytest.raises(ValidationError, match=r"not recorded \(left: newsletter\)") as caught:
        resubscribe(db, key=key, email="ann@example.com", consent_text="yes", source="a")
    assert caught.value.fix == (
        "name the list with --list NAME (the new consent then covers that list)"
    )
    assert _suppression(db, key, "ann@example.com") == "staff"  # nothing changed
    assert subscriber_profile(db, "ann@example.com")["status"] == "unsubscribed"
    active = resubscribe(db, key=key, email="ann@example.com", consent_text="yes", source="a",
                         list_name="newsletter", now=NOW)  # fmt: skip
    assert active == ["newsletter"]


def test_resubscribe_to_a_named_list_never_promotes_pending_or_skips_double_opt_in(staffed, key):
    db = staffed
    create_list(db, "research", double_opt_in=True, now=NOW)
    with db.write() as conn:
        ann_id = conn.scalar(select(subscribers.c.id))
        list_id = conn.scalar(select(lists.c.id).where(lists.c.name == "research"))
        conn.execute(insert(subscriptions).values(subscriber_id=ann_id, list_id=list_id,
                     status="pending", created_at=NOW, updated_at=NOW))  # fmt: skip
    unsubscribe(db, key=key, email="ann@example.com", source="a", list_name="research", now=NOW)
    unsubscribe(db, key=key, email="ann@example.com", source="a", list_name="newsletter", now=NOW)
    with pytest.raises(ValidationError, match="'research' is a double opt-in list"):
        resubscribe(db, key=key, email="ann@example.com", consent_text="yes", source="a",
                    list_name="research")  # fmt: skip
    assert _memberships(db, "ann@example.com") == {
        "newsletter": "unsubscribed",
        "research": "unsubscribed",
    }
    with db.write() as conn:  # pending again (a new sign-up)
        conn.execute(update(subscriptions).where(subscriptions.c.list_id == list_id)
                     .values(status="pending"))  # fmt: skip
    unsubscribe(db, key=key, email="ann@example.com", source="a", now=NOW)  # global
    active = resubscribe(db, key=key, email="ann@example.com", consent_text="yes", source="a",
                         list_name="research", now=NOW)  # fmt: skip
    assert active == []  # restored as it was: pending, waiting for the person's confirmation
    assert _memberships(db, "ann@example.com") == {
        "newsletter": "unsubscribed",
        "research": "pending",
    }
