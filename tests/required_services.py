"""What to do when a service the tests use is down: skip on a developer's machine, fail in CI.

CI (`CI=true`, or `NEWSLETTER_REQUIRE_SERVICES=1`, which `.ci/run` sets) must never be green
with the PostgreSQL, Redis, RabbitMQ or Chromium tests silently skipped. Read once at import:
the autouse fixture in tests/conftest.py clears every NEWSLETTER_* variable before each test.
"""

from __future__ import annotations

import os

import pytest

REQUIRED = (
    os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    or os.environ.get("NEWSLETTER_REQUIRE_SERVICES", "") == "1"
)


def unavailable(service: str, detail: object) -> None:
    """Skip the test (locally) or fail it naming the service (in CI). Never returns."""
    message = f"{service} is not available: {detail}"
    if REQUIRED:
        pytest.fail(f"{message} (required in CI: start it, or unset NEWSLETTER_REQUIRE_SERVICES)",
                    pytrace=False)  # fmt: skip
    pytest.skip(message)
