"""The article library and campaign approval, on both databases, through their services:
what the admin pages and the CLI both call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter.accounts.roles import Role
from newsletter.accounts.service import Actor
from newsletter.config import load_settings
from newsletter.domain.approval import Approval, Step
from newsletter.errors import ArticleError, Forbidden, ValidationError
from newsletter.fetcher import Fetched
from newsletter.services import approval, article_library, campaign_drafts, campaign_schedule
from newsletter.services import campaigns as campaign_service
from newsletter.storage import audit_log
from newsletter.storage.library_tables import articles, campaign_articles
from tests.admin.support import START, add_user
from tests.seed import REPO, SEED_FORMATS


@pytest.fixture
def settings(db_url):  # type: ignore[no-untyped-def]
    return load_settings(database_url=db_url, audiences_dir=REPO / "audiences")


def _article(db) -> int:  # type: ignore[no-untyped-def]
    return article_library.add_file(
        db, SEED_FORMATS["markdown"], site_url=None, actor="test", now=START
    )


def _campaign(db, settings, author: Actor | None = None) -> int:  # type: ignore[no-untyped-def]
    return campaign_drafts.create_from_library(
        db, settings, [_article(db)], segment="everyone", author=author, now=START
    )


def _actor(db, email: str, role: str) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(add_user(db, email, role), email, Role(role))


# --- library ------------------------------------------------------------------------------


def test_upload_paste_and_url_are_stored_with_source_and_warnings(db, settings):
    data = SEED_FORMATS["html"].read_bytes()
    who = {"actor": "user:m@c.example", "site_url": None, "now": START}
    uploaded = article_library.add_upload(db, data, "post.html", user_id=None, **who)
    pasted = article_library.add_paste(
        db, "# Sleep and mood\n\nA short note.", kind="markdown", **who
    )

    def fake_fetch(url: str, *, allow_private: bool) -> Fetched:
        assert allow_private is False  # the setting reaches the fetcher
        return Fetched("https://blog.example/final", "md", b"# From the blog\n\n[x](/a)")

    fetched = article_library.add_url(db, settings, "https://blog.example/p", actor="t",
                                      now=START, fetch=fake_fetch)  # fmt: skip
    rows = {r.id: r for r in article_library.list_articles(db)}
    assert rows[uploaded].source_kind == "upload" and rows[uploaded].source == "post.html"
    assert rows[uploaded].format == "html"
    assert (rows[pasted].title, rows[pasted].format) == ("Sleep and mood", "markdown")
    assert (rows[fetched].source, rows[fetched].base_url) == (
        "https://blog.example/p", "https://blog.example/final")  # fmt: skip
    article = article_library.parsed(article_library.get_article(db, fetched), site_url=None)
    assert article.links() == ["https://blog.example/a"]  # resolved against the final URL
    assert article_library.warnings_of(rows[uploaded]) == list(
        article_library.parsed(article_library.get_article(db, uploaded), site_url=None).warnings
    )


def test_bad_articles_are_refused_and_nothing_is_stored(db):
    with pytest.raises(ArticleError, match=r"not a \.txt, \.md or \.html"):
        article_library.add_upload(db, b"%PDF", "scan.pdf", site_url=None, actor="t")
    with pytest.raises(ArticleError, match="the article has no body paragraphs"):
        article_library.add_upload(db, b"Title only\n", "a.txt", site_url=None, actor="t")
    with pytest.raises(ArticleError):
        article_library.add_paste(db, "   ", site_url=None, actor="t")
    with pytest.raises(ArticleError, match="at most"):
        article_library.add_paste(db, "x" * (5 * 1024 * 1024 + 1), site_url=None, actor="t")
    with db.read() as conn:
        assert conn.scalar(select(articles.c.id)) is None


def test_relative_images_and_links_of_a_paste_resolve_against_the_clinic_site(db, settings):
    """An upload or a paste names no address of its own: NEWSLETTER_WEBSITE_URL resolves its
    relative images and links, when it is stored and again when a campaign is made from it."""
    site = settings.model_copy(update={"website_url": "https://clinic.example"})
    text = "# Sleep and mood\n\n![A calm room](/img/room.jpg)\n\nRead [more](/blog/sleep).\n"
    pasted = article_library.add_paste(
        db, text, kind="markdown", site_url=site.website_url, actor="t", now=START
    )
    row = article_library.get_article(db, pasted)
    assert article_library.warnings_of(row) == []
    (unresolved,) = article_library.articles_for_campaign(db, [pasted], site_url=None)
    assert unresolved.links() == ["/blog/sleep"]  # what every path did before
    assert any("'/img/room.jpg' dropped" in w for w in unresolved.warnings)
    (article,) = article_library.articles_for_campaign(db, [pasted], site_url=site.website_url)
    assert article.links() == ["https://clinic.example/blog/sleep"]
    assert "https://clinic.example/img/room.jpg" in repr(article)
    campaign_id = campaign_drafts.create_from_library(
        db, site, [pasted], segment="everyone", now=START
    )
    with db.read() as conn:
        html = campaign_service.campaign_store.get_campaign(conn, campaign_id).html
    assert 'src="https://clinic.example/img/room.jpg"' in html


def test_reimport_archive_and_restore(db, settings):
    article_id = article_library.add_paste(
        db, "Old title\n\nBody.", site_url=None, actor="t", now=START
    )

    def fetch(url, *, allow_private):  # type: ignore[no-untyped-def]
        raise AssertionError("a pasted article is not fetched")

    article_library.reimport(db, settings, article_id, actor="t", now=START, fetch=fetch)
    article_library.set_archived(db, article_id, True, actor="t")
    assert article_library.list_articles(db) == []
    assert [r.id for r in article_library.list_articles(db, archived=True)] == [article_id]
    with pytest.raises(ValidationError, match="archived"):
        article_library.articles_for_campaign(db, [article_id], site_url=None)
    article_library.set_archived(db, article_id, False, actor="t")
    with db.read() as conn:
        actions = [r.action for r in audit_log.recent(conn, 10)]
    assert actions == ["article-restored", "article-archived", "article-reimported",
                       "article-added"]  # fmt: skip


def test_campaign_from_a_stored_article_is_linked_to_it(db, settings):
    campaign_id = _campaign(db, settings)
    with db.read() as conn:
        links = conn.execute(select(campaign_articles)).all()
    assert [(r.campaign_id, r.position) for r in links] == [(campaign_id, 0)]
    copy = campaign_drafts.duplicate(db, campaign_id, actor=None, now=START)
    assert campaign_service.report(db, copy).status == "draft"
    campaign_drafts.delete_draft(db, copy, actor=None, now=START)
    with pytest.raises(Exception, match="no campaign"):
        campaign_service.report(db, copy)


# --- approval -----------------------------------------------------------------------------------


def test_without_accounts_sending_works_as_before(db, settings):
    campaign_id = _campaign(db, settings)
    assert campaign_schedule.start_now(db, settings, campaign_id, now=START) == "scheduled"


def test_with_accounts_a_campaign_needs_another_persons_approval(db, settings):
    marketer = _actor(db, "m@clinic.example", "marketer")
    admin = _actor(db, "a@clinic.example", "admin")
    campaign_id = _campaign(db, settings, author=marketer)
    with pytest.raises(Forbidden, match="not approved"):
        campaign_schedule.start_now(db, settings, campaign_id, now=START)
    with pytest.raises(Forbidden, match="not approved"):
        campaign_schedule.schedule(
            db, settings, campaign_id, at=START + timedelta(days=1), now=START
        )
    assert approval.take_step(db, campaign_id, Step.SUBMIT, marketer) is Approval.SUBMITTED
    with pytest.raises(Forbidden, match="marketer may not approve"):
        approval.take_step(db, campaign_id, Step.APPROVE, marketer)
    assert (
        approval.take_step(db, campaign_id, Step.APPROVE, admin, comment="ok") is Approval.APPROVED
    )
    flow = approval.workflow(db, settings, campaign_id)
    assert (flow.author, flow.decided_by, flow.comment) == (
        "m@clinic.example", "a@clinic.example", "ok")  # fmt: skip
    assert [h["action"] for h in flow.history] == ["submit", "approve"]
    assert campaign_schedule.start_now(db, settings, campaign_id, now=START) == "scheduled"


def test_an_admins_own_campaign_needs_a_second_admin(db, settings):
    first = _actor(db, "a1@clinic.example", "admin")
    second = _actor(db, "a2@clinic.example", "admin")
    campaign_id = _campaign(db, settings, author=first)
    approval.take_step(db, campaign_id, Step.SUBMIT, first)
    with pytest.raises(Forbidden, match="another admin"):
        approval.take_step(db, campaign_id, Step.APPROVE, first)
    approval.take_step(db, campaign_id, Step.APPROVE, second)
    campaign_schedule.schedule(db, settings, campaign_id, at=START + timedelta(days=1), now=START)


def test_an_edit_withdraws_the_approval(db, settings):
    marketer = _actor(db, "m@clinic.example", "marketer")
    admin = _actor(db, "a@clinic.example", "admin")
    campaign_id = _campaign(db, settings, author=marketer)
    approval.take_step(db, campaign_id, Step.SUBMIT, marketer)
    approval.take_step(db, campaign_id, Step.APPROVE, admin)
    edit = campaign_drafts.DraftEdit("A new subject", "A new preheader", "Dr. Lee",
                                     "news@mindstream.example")  # fmt: skip
    assert campaign_drafts.edit_draft(db, settings, campaign_id, edit, actor=marketer, now=START)
    report = campaign_service.report(db, campaign_id)
    assert report.subject == "A new subject"
    assert approval.workflow(db, settings, campaign_id).approval is Approval.NONE
    with pytest.raises(Forbidden, match="not approved"):
        campaign_schedule.start_now(db, settings, campaign_id, now=START)


def test_edits_are_checked(db, settings):
    campaign_id = _campaign(db, settings)
    for edit, message in [
        (("Sub\r\nBcc: x@evil.example", "p", "n", "news@mindstream.example"), "line break"),
        (("s" * 201, "p", "n", "news@mindstream.example"), "at most 200"),
        (("s", "p", "n", "not an address"), "sender address"),
        (("", "p", "n", "news@mindstream.example"), "cannot be empty"),
    ]:
        with pytest.raises(ValidationError, match=message):
            campaign_drafts.edit_draft(db, settings, campaign_id,
                                       campaign_drafts.DraftEdit(*edit), actor=None)  # fmt: skip
    campaign_schedule.start_now(db, settings, campaign_id, now=START)
    with pytest.raises(ValidationError, match="only drafts"):
        campaign_drafts.edit_draft(db, settings, campaign_id,
                                   campaign_drafts.DraftEdit("s", "p", "n",
                                                             "news@mindstream.example"),
                                   actor=None)  # fmt: skip


def test_approval_off_for_a_one_person_clinic(db, settings):
    _actor(db, "solo@clinic.example", "admin")
    relaxed = settings.model_copy(update={"approval": False})
    campaign_id = _campaign(db, relaxed)
    assert campaign_schedule.start_now(db, relaxed, campaign_id, now=START) == "scheduled"


def test_progress_comes_from_batches_and_is_remembered_briefly(db, settings):
    from sqlalchemy import update

    from newsletter.storage.sending_tables import send_batches

    campaign_id = _campaign(db, settings)
    with db.write() as conn:
        conn.execute(send_batches.insert(), [
            {"campaign_id": campaign_id, "seq": i, "status": s, "attempts": 0}
            for i, s in enumerate(["sent", "sent", "failed", "pending", "split"])])  # fmt: skip
    now = [100.0]
    cache = campaign_drafts.ProgressCache(db, ttl_s=2.0, clock=lambda: now[0])
    first = cache.get([campaign_id, 999])
    assert (first[campaign_id].done, first[campaign_id].total) == (3, 4)  # split not counted
    assert first[campaign_id].percent == 75 and 999 not in first
    with db.write() as conn:
        conn.execute(update(send_batches).where(send_batches.c.status == "pending")
                     .values(status="sent"))  # fmt: skip
    now[0] += 1.9
    assert cache.get([campaign_id])[campaign_id].done == 3  # still remembered
    now[0] += 0.2
    assert cache.get([campaign_id])[campaign_id].percent == 100
