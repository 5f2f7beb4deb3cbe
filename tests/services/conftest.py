"""Fixtures: both databases."""

from tests.audience_db import db, db_url, pg_url  # noqa: F401
from tests.cli.conftest import cli  # noqa: F401
