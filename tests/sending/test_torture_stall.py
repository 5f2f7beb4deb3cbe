"""The interleaving that sent batches twice under CPU contention (issue #10), replayed
deterministically: two senders, injected wall and monotonic clocks, the real database, the
real `sendgrid` client and the emulator.

Sender A claims the batch and records "requested", then stalls (a failpoint, or the rate
limiter's wait) past its lease. Meanwhile the engine reaps the lease (unknown), the grace
period passes, recovery re-sends the batch, and sender B sends it. Then A wakes up. Before the
fix A sent too: every recipient got two copies. Now A's pre-request check finds its lease
gone (on its monotonic clock) and abandons the attempt: one copy each.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from newsletter import failpoints
from newsletter.delivery import deadline as request_deadline
from newsletter.delivery.sendgrid import SendGridBackend
from newsletter.services.runner import tick
from newsletter.services.send_batch import send_batch
from newsletter.storage.sending_tables import campaigns, send_attempts, send_batches
from tests.sending.support import KEY, accepted_in_log, add_audience, context, new_campaign


class Clocks:
    """A wall clock and a monotonic clock that a stall moves forward together."""

    def __init__(self) -> None:
        self.wall = datetime.now(UTC)
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


class Recorder:
    """A dispatcher that only notes what the engine would dispatch (B runs it by hand)."""

    def __init__(self) -> None:
        self.submitted: list[int] = []

    def submit(self, batch_id: int) -> None:
        self.submitted.append(batch_id)

    def check(self) -> None:
        pass

    def idle(self) -> bool:
        return True


class StallingLimiter:
    """The rate limiter's wait, as a stall: `take()` runs the rest of the world."""

    def __init__(self, stall) -> None:
        self.stall = stall

    def take(self, count: int) -> None:
        self.stall()


@pytest.mark.parametrize("where", ["failpoint", "limiter"])
@pytest.mark.parametrize("policy", ["resend", "events"])
def test_a_sender_stalled_past_its_lease_never_sends_a_second_copy(
    db, send_settings, emulator, where, policy
):
    audience = add_audience(db, send_settings, "stall.example", 6)
    campaign_id = new_campaign(db, send_settings)
    with db.write() as conn:
        conn.execute(
            update(campaigns).where(campaigns.c.id == campaign_id).values(unknown_policy=policy)
        )
    clocks = Clocks()
    settings = send_settings
    world: dict[str, object] = {}

    def make_context():
        ctx = context(db, settings, emulator.base_url)
        ctx.clock, ctx.monotonic = clocks.now, clocks.monotonic
        return ctx

    a, b = make_context(), make_context()
    planned = Recorder()
    tick(b, planned, campaign_id=campaign_id)  # freezes the audience: one batch of 6
    (batch_id,) = planned.submitted

    def stall() -> None:
        """Everything that happens while A is stalled after marking 'requested'."""
        if world:
            return  # once
        clocks.advance(settings.lease_seconds + 0.1)
        world["reap"] = tick(b, Recorder(), campaign_id=campaign_id)
        # Long enough for any policy to act: grace from the reap (today's rule) and lease +
        # request deadline + grace from the recorded request time.
        clocks.advance(
            settings.lease_seconds + settings.sendgrid_timeout + settings.webhook_grace_s + 0.1
        )
        if policy == "events":  # a healthy feed: the provider's test event arrives now
            _record_heartbeat_event(db, clocks.now())
        recorder = Recorder()
        world["resolve"] = tick(b, recorder, campaign_id=campaign_id)
        world["b"] = [send_batch(b, i, worker="B") for i in recorder.submitted]

    if where == "failpoint":
        failpoints.configure("before_request", crash=stall)
    else:
        a.limiter = StallingLimiter(stall)
    try:
        outcome_a = send_batch(a, batch_id, worker="A")
    finally:
        failpoints.configure("")

    sent = accepted_in_log(emulator.log_path, "stall.example")
    assert world["b"] == ["accepted"], world  # B re-sent the batch recovery gave up on
    assert sorted(sent) == sorted(audience)
    assert set(sent.values()) == {1}, f"second copies: {dict(sent)}"  # failed before the fix
    assert outcome_a == "abandoned"
    with db.read() as conn:
        first = conn.execute(
            select(send_attempts).where(
                send_attempts.c.batch_id == batch_id, send_attempts.c.attempt == 1
            )
        ).one()
        batch = conn.execute(select(send_batches).where(send_batches.c.id == batch_id)).one()
    assert first.outcome == "not_sent" and "lease has" in first.detail
    assert batch.status == "accepted" and batch.attempts == 2


def _record_heartbeat_event(db, at: datetime) -> None:
    """A provider event received at `at` for no delivery of ours (SendGrid's test event):
    proof that the feed is flowing."""
    from newsletter.storage.sending_tables import provider_events

    with db.write() as conn:
        conn.execute(
            provider_events.insert().values(
                natural_key=f"test-event-{at.timestamp()}",
                event="processed",
                occurred_at=at,
                received_at=at,
                applied=True,
            )
        )


def test_a_request_cannot_outlast_its_deadline_even_when_bytes_keep_coming(emulator):
    """The emulator accepts, then trickles its answer one byte at a time for 20 s — every
    byte well inside urllib's per-socket timeout. The whole-request deadline ends it."""
    emulator.set_faults({"next": ["trickle_after_accept"], "timeout_sleep_s": 20.0})
    backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=0.5)
    started = time.monotonic()
    result = backend.post(_payload())
    elapsed = time.monotonic() - started
    assert result.failure == "timeout", result  # it went out: the outcome is unknown
    assert elapsed < 10, f"the request lasted {elapsed:.1f} s; the trickle lasts 20 s"
    assert emulator.stats()["accepted_requests"] == 1


def test_a_request_whose_deadline_passed_sends_nothing(emulator):
    """Paused between the sender's last check and the write, past the deadline: the socket
    layer refuses to write, and the provider never sees the request."""
    backend = SendGridBackend(KEY, base_url=emulator.base_url, timeout=5)
    late = request_deadline.Deadline(time.monotonic() - 0.001)
    with request_deadline.request_deadline(late):
        result = backend.post(_payload())
    assert result.failure == "refused", result  # nothing left: safe to retry
    assert emulator.stats()["accepted_requests"] == 0


def _payload() -> dict:
    return {
        "from": {"email": "news@mindstream.example"},
        "subject": "deadline",
        "content": [{"type": "text/plain", "value": "hello"}],
        "personalizations": [{"to": [{"email": "someone@deadline.example"}]}],
    }
