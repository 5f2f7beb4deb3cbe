"""`GET`/`POST /p/{token}`: the preference page linked from every email's footer.

GET shows and changes nothing (scanners prefetch); POST acts, authorised by the signed token
alone (purpose `preferences`), like the one-click unsubscribe: choose topics (labels from
`NEWSLETTER_TOPIC_LABELS`), leave everything, or, once unsubscribed, subscribe again with a
fresh consent in the wording of `NEWSLETTER_RESUBSCRIBE_CONSENT`. The page names no address.
Test-send and preview links show a page saying so.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.engagement import preferences
from newsletter.engagement.link_tokens import resolve
from newsletter.engagement.preference_rules import consent_wording, parse_topic_labels
from newsletter.errors import ValidationError
from newsletter.services.suppressions import RestoreUnknown
from newsletter.web.link_pages import preview_page, test_page
from newsletter.web.public import not_found, now_of, page

router = APIRouter()

_MAX_FORM_BYTES = 64 * 1024


def _topics_form(settings: Settings, chosen: frozenset[str]) -> str:
    boxes = "".join(
        f'<p><label><input type="checkbox" name="topic" value="{escape(name)}"'
        f"{' checked' if name in chosen else ''}> {escape(label)}</label></p>"
        for name, label in parse_topic_labels(settings.topic_labels)
    )
    save = (
        '<p><button type="submit" name="action" value="save">Save my choices</button></p>'
        if boxes
        else ""
    )
    leave = (
        '<p><button type="submit" name="action" value="leave">Unsubscribe from '
        "everything</button></p>"
    )
    return f'<form method="post">{boxes}{save}{leave}</form>'


def _come_back_form(settings: Settings) -> str:
    wording = consent_wording(settings.resubscribe_consent, settings.clinic_name)
    return (
        f'<form method="post"><p>{escape(wording)}</p><p><button type="submit" '
        'name="action" value="resubscribe">Subscribe again</button></p></form>'
    )


def _show(settings: Settings, person: preferences.Person | None, note: str = "") -> HTMLResponse:
    if person is None:
        return page(
            settings, "Nothing to manage", "There is no subscription behind this link any more."
        )
    if person.mailable:
        return page(
            settings,
            "Your email preferences",
            note or f"Choose what you would like to receive from {settings.clinic_name}.",
            form=_topics_form(settings, person.topics),
        )
    if person.can_come_back:
        return page(
            settings,
            "You are unsubscribed",
            note or "You do not receive newsletter emails any more.",
            form=_come_back_form(settings),
        )
    return page(
        settings,
        "No emails to this address",
        "We no longer send emails to this address (it bounced or reported spam).",
    )


def _delivery_or_page(settings: Settings, token: str) -> int | HTMLResponse:
    """The delivery a preferences link is for, or the page its token calls for instead: a
    test send's, a preview's, or the 404 page."""
    target = resolve("preferences", token, settings.signing_keys)
    if target is None:
        return not_found(settings)
    if target.kind == "test":
        return test_page(settings, "preferences")
    if target.kind == "preview":
        return preview_page(settings, "preferences")
    return target.id  # type: ignore[return-value]


@router.api_route("/p/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def preferences_page(request: Request, token: str) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    delivery_id = _delivery_or_page(settings, token)
    if isinstance(delivery_id, HTMLResponse):
        return delivery_id
    person = await run_in_threadpool(preferences.person_for, request.app.state.db, delivery_id)
    return _show(settings, person)


async def _form(request: Request) -> tuple[str, list[str]]:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > _MAX_FORM_BYTES:
        return "", []
    try:
        form = await request.form(max_files=0, max_fields=200)
    except Exception:  # an unreadable body changes nothing
        return "", []
    action = form.get("action")
    topics = [v for v in form.getlist("topic") if isinstance(v, str)]
    return (action if isinstance(action, str) else ""), topics


@router.post("/p/{token}", response_class=HTMLResponse)
async def update_preferences(request: Request, token: str) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    delivery_id = _delivery_or_page(settings, token)
    if isinstance(delivery_id, HTMLResponse):
        return delivery_id
    db = request.app.state.db
    key = settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    action, topics = await _form(request)
    person = await run_in_threadpool(preferences.person_for, db, delivery_id)
    if person is None:
        return _show(settings, None)
    if action == "save" and person.mailable:
        offered = [name for name, _ in parse_topic_labels(settings.topic_labels)]
        person = await run_in_threadpool(
            lambda: preferences.choose_topics(db, delivery_id, chosen=topics, offered=offered)
        )
        return _show(settings, person, "Your choices are saved.")
    if action == "leave" and person.mailable:
        await run_in_threadpool(
            lambda: preferences.leave(db, delivery_id, key=key, now=now_of(request.app))
        )
        return page(
            settings,
            "You are unsubscribed",
            f"You will not receive newsletter emails from {settings.clinic_name} any more.",
            form=_come_back_form(settings),
        )
    if action == "resubscribe" and person.can_come_back:
        wording = consent_wording(settings.resubscribe_consent, settings.clinic_name)
        try:
            await run_in_threadpool(
                lambda: preferences.come_back(
                    db, delivery_id, key=key, consent_text=wording, now=now_of(request.app)
                )
            )
        except RestoreUnknown:
            return _show(
                settings,
                person,
                f"We could not tell which newsletters to restore: please contact "
                f"{settings.clinic_name} to subscribe again.",
            )
        except ValidationError:
            return _show(settings, person, "This address cannot be subscribed again.")
        person = await run_in_threadpool(preferences.person_for, db, delivery_id)
        return _show(settings, person, "Welcome back: you are subscribed again.")
    return _show(settings, person)
