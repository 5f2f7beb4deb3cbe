"""Storage adapter: SQLAlchemy Core tables, engine factory, migrations and queries."""
