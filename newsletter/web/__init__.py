"""Web entry points (FastAPI + Jinja2 + HTMX)."""
