"""Signed Event Webhook delivery: signatures, event shapes, outcomes, suppressions, knobs."""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter

import pytest
from sendgrid import EventWebhook, EventWebhookHeader

from newsletter.emulator import EmulatorConfig, WebhookConfig, run_emulator
from newsletter.emulator.testing import WebhookReceiver, client_for, make_mail
from newsletter.tracking.signature import is_fresh, verify_signature

SIG, TS = EventWebhookHeader.SIGNATURE, EventWebhookHeader.TIMESTAMP
B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def official_verify(public_key: str, post: dict) -> bool:
    """The official helper's verdict; it answers False for a bad signature and raises for
    anything else (a malformed key or header), which must fail the test."""
    return EventWebhook(public_key).verify_signature(
        post["body"].decode("utf-8"), post["headers"][SIG], post["headers"][TS]
    )


def ours(public_key: str, post: dict, body: bytes | None = None) -> bool:
    headers = post["headers"]
    return verify_signature(
        public_key, headers[SIG], headers[TS], post["body"] if body is None else body
    )


def by_email(events: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ev in sorted(events, key=lambda e: e["timestamp"]):
        out.setdefault(ev["email"], []).append(ev["event"])
    return out


def test_every_delivery_is_signed_and_verifies_both_ways(emu, receiver):
    response = client_for(emu).send(make_mail("w1@example.org", "w2@example.org", "w3@example.org"))
    xmid = response.headers["X-Message-Id"]
    assert receiver.wait_for(lambda evs: len(evs) >= 6)
    assert receiver.posts
    for post in receiver.posts:
        body = post["body"]
        assert body.endswith(b"]\r\n")
        assert post["headers"][TS].isdigit()
        assert base64.b64decode(post["headers"][SIG]).startswith(b"\x30")  # DER SEQUENCE
        assert official_verify(emu.public_key, post)
        assert ours(emu.public_key, post)
        # a one-byte change, or the body without its CR LF, must fail
        flipped = body[:10] + bytes([body[10] ^ 0x01]) + body[11:]
        assert not ours(emu.public_key, post, flipped)
        assert not official_verify(emu.public_key, {**post, "body": flipped})
        assert not ours(emu.public_key, post, body[:-2])
        assert not official_verify(emu.public_key, {**post, "body": body[:-2]})
    events = receiver.events()
    assert by_email(events) == {f"w{i}@example.org": ["processed", "delivered"] for i in (1, 2, 3)}
    ids = [ev["sg_event_id"] for ev in events]
    assert len(set(ids)) == len(ids)
    assert all(B64URL.match(i) for i in ids)
    for ev in events:
        assert isinstance(ev["timestamp"], int)
        assert ev["sg_message_id"].split(".", 1)[0] == xmid
        assert ev["smtp-id"].startswith(f"<{xmid}@")
        assert ev["category"] == ["newsletter"]
        assert ev["send_id"].startswith("send-")  # custom_args are top-level keys
    smids = {ev["email"]: ev["sg_message_id"] for ev in events}
    assert smids["w2@example.org"] == f"{xmid}.emulator-1-0.0"


def test_public_key_endpoint_matches_the_signing_key(emu):
    sg = client_for(emu)
    settings = json.loads(sg.client.user.webhooks.event.settings.signed.get().body)
    assert settings["public_key"] == emu.public_key
    assert settings["public_key"].startswith("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
    by_id = json.loads(sg.client.user.webhooks.event.settings.signed._("abc").get().body)
    assert by_id["public_key"] == emu.public_key


def test_signing_key_is_derived_from_the_configured_scalar(tmp_path):
    config_a = EmulatorConfig(signing_scalar=12345, log_path=tmp_path / "a.jsonl")
    config_b = EmulatorConfig(signing_scalar=12345, log_path=tmp_path / "b.jsonl")
    with run_emulator(config_a) as a, run_emulator(config_b) as b:
        assert a.public_key == b.public_key
    with run_emulator(EmulatorConfig(signing_scalar=54321, log_path=tmp_path / "c.jsonl")) as c:
        assert c.public_key != a.public_key


def test_reserved_keys_win_over_custom_args(emu, receiver):
    body = make_mail("reserved@example.org")
    body["personalizations"][0]["custom_args"] = {
        "email": "spoof@x.org",
        "event": "nope",
        "send_id": "s1",
    }
    client_for(emu).send(body)
    assert receiver.wait_for(lambda evs: len(evs) >= 2)
    for ev in receiver.events():
        assert ev["email"] == "reserved@example.org"
        assert ev["event"] in ("processed", "delivered")
        assert ev["send_id"] == "s1"


def test_top_level_and_personalization_custom_args_merge(emu, receiver):
    body = make_mail("merge@example.org", custom_args={"campaign": "c1", "send_id": "top"})
    client_for(emu).send(body)
    assert receiver.wait_for(lambda evs: len(evs) >= 2)
    ev = receiver.events()[0]
    assert (ev["campaign"], ev["send_id"]) == ("c1", "send-00000")


def test_scripted_outcomes_by_address(emu, receiver):
    client_for(emu).send(make_mail("bounce+1@example.org", "blocked+1@example.org",
                                   "defer+1@example.org", "plain@example.org"))  # fmt: skip
    assert receiver.wait_for(lambda evs: len(evs) >= 9)
    events = receiver.events()
    assert by_email(events) == {
        "bounce+1@example.org": ["processed", "bounce"],
        "blocked+1@example.org": ["processed", "bounce"],
        "defer+1@example.org": ["processed", "deferred", "delivered"],
        "plain@example.org": ["processed", "delivered"],
    }
    types = {ev["email"]: ev.get("type") for ev in events if ev["event"] == "bounce"}
    assert types == {"bounce+1@example.org": "bounce", "blocked+1@example.org": "blocked"}
    sg = client_for(emu)
    bounces = json.loads(sg.client.suppression.bounces.get().body)
    assert [b["email"] for b in bounces] == ["bounce+1@example.org"]
    assert set(bounces[0]) >= {"created", "email", "reason", "status"}
    blocks = json.loads(sg.client.suppression.blocks.get().body)
    assert [b["email"] for b in blocks] == ["blocked+1@example.org"]
    # a bounced address is dropped next time
    client_for(emu).send(make_mail("bounce+1@example.org"))
    assert receiver.wait_for(lambda evs: any(e["event"] == "dropped" for e in evs))
    [dropped] = [e for e in receiver.events() if e["event"] == "dropped"]
    assert (dropped["reason"], dropped["status"]) == ("Bounced Address", "5.0.0")


def test_global_suppression_then_send_is_accepted_then_dropped(emu, receiver):
    sg = client_for(emu)
    added = sg.client.asm.suppressions._("global").post(
        request_body={"recipient_emails": ["gone@example.org"]}
    )
    assert added.status_code == 201
    assert json.loads(added.body) == {"recipient_emails": ["gone@example.org"]}
    response = sg.send(make_mail("gone@example.org", "stays@example.org"))
    assert response.status_code == 202
    assert receiver.wait_for(lambda evs: len(evs) >= 4)
    assert by_email(receiver.events()) == {
        "gone@example.org": ["processed", "dropped"],
        "stays@example.org": ["processed", "delivered"],
    }
    [dropped] = [e for e in receiver.events() if e["event"] == "dropped"]
    assert dropped["reason"] == "Unsubscribed Address"
    listed = json.loads(sg.client.suppression.unsubscribes.get(query_params={"limit": 10}).body)
    assert [i["email"] for i in listed] == ["gone@example.org"]
    assert isinstance(listed[0]["created"], int)
    one = sg.client.asm.suppressions._("global")._("gone@example.org").get()
    assert json.loads(one.body) == {"recipient_email": "gone@example.org"}
    assert sg.client.asm.suppressions._("global")._("gone@example.org").delete().status_code == 204
    assert json.loads(sg.client.asm.suppressions._("global")._("gone@example.org").get().body) == {}


def test_bypass_list_management_delivers_to_suppressed(emu, receiver):
    emu.suppress("bypass@example.org")
    body = make_mail(
        "bypass@example.org", mail_settings={"bypass_list_management": {"enable": True}}
    )
    client_for(emu).send(body)
    assert receiver.wait_for(lambda evs: len(evs) >= 2)
    assert by_email(receiver.events()) == {"bypass@example.org": ["processed", "delivered"]}


def test_injected_spamreport_is_delivered_and_suppresses(emu, receiver):
    import httpx

    event = {"email": "angry@example.org", "send_id": "s9"}
    resp = httpx.post(emu.base_url + "/_emulator/events/spamreport", json=event, trust_env=False)
    assert resp.status_code == 201
    assert receiver.wait_for(lambda evs: len(evs) >= 1)
    [ev] = receiver.events()
    assert (ev["event"], ev["email"], ev["send_id"]) == ("spamreport", "angry@example.org", "s9")
    assert ours(emu.public_key, receiver.posts[0])
    client_for(emu).send(make_mail("angry@example.org"))
    assert receiver.wait_for(lambda evs: any(e["event"] == "dropped" for e in evs))
    assert [e["reason"] for e in receiver.events() if e["event"] == "dropped"] == [
        "Spam Reporting Address"
    ]


@pytest.fixture
def tuned(tmp_path, receiver):
    def start(**webhook):
        webhook.setdefault("retry_base_s", 0.05)
        config = EmulatorConfig(webhook_url=receiver.url, log_path=tmp_path / "t.jsonl",
                                webhook=WebhookConfig(**webhook))  # fmt: skip
        return run_emulator(config)

    return start


def test_lag_holds_events_until_flush(tuned, receiver):
    with tuned(lag_s=30) as emu:
        client_for(emu).send(make_mail("lag@example.org"))
        assert not receiver.wait_for(lambda evs: len(evs) > 0, timeout=0.3)
        assert emu.stats()["webhook"]["pending"] == 2
        assert emu.flush_webhook() == {"posts": 1, "events": 2, "pending": 0}
        assert len(receiver.events()) == 2


def test_batches_respect_max_events(tuned, receiver):
    with tuned(lag_s=30, batch_max_events=3) as emu:
        client_for(emu).send(make_mail(*[f"b{i}@example.org" for i in range(4)]))
        emu.flush_webhook()
        assert [len(json.loads(p["body"])) for p in receiver.posts] == [3, 3, 2]


def test_batches_respect_max_bytes(tuned, receiver):
    with tuned(lag_s=30, batch_max_bytes=2000) as emu:
        client_for(emu).send(make_mail(*[f"bytes{i}@example.org" for i in range(10)]))
        emu.flush_webhook()
        assert len(receiver.posts) > 2
        assert all(len(p["body"]) <= 2000 + 2 for p in receiver.posts)  # + CR LF
        assert len(receiver.events()) == 20


def test_duplicate_factor_repeats_event_ids(tuned, receiver):
    with tuned() as emu:
        emu.set_faults(webhook={"duplicate_factor": 3})
        client_for(emu).send(make_mail("dup@example.org"))
        assert receiver.wait_for(lambda evs: len(evs) >= 6)
        counts = Counter(ev["sg_event_id"] for ev in receiver.events())
        assert sorted(counts.values()) == [3, 3]


def test_failed_posts_are_retried_with_new_event_ids(tuned):
    with WebhookReceiver(status_fn=lambda n: 500 if n == 1 else 200) as rcv:
        config = EmulatorConfig(webhook_url=rcv.url, webhook=WebhookConfig(retry_base_s=0.05))
        with run_emulator(config) as emu:
            emu.set_faults(webhook={"new_event_id_on_retry": True})
            client_for(emu).send(make_mail("retry@example.org"))
            assert rcv.wait_for(lambda evs: len(evs) >= 4)
            first, second = (json.loads(p["body"]) for p in rcv.posts[:2])
            assert [e["event"] for e in first] == [e["event"] for e in second]
            assert {e["sg_event_id"] for e in first}.isdisjoint(e["sg_event_id"] for e in second)
            assert wait_until(lambda: len(emu.deliveries()) >= 2)
            deliveries = emu.deliveries()
            assert [d["status"] for d in deliveries[:2]] == [500, 200]
            assert deliveries[1]["attempt"] == 1


def test_retry_keeps_event_ids_by_default(tuned):
    with WebhookReceiver(status_fn=lambda n: 503 if n == 1 else 200) as rcv:
        config = EmulatorConfig(webhook_url=rcv.url, webhook=WebhookConfig(retry_base_s=0.05))
        with run_emulator(config) as emu:
            client_for(emu).send(make_mail("same@example.org"))
            assert rcv.wait_for(lambda evs: len(evs) >= 4)
            first, second = (json.loads(p["body"]) for p in rcv.posts[:2])
            assert [e["sg_event_id"] for e in first] == [e["sg_event_id"] for e in second]


def test_drop_then_retry(tuned, receiver):
    with tuned() as emu:
        emu.set_faults(webhook={"drop_first": 1})
        client_for(emu).send(make_mail("dropped-post@example.org"))
        assert receiver.wait_for(lambda evs: len(evs) >= 2)
        assert wait_until(lambda: len(emu.deliveries()) >= 2)
        deliveries = emu.deliveries()
        assert deliveries[0]["dropped"] and deliveries[0]["status"] is None
        assert deliveries[1]["status"] == 200 and deliveries[1]["attempt"] == 1
        assert len(receiver.posts) == 1


def test_redirects_are_not_followed(tuned):
    with WebhookReceiver() as target, WebhookReceiver() as rcv:
        rcv.redirect_to = target.url
        config = EmulatorConfig(webhook_url=rcv.url, webhook=WebhookConfig(retry_base_s=0.05))
        with run_emulator(config) as emu:
            client_for(emu).send(make_mail("redirect@example.org"))
            assert rcv.wait_for(lambda evs: len(evs) >= 4)  # the first post and a retry
            assert wait_until(lambda: len(emu.deliveries()) >= 2)
            assert all(d["status"] == 302 for d in emu.deliveries())
        assert target.posts == []


def test_bad_signature_and_stale_timestamp_knobs(tuned, receiver):
    with tuned(lag_s=30) as emu:
        emu.set_faults(webhook={"p_bad_signature": 1.0, "stale_timestamp_s": 26 * 3600})
        client_for(emu).send(make_mail("knobs@example.org"))
        emu.flush_webhook()
        [post] = receiver.posts
        assert not ours(emu.public_key, post)
        assert not official_verify(emu.public_key, post)
        now = emu.emulator.clock.now()
        assert not is_fresh(post["headers"][TS], now)
        emu.set_faults(webhook={"stale_timestamp_s": 26 * 3600})
        client_for(emu).send(make_mail("stale@example.org"))
        emu.flush_webhook()
        assert ours(emu.public_key, receiver.posts[1])  # well signed, only stale
        assert not is_fresh(receiver.posts[1]["headers"][TS], now)


def test_shuffle_keeps_every_event(tuned, receiver):
    with tuned(lag_s=30) as emu:
        emu.set_faults(seed=3, webhook={"shuffle": True})
        client_for(emu).send(make_mail(*[f"s{i}@example.org" for i in range(20)]))
        emu.flush_webhook()
        events = receiver.events()
        assert len(events) == 40
        assert [e["event"] for e in events] != ["processed", "delivered"] * 20


def test_future_send_at_holds_events_until_the_clock_passes(tuned, receiver):
    with tuned() as emu:
        send_at = int(emu.emulator.clock.now()) + 3600
        client_for(emu).send(make_mail("later@example.org", send_at=send_at))
        emu.flush_webhook()
        assert receiver.events() == []
        emu.advance_clock(3601)
        assert receiver.wait_for(lambda evs: len(evs) >= 2)
        assert all(ev["timestamp"] >= send_at for ev in receiver.events())
