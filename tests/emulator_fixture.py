"""The SendGrid emulator (a real HTTP server) as a fixture for the suites that import it:
`from tests.emulator_fixture import emulator  # noqa: F401`."""

from __future__ import annotations

import pytest

from newsletter.emulator import EmulatorConfig, run_emulator


@pytest.fixture
def emulator(tmp_path):
    with run_emulator(EmulatorConfig(log_path=tmp_path / "emulator.jsonl", fsync=False)) as emu:
        yield emu
