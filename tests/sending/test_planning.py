"""Freezing the audience (services/planning.py) on SQLite and PostgreSQL: windows along the
primary key, dense batch numbering, crash-resume to the same batches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from newsletter import failpoints
from newsletter.domain.campaigns import CampaignStatus, IllegalTransition
from newsletter.services import planning
from newsletter.storage import campaign_store
from newsletter.storage.sending_tables import deliveries, send_batches
from newsletter.storage.tables import subscribers
from tests.sending.support import add_audience, new_campaign


@pytest.fixture
def mixed_audience(db, send_settings, tmp_path):
    """Tagged people in two runs, with whole windows of others around and between them, and
    one tagged person who unsubscribed."""
    add_audience(db, send_settings, "before.example", 23)
    first = add_audience(db, send_settings, "a.example", 17, tag="planned")
    add_audience(db, send_settings, "between.example", 31)
    second = add_audience(db, send_settings, "b.example", 12, tag="planned2")
    add_audience(db, send_settings, "after.example", 9)
    with db.write() as conn:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.email == second[3])
            .values(status="unsubscribed")
        )
    folder = tmp_path / "audiences"
    folder.mkdir()
    (folder / "planned.yaml").write_text(
        "description: both runs\nrule:\n  any:\n    - tag: planned\n    - tag: planned2\n"
    )
    settings = send_settings.model_copy(update={"audiences_dir": folder})
    return settings, first + second[:3] + second[4:]


def _plan(db, settings, campaign_id: int) -> int:
    now = datetime.now(UTC)
    planning.start_planning(db, campaign_id, now=now)
    return planning.plan(db, settings.audiences_dir, campaign_id, now=now)


def _frozen(db, campaign_id: int) -> list[tuple[str, int]]:
    with db.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(subscribers.c.email, deliveries.c.batch_seq)
                .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                .where(deliveries.c.campaign_id == campaign_id)
                .order_by(deliveries.c.subscriber_id)
            )
        ]


def test_small_windows_freeze_every_eligible_person_once_in_dense_batches(
    db, mixed_audience, monkeypatch
):
    settings, expected = mixed_audience
    monkeypatch.setattr(planning, "PLAN_CHUNK", 7)  # many windows hold nobody eligible
    campaign_id = new_campaign(db, settings, segment="planned")
    assert _plan(db, settings, campaign_id) == len(expected) == 28
    frozen = _frozen(db, campaign_id)
    size = settings.batch_size
    assert frozen == [(email, i // size) for i, email in enumerate(expected)]
    with db.read() as conn:
        seqs = conn.scalars(
            select(send_batches.c.seq).where(send_batches.c.campaign_id == campaign_id)
        ).all()
    assert sorted(seqs) == list(range(-(-len(expected) // size)))
    # Planning again (a second executor, a restart) changes nothing.
    assert _plan(db, settings, campaign_id) == len(expected)
    assert _frozen(db, campaign_id) == frozen


def test_a_crash_mid_planning_resumes_to_the_same_batches(db, mixed_audience, monkeypatch):
    settings, expected = mixed_audience
    monkeypatch.setattr(planning, "PLAN_CHUNK", 11)
    calm = new_campaign(db, settings, segment="planned")
    _plan(db, settings, calm)

    crashed = new_campaign(db, settings, segment="planned")
    windows = iter(range(100))

    def crash_in_the_fifth_window() -> None:
        if next(windows) == 4:
            failpoints.raise_crash()

    failpoints.configure("mid_planning:p=1", crash=crash_in_the_fifth_window)
    try:
        with pytest.raises(failpoints.SimulatedCrash):
            _plan(db, settings, crashed)
    finally:
        failpoints.configure("")
    assert 0 < len(_frozen(db, crashed)) < len(expected)  # four windows were committed
    assert _plan(db, settings, crashed) == len(expected)
    assert _frozen(db, crashed) == _frozen(db, calm)


def test_no_write_moves_a_campaign_along_an_edge_the_table_lacks(db, send_settings):
    """The transition table guards the compare-and-set itself, not only its callers."""
    campaign_id = new_campaign(db, send_settings)  # scheduled to start now
    with db.write() as conn:
        assert campaign_store.get_campaign(conn, campaign_id).status == "scheduled"
        with pytest.raises(IllegalTransition, match=r"^scheduled → sending is not in the table$"):
            campaign_store.transition(
                conn, campaign_id, CampaignStatus.SENDING, only_from=["scheduled"]
            )
        assert campaign_store.transition(conn, campaign_id, CampaignStatus.DRAFT)
        assert campaign_store.get_campaign(conn, campaign_id).status == "draft"
