"""The preview server answers the links of the email it shows (issue #14 item 3): preview
links open a page saying so, never a redirect; its 404 is the web app's branded HTML page."""

from __future__ import annotations

import re
import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from newsletter.delivery_ids import DeliveryIds
from newsletter.services.previews import preview_articles
from newsletter.tokens import sign
from newsletter.web.preview import create_preview_app
from tests.seed import SEED_TEXT


def test_preview_links_open_preview_pages_and_unknown_paths_get_the_html_404(settings):
    app = create_preview_app(lambda: preview_articles([SEED_TEXT], settings), settings)
    client = TestClient(app)
    html = client.get("/email.html").text
    prefix = re.escape(settings.public_url)
    paths = re.findall(prefix + r"(/[rup]/[^\"]+)\"", html)
    assert {p[:3] for p in paths} == {"/r/", "/u/", "/p/"}
    for path in paths:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 200, path
        assert "This is a preview" in response.text
        assert "location" not in response.headers
    consultation = next(p for p in paths if p.startswith("/r/L1/"))
    assert "book-a-consultation?utm_source=newsletter" in client.get(consultation).text
    unsubscribe = next(p for p in paths if p.startswith("/u/"))
    assert "This is a preview" in client.post(unsubscribe).text
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Link not found" in missing.text
    assert client.get("/r/L1/tampered-token-0123456789abcdef").status_code == 404
    test = sign(
        "test", DeliveryIds(settings.signing_keys).test_id(1), key=settings.signing_keys["a"]
    )
    assert "This was a test email" in client.get(f"/u/{test}").text


def test_open_pixel_only_when_turned_on_and_it_passes_the_checklist(settings):
    assert "/o/" not in preview_articles([SEED_TEXT], settings).email.html
    on = settings.model_copy(update={"open_tracking": True})
    preview = preview_articles([SEED_TEXT], on)
    assert f'<img src="{on.public_url}/o/' in preview.email.html
    assert "/o/" not in preview.email.text
    assert not preview.failed, preview.failed
    assert 'aria-hidden="true"><a href="' in preview.email.html  # the honeypot, HTML only
    assert "/r/L0/" not in preview.email.text
