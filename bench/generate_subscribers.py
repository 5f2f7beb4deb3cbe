"""Generate a large fictional subscriber CSV for import benchmarks (nothing clinical in it).

    python bench/generate_subscribers.py --rows 1000000 --malformed 0.01 \\
        --out bench/data/subscribers-1m.csv --seed 1

Columns: email, first_name, last_name, time_zone, tags, topics, city, events_attended,
member_since (the last three are declared in audiences/attributes.yaml). Every address is
unique. Exactly round(rows × malformed) rows are broken in one of five ways (bad address,
over-long name, bad number, bad date, unknown time zone), so an import must reject exactly
that many. Streams to disk; ~1 s per 100,000 rows.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

FIRST = [
    "Ada",
    "Ben",
    "Cleo",
    "Dev",
    "Elif",
    "Finn",
    "Gia",
    "Hugo",
    "Ines",
    "Jon",
    "Kemi",
    "Liam",
    "Mara",
    "Nils",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Vik",
    "Wren",
    "Xena",
    "Yuri",
    "Zoe",
    "Noor",
    "Ravi",
    "Lena",
    "Theo",
    "José",
    "Zoë",
    "Ångel",
    "Chloé",
    "Mateo",
    "Aiko",
]
LAST = [
    "Abbott",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
    "Kumar",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Vogel",
    "Walsh",
    "Xu",
    "Young",
    "Zimmer",
    "Núñez",
    "Øster",
    "Müller",
]
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "post.example.org")
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "UTC")
TOPICS = ("research-news", "events", "wellness-tips", "community", "clinic-updates")
TAGS = ("newsletter-2024", "open-house", "volunteer", "alumni", "conference", "press")
CITIES = ("Philadelphia", "Camden", "Wilmington", "Cherry Hill", "Media", "Ardmore", "Trenton")
HEADER = "email,first_name,last_name,time_zone,tags,topics,city,events_attended,member_since\r\n"
MALFORMED_KINDS = ("email", "name", "number", "date", "time_zone")


def generate(out: Path, rows: int, malformed: float, seed: int) -> tuple[int, int]:
    """Write the file; return (rows written, malformed rows)."""
    rng = random.Random(seed)
    bad_count = round(rows * malformed)
    bad = set(rng.sample(range(rows), bad_count))
    start = date(2015, 1, 1)
    days = (date(2025, 12, 31) - start).days
    dates = [(start + timedelta(days=d)).isoformat() for d in range(days + 1)]
    ascii_first = [_ascii(n) for n in FIRST]
    ascii_last = [_ascii(n) for n in LAST]
    choice, rand = rng.choice, rng.random
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        lines: list[str] = []
        for i in range(rows):
            fi, li = rng.randrange(len(FIRST)), rng.randrange(len(LAST))
            first, last = FIRST[fi], LAST[li]
            email = f"{ascii_first[fi]}.{ascii_last[li]}{i}@{choice(DOMAINS)}"
            zone = choice(ZONES) if rand() < 0.7 else ""
            r = rand()
            tags = "" if r < 0.5 else choice(TAGS) if r < 0.85 else "|".join(rng.sample(TAGS, 2))
            topics = "|".join(rng.sample(TOPICS, rng.randint(1, 3)))
            city = choice(CITIES) if rand() < 0.7 else ""
            events = str(rng.randint(0, 12)) if rand() < 0.5 else ""
            since = choice(dates) if rand() < 0.5 else ""
            if i in bad:
                kind = MALFORMED_KINDS[i % len(MALFORMED_KINDS)]
                if kind == "email":
                    email = choice((email.replace("@", ""), email.replace("@", "@@"), "x@nodot"))
                elif kind == "name":
                    first = "N" * 201
                elif kind == "number":
                    events = "twelve"
                elif kind == "date":
                    since = choice(("2023-02-30", "12/03/2021", "last spring"))
                else:
                    zone = "Mars/Olympus_Mons"
            lines.append(
                f"{email},{first},{last},{zone},{tags},{topics},{city},{events},{since}\r\n"
            )
            if len(lines) >= 10_000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)
    return rows, bad_count


def _ascii(name: str) -> str:
    table = str.maketrans("éëÅÚúñØü", "eeAUunOu")
    return name.translate(table).lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--malformed", type=float, default=0.01, help="fraction of bad rows")
    parser.add_argument("--out", type=Path, default=Path("bench/data/subscribers-1m.csv"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 0 <= args.malformed <= 1:
        parser.error("--malformed must be between 0 and 1")
    started = time.perf_counter()
    rows, bad = generate(args.out, args.rows, args.malformed, args.seed)
    size = args.out.stat().st_size
    print(
        f"{args.out}: {rows:,} rows ({bad:,} malformed), {size / 1e6:.1f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
