"""The /_emulator control API, fault knobs and the rate limiter."""

from __future__ import annotations

import time

import httpx
import pytest
from python_http_client import exceptions as sg_exc

from newsletter.emulator import RateLimit
from newsletter.emulator.testing import client_for, make_mail


@pytest.fixture
def http(emu):
    with httpx.Client(base_url=emu.base_url, trust_env=False, timeout=5) as client:
        yield client


def test_stats_and_requests(emu, http):
    sg = client_for(emu)
    sg.send(make_mail("s1@example.org", "s2@example.org"))
    with pytest.raises(sg_exc.BadRequestsError):
        sg.send(make_mail("bad"))
    stats = http.get("/_emulator/stats").json()
    assert stats["requests"] == 2
    assert stats["accepted_requests"] == 1
    assert stats["accepted_recipients"] == 2
    assert stats["rejected_by_status"] == {"400": 1}
    requests = http.get("/_emulator/requests").json()
    assert [r["status"] for r in requests] == [202, 400]
    assert requests[0]["recipients"] == 2 and len(requests[0]["x_message_id"]) == 22


def test_clock_offset_moves_event_timestamps_and_send_at_window(emu, http, receiver):
    now = time.time()
    resp = http.post("/_emulator/clock", json={"advance": 86400}).json()
    assert resp["now"] == pytest.approx(now + 86400, abs=5)
    client_for(emu).send(make_mail("clock@example.org"))
    assert receiver.wait_for(lambda evs: len(evs) >= 2)
    assert receiver.events()[0]["timestamp"] >= int(now + 86400) - 1
    # send_at up to 72 h ahead of the *emulated* clock is accepted
    assert client_for(emu).send(make_mail(send_at=int(now + 86400 + 71 * 3600))).status_code == 202
    http.post("/_emulator/clock", json={"offset": 0})
    with pytest.raises(sg_exc.BadRequestsError):
        client_for(emu).send(make_mail(send_at=int(now + 86400 + 71 * 3600)))


def test_unknown_routes_and_bad_fault_specs(http):
    assert http.get("/_emulator/nope").status_code == 404
    assert http.get("/_emulator/reset").status_code == 405
    assert http.post("/_emulator/faults", json={"next": [418]}).status_code == 400
    assert http.post("/_emulator/faults", json={"webhook": {"bogus": 1}}).status_code == 400
    assert http.post("/_emulator/faults", content=b"{not json").status_code == 400
    assert http.get("/v3/nothing/here").status_code == 404
    assert http.post("/_emulator/events/bounce", json={}).status_code == 400


def test_faults_over_http_are_seeded_and_reproducible(emu_factory):
    def outcomes(handle) -> list[int]:
        with httpx.Client(base_url=handle.base_url, trust_env=False) as client:
            client.post("/_emulator/faults", json={"seed": 42, "p503": 0.3, "p429": 0.2})
            headers = {"Authorization": "Bearer SG.local-dev-key"}
            return [client.post("/v3/mail/send", json=make_mail(), headers=headers).status_code
                    for _ in range(30)]  # fmt: skip

    first, second = outcomes(emu_factory()), outcomes(emu_factory())
    assert first == second
    assert {202, 429, 503} <= set(first)


def test_latency_knob(emu_factory):
    handle = emu_factory()
    handle.set_faults(latency_ms=200)
    started = time.monotonic()
    client_for(handle).send(make_mail())
    assert time.monotonic() - started >= 0.2


def test_probabilistic_timeout_after_accept_records(emu_factory):
    handle = emu_factory()
    handle.set_faults(p_timeout_after_accept=1.0, timeout_sleep_s=0.6)
    with pytest.raises(TimeoutError):
        client_for(handle, timeout=0.2).send(make_mail("p-after@example.org"))
    assert len(handle.messages_to("p-after@example.org")) == 1


def test_suppression_list_endpoints_filter_and_page(emu):
    sg = client_for(emu)
    for i in range(5):
        emu.emulator.suppressions.add("spam_reports", f"spam{i}@example.org", 1_700_000_000 + i)
    page = sg.client.suppression.spam_reports.get(query_params={"limit": 2, "offset": 0})
    assert [i["email"] for i in __import__("json").loads(page.body)] == [
        "spam4@example.org", "spam3@example.org"]  # fmt: skip
    ranged = sg.client.suppression.spam_reports.get(
        query_params={"start_time": 1_700_000_001, "end_time": 1_700_000_002}
    )
    assert len(__import__("json").loads(ranged.body)) == 2
    with pytest.raises(sg_exc.BadRequestsError):
        sg.client.suppression.spam_reports.get(query_params={"limit": 501})
    assert sg.client.suppression.spam_reports._("spam0@example.org").delete().status_code == 204
    assert (
        sg.client.suppression.spam_reports.delete(request_body={"delete_all": True}).status_code
        == 204
    )
    assert emu.stats()["suppressions"]["spam_reports"] == 0
    with pytest.raises(sg_exc.UnauthorizedError):
        client_for(emu, key="SG.nope").client.suppression.bounces.get()


def test_token_bucket_refills(emu_factory):
    """A token comes back after period/limit of the emulator's clock (moved, not waited for:
    a slow machine cannot refill the bucket between the sends)."""
    handle = emu_factory(rate_limit=RateLimit(limit=3, period_s=300))
    sg = client_for(handle)
    for _ in range(3):
        sg.send(make_mail())
    with pytest.raises(sg_exc.TooManyRequestsError):
        sg.send(make_mail())
    handle.emulator.clock.offset_s += 100  # one token's worth (300 s / 3)
    assert sg.send(make_mail()).status_code == 202
    with pytest.raises(sg_exc.TooManyRequestsError):
        sg.send(make_mail())  # and only one
    assert handle.stats()["rate_limited"] == 2


def test_keep_alive_and_connection_close_both_work(emu):
    with httpx.Client(base_url=emu.base_url, trust_env=False) as client:
        headers = {"Authorization": "Bearer SG.local-dev-key"}
        for _ in range(5):
            assert (
                client.post("/v3/mail/send", json=make_mail(), headers=headers).status_code == 202
            )
    sg = client_for(emu)  # urllib: one connection per request
    for _ in range(3):
        assert sg.send(make_mail()).status_code == 202
    assert emu.stats()["accepted_requests"] == 8
