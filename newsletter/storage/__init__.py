"""Storage adapter: SQLAlchemy Core tables, engine factory, migrations and queries."""

from newsletter.storage import sending_tables  # noqa: F401  (registers the sending tables on `metadata`)
