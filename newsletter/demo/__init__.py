"""`newsletter demo`: the whole product on one machine, with no internet and no setup.

In a folder of its own (`./demo/`): a SQLite database with the sample audience, the seed
article and a campaign draft; an admin and a marketer; then, as child processes on
loopback, the web app with the admin, the engine (the clock that sends), and the bundled
SendGrid emulator, which posts signed delivery events back to the web app's webhook.
Approval stays on, so the marketer submits and the admin approves, as in a clinic.
`workspace` keeps the folder, `seed` the data, `children` the processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from newsletter.config import Settings
from newsletter.demo.children import (
    Child,
    ChildDied,
    Supervisor,
    answers,
    claim_port,
    logged,
    on_signals,
    restore,
)
from newsletter.demo.seed import Seeded, seed
from newsletter.demo.workspace import DemoState, Workspace
from newsletter.errors import ConfigurationError, ValidationError

DEFAULT_FOLDER = Path("demo")
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Options:
    folder: Path = DEFAULT_FOLDER
    port: int = 8000
    emulator_port: int = 3030
    tick_seconds: float = 2.0


def _prepare_database(settings: Settings, state: DemoState, folder: Path) -> Seeded:
    """Create or migrate the demo's own database (safe: it is the demo's), then seed it."""
    from newsletter import bootstrap
    from newsletter.storage.schema import upgrade

    with bootstrap.open_database(settings, check_schema=False) as db:
        upgrade(db, key_ring=settings.key_ring)
    with bootstrap.open_database(settings) as db:
        return seed(db, settings, state, folder)


def children(
    workspace: Workspace, state: DemoState, web_port: int, emulator_port: int
) -> list[Child]:
    """Start order: the emulator, the web app (its webhook), the engine (sends through
    both); they are stopped the other way round."""
    logs = workspace.logs
    web = f"http://127.0.0.1:{web_port}"
    emulator = f"http://127.0.0.1:{emulator_port}"
    return [
        Child(
            "the SendGrid emulator",
            [],
            logs / "emulator.log",
            answers(f"{emulator}/_emulator/stats"),
            module="newsletter.demo.emulator_child",
            env={
                "NEWSLETTER_DEMO_EMULATOR_PORT": str(emulator_port),
                "NEWSLETTER_DEMO_EMULATOR_LOG": str(workspace.emulator_log),
                "NEWSLETTER_DEMO_WEBHOOK_URL": f"{web}/webhooks/sendgrid",
                "NEWSLETTER_DEMO_API_KEY": state.api_key,
                "NEWSLETTER_DEMO_SIGNING_SCALAR": str(state.signing_scalar),
            },
        ),
        Child(
            "the web app",
            ["serve", "--host", "127.0.0.1", "--port", str(web_port)],
            logs / "web.log",
            answers(f"{web}/admin/login"),
        ),
        Child(
            "the engine",
            ["engine"],
            logs / "engine.log",
            logged(logs / "engine.log", "Engine started"),
        ),
    ]


def run(options: Options, say: Callable[[str], None]) -> int:
    """Run the demo until SIGINT/SIGTERM (0) or until a child dies (1)."""
    from newsletter.config import load_settings

    began = time.monotonic()
    workspace = Workspace(options.folder)
    web_port = claim_port(options.port, "the web app", "--port")
    emulator_port = claim_port(options.emulator_port, "the SendGrid emulator", "--emulator-port")
    if web_port == emulator_port:
        raise ValidationError(
            f"the web app and the emulator cannot share port {web_port}",
            where="--port / --emulator-port",
            fix="give them different ports",
        )
    first_run = not workspace.exists()
    state, _ = workspace.load_or_create()
    workspace.lock()
    settings_env = workspace.environment(
        state, web_port=web_port, emulator_port=emulator_port, tick_seconds=options.tick_seconds
    )
    os.environ.update(settings_env)
    os.environ.pop("NEWSLETTER_SECRET_KEY_FILE", None)  # the demo's own key ring, not yours
    say(
        f"Setting up the demo in {workspace.folder} (first run)…"
        if first_run
        else f"Reusing the demo in {workspace.folder} from an earlier run…"
    )
    settings = load_settings()
    try:
        seeded = _prepare_database(settings, state, workspace.folder)
    except KeyboardInterrupt:
        say("Interrupted while setting up; run `newsletter demo` again to finish.")
        return 0
    workspace.save(state)
    for note in seeded.notes:
        say(f"  {note}")
    processes = children(workspace, state, web_port, emulator_port)
    supervisor = Supervisor(processes, dict(os.environ))
    previous = on_signals(supervisor.stop.set)
    code = 0
    try:
        say("Starting the SendGrid emulator, the web app and the engine…")
        supervisor.start(START_TIMEOUT_S)
        if not supervisor.stop.is_set():
            say(banner(seeded, state, workspace, web_port, emulator_port, time.monotonic() - began))
            supervisor.watch()
    except ChildDied as died:
        say(f"Error: {died}")
        code = 1
    except TimeoutError as slow:
        say(f"Error: {slow}; the logs are in {workspace.logs}.")
        code = 1
    finally:
        say("Stopping the engine, the web app and the emulator…")
        killed = supervisor.stop_all()
        restore(previous)
    if killed:
        say(f"Had to kill {', '.join(killed)} (it did not stop within the time allowed).")
    say("Demo stopped." + ("" if code else " `make demo` again continues where you left off."))
    return code


def banner(
    seeded: Seeded,
    state: DemoState,
    workspace: Workspace,
    web_port: int,
    emulator_port: int,
    elapsed_s: float,
) -> str:
    """What the person who ran the demo needs: where, who, and what to do."""
    accounts = {account.role: account for account in seeded.accounts}
    marketer, admin = accounts["marketer"], accounts["admin"]
    web = f"http://127.0.0.1:{web_port}"
    return "\n".join(
        [
            "",
            f"The newsletter demo is running (ready in {elapsed_s:.1f} s). Open:",
            "",
            f"    {web}/admin",
            "",
            "Accounts (demo only; new passwords on every start):",
            f"    marketer  {marketer.email:<24} password: {marketer.password}",
            f"    admin     {admin.email:<24} password: {admin.password}",
            "              then the 6-digit code from `newsletter demo --code` (another",
            f"              terminal, same folder), or add key {state.admin_totp_secret}",
            "              to an authenticator app",
            "",
            f"Campaign {seeded.campaign_id} “{seeded.campaign_subject}” is a draft by the "
            f"marketer, for segment `everyone` ({seeded.audience} subscribers of the sample "
            "audience).",
            "Approval is on, as in a clinic:",
            f"  1. Sign in as the marketer, open campaign {seeded.campaign_id}, Preview it "
            "(desktop and mobile, for a subscriber you pick), and submit it for approval.",
            "  2. Sign out; sign in as the admin (password, then the code) and approve it.",
            "  3. Send it (either of you) and watch the progress reach 100 %; the emulator "
            "posts signed delivery events back, and the campaign's Stats page counts them.",
            "",
            f"Emails go to the SendGrid emulator on http://127.0.0.1:{emulator_port} and "
            "nowhere else (`/_emulator/messages?to=ADDRESS` shows what someone got).",
            f"Data, keys and logs: {workspace.folder} (delete it to start afresh).",
            "Press Ctrl-C to stop everything.",
            "",
        ]
    )


def current_code(folder: Path) -> tuple[str, int]:
    """The demo admin's current second-factor code and the seconds it stays valid."""
    import pyotp

    workspace = Workspace(folder)
    if not workspace.exists():
        raise ConfigurationError(
            "no demo here yet",
            where=str(workspace.folder),
            fix="start it first with `make demo` (or `newsletter demo`) in this folder",
        )
    state, _ = workspace.load_or_create()
    totp = pyotp.TOTP(state.admin_totp_secret)
    return totp.now(), int(totp.interval - time.time() % totp.interval)


__all__ = ["DEFAULT_FOLDER", "Options", "current_code", "run"]
