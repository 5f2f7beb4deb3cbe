"""A campaign's audience, named explicitly and stored as text on the campaign.

`segment:NAME` is a segment file (audiences/NAME.yaml); `list:NAME` is everyone subscribed
to that list, which is the segment rule `in_list: NAME` and so follows the same eligibility
rules (active, unsuppressed, membership active). Another kind (segments saved in the
database) is one more prefix here.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.audiences.segments import InList, Segment
from newsletter.errors import ValidationError

KINDS = ("segment", "list")


@dataclass(frozen=True)
class Target:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_target(text: str) -> Target:
    kind, sep, name = (text or "").partition(":")
    if not sep or kind not in KINDS or not name.strip():
        raise ValidationError(
            f"{text!r} is not a campaign target",
            fix="write segment:NAME (a segment file) or list:NAME (everyone on a list)",
        )
    return Target(kind, name.strip())


def list_segment(name: str) -> Segment:
    """Everyone subscribed to the list `name`, as a segment the segment SQL compiles."""
    return Segment(
        name=str(Target("list", name)),
        rule=InList(name),
        description=f"everyone subscribed to the list {name!r}",
    )
