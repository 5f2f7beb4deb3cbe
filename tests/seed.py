"""Paths of the seed article in each input format."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED_TEXT = REPO / "articles" / "neuroplasticity-ketamine.txt"
SEED_DIR = REPO / "tests" / "data" / "seed"
SEED_FORMATS = {
    "text": SEED_TEXT,
    "markdown": SEED_DIR / "neuroplasticity-ketamine.md",
    "html": SEED_DIR / "neuroplasticity-ketamine.html",
}
