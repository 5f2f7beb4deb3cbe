"""Fixtures for the SendGrid emulator suites: a running emulator, a webhook receiver, and the
official `sendgrid` client pointed at the emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from newsletter.emulator import EmulatorConfig, EmulatorHandle, run_emulator
from newsletter.emulator.testing import WebhookReceiver, client_for, make_mail


@pytest.fixture
def mail() -> Callable[..., dict[str, Any]]:
    return make_mail


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as rcv:
        yield rcv


@pytest.fixture
def emu_factory(tmp_path) -> Iterator[Callable[..., EmulatorHandle]]:
    """Start emulators with custom config; all are stopped at teardown."""
    handles: list[EmulatorHandle] = []

    def start(**config: Any) -> EmulatorHandle:
        from newsletter.emulator import start_emulator

        config.setdefault("log_path", tmp_path / f"emulator-{len(handles)}.jsonl")
        handle = start_emulator(EmulatorConfig(**config))
        handles.append(handle)
        return handle

    yield start
    for handle in reversed(handles):
        handle.stop()


@pytest.fixture
def emu(tmp_path, receiver: WebhookReceiver) -> Iterator[EmulatorHandle]:
    """A running emulator whose webhook posts to `receiver` immediately (no lag)."""
    config = EmulatorConfig(webhook_url=receiver.url, log_path=tmp_path / "accepted.jsonl")
    with run_emulator(config) as handle:
        yield handle


@pytest.fixture(scope="module")
def shared_emu(tmp_path_factory) -> Iterator[EmulatorHandle]:
    """One emulator for a whole module of read-only conformance checks (no webhook)."""
    config = EmulatorConfig(log_path=tmp_path_factory.mktemp("emu") / "accepted.jsonl")
    with run_emulator(config) as handle:
        yield handle


@pytest.fixture
def sg_client() -> Callable[..., Any]:
    """`sg_client(handle, key=..., timeout=...)` → the official client aimed at the emulator."""
    return client_for


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib (the sendgrid client) honours http_proxy: keep loopback traffic direct.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
