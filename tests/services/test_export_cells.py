"""Export cells are the same on both databases: tags and topics sorted and joined, attribute
values of every type as ISO / plain text (the export reads plain driver values)."""

from __future__ import annotations

import csv
import io

from newsletter.audiences.attributes import AttributeSpec
from newsletter.services.exports import export_subscribers
from newsletter.services.lists import create_list
from tests.services.test_import_service import NOW, run_import, write_csv

SPECS = {
    "city": AttributeSpec("city", "string", "City"),
    "visits": AttributeSpec("visits", "number", "Events attended"),
    "member_since": AttributeSpec("member_since", "date", "Joined"),
}


def test_export_cells_for_every_attribute_type(db, tmp_path):
    create_list(db, "newsletter", now=NOW)
    body = (
        "email,topics,tags,city,visits,member_since\n"
        "ann@example.com,research-news|events,vip|board,Philadelphia,9,2024-02-29\n"
        "bob@example.com,,,,2.5,\n"
    )
    run_import(db, write_csv(tmp_path, body), specs=SPECS)
    out = io.StringIO()
    assert export_subscribers(db, out, specs=SPECS, now=NOW) == 2
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    ann, bob = rows["ann@example.com"], rows["bob@example.com"]
    assert (ann["tags"], ann["topics"]) == ("board|vip", "events|research-news")
    assert (ann["city"], ann["visits"], ann["member_since"]) == ("Philadelphia", "9", "2024-02-29")
    assert (bob["tags"], bob["topics"], bob["city"]) == ("", "", "")
    assert (bob["visits"], bob["member_since"]) == ("2.5", "")
    assert ann["signed_up_at"] == NOW.isoformat()
