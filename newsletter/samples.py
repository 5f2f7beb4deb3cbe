"""What ships with the package: the email templates, the sample article and the sample
audience (with its segment files).

`newsletter/bundled/` holds them. In a source checkout its entries are symlinks to the
top-level `templates/`, `articles/` and `audiences/` folders (where marketers edit them);
building a wheel copies the files in, so an installed package renders without a checkout.
A clinic's own templates and segments live in the folders its settings name
(NEWSLETTER_TEMPLATES_DIR, NEWSLETTER_AUDIENCES_DIR); these are the fallbacks and the demo's.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED = Path(__file__).resolve().parent / "bundled"
TEMPLATES = BUNDLED / "templates"
SAMPLE_ARTICLE = BUNDLED / "articles" / "neuroplasticity-ketamine.txt"
SAMPLE_AUDIENCE = BUNDLED / "audiences" / "sample-subscribers.csv"
SEGMENTS = BUNDLED / "audiences"
