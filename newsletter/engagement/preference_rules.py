"""The preference page's settings, read as a person wrote them (pure)."""

from __future__ import annotations


def parse_topic_labels(value: str) -> list[tuple[str, str]]:
    """`"research-news=Research news; events=Events"` → [(name, label), …] in that order;
    ValueError naming the part that is not `name=Label`."""
    pairs = []
    for part in filter(None, (p.strip() for p in value.split(";"))):
        name, _, label = part.partition("=")
        if not name.strip() or not label.strip():
            raise ValueError(f"{part!r} is not `name=Label`")
        pairs.append((name.strip(), label.strip()))
    return pairs


def consent_wording(template: str, clinic_name: str) -> str:
    """The exact consent text shown on the page and recorded with a resubscribe."""
    return " ".join(template.replace("{clinic_name}", clinic_name).split())
