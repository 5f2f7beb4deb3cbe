"""Storage adapter: SQLAlchemy Core tables, engine factory, migrations and queries."""

# Every table module registers on the same `metadata` (migrations are checked against it).
from newsletter.storage import (  # noqa: F401
    account_tables,
    executors,
    library_tables,
    sending_tables,
)
