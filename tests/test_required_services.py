"""CI never goes green with a service's tests skipped: with NEWSLETTER_REQUIRE_SERVICES=1 (set
by .ci/run) a missing PostgreSQL fails the run and names it; on a developer's machine the same
tests skip, visibly."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.seed import REPO

UNREACHABLE = "postgresql://postgres@127.0.0.1:9/postgres"  # the discard port: nothing listens


def _run_postgres_test(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("NEWSLETTER_") and k != "CI"}  # fmt: skip
    environment |= {"NEWSLETTER_TEST_POSTGRES_URL": UNREACHABLE, **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/storage/test_storage_schema.py::test_outdated_schema_is_refused_with_the_fix[postgres]"],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_missing_service_fails_the_run_in_ci_and_names_it():
    result = _run_postgres_test(NEWSLETTER_REQUIRE_SERVICES="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "PostgreSQL is not available: not reachable at " + UNREACHABLE in result.stdout
    assert "required in CI" in result.stdout
    assert "1 error" in result.stdout  # in the fixture: the test never ran


def test_a_missing_service_skips_visibly_outside_ci():
    result = _run_postgres_test()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
