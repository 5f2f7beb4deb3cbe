"""The demo's folder (`./demo/`, git-ignored): its database, its secrets, its logs, and the
settings every demo process gets.

Everything is made on the first run and reused afterwards: the SQLite database, the key
ring its links and address hashes use, the SendGrid emulator's API key and webhook signing
key, and the demo admin's second-factor key (`demo.json`, readable by this user only).
Nothing here is fit for real email: the keys are printed, and stay on this machine.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from newsletter.errors import ConfigurationError

STATE_FILE = "demo.json"
DATABASE_FILE = "newsletter.db"
# The order of the P-256 group: a signing scalar is a random integer in [1, order - 1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass
class DemoState:
    """What the demo keeps between runs (secrets and the ids of what it made)."""

    secret_key: str
    api_key: str
    signing_scalar: int
    admin_totp_secret: str
    article_id: int | None = None
    campaign_id: int | None = None

    @classmethod
    def new(cls) -> DemoState:
        from newsletter.accounts.totp import new_secret

        return cls(
            secret_key=f"a:{secrets.token_urlsafe(48)}",
            api_key=f"SG.demo-{secrets.token_urlsafe(24)}",
            signing_scalar=secrets.randbelow(P256_ORDER - 1) + 1,
            admin_totp_secret=new_secret(),
        )


class Workspace:
    """The demo folder and the state kept in it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.logs = self.folder / "logs"
        self._lock: Any = None

    @property
    def database(self) -> Path:
        return self.folder / DATABASE_FILE

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE

    @property
    def emulator_log(self) -> Path:
        return self.folder / "emulator.jsonl"

    def lock(self) -> None:
        """Hold the folder for this run (released when the process ends, however it ends):
        a second demo on the same folder would reset the passwords of the running one and
        find its engine's lock taken."""
        import fcntl

        handle = (self.folder / "demo.lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigurationError(
                "a demo is already running from this folder",
                where=str(self.folder),
                fix="use the one running (its terminal shows the URL and accounts), stop it "
                "with Ctrl-C, or start another with --dir OTHER_FOLDER",
            ) from None
        self._lock = handle  # kept open for the life of the process

    def exists(self) -> bool:
        return self.state_path.is_file()

    def load_or_create(self) -> tuple[DemoState, bool]:
        """The saved state, or a new one written now; True when it was new."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.logs.mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the demo folder ({exc.strerror})",
                where=str(self.folder),
                fix="run the demo from a folder you may write to, or pass --dir PATH",
            ) from None
        if self.state_path.is_file():
            return self._read(), False
        state = DemoState.new()
        self.save(state)
        return state, True

    def _read(self) -> DemoState:
        try:
            data: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
            return DemoState(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"the demo's saved state cannot be read ({exc})",
                where=str(self.state_path),
                fix=f"delete the folder {self.folder} to start the demo afresh",
            ) from None

    def save(self, state: DemoState) -> None:
        """Write the state atomically, readable by this user only (it holds keys)."""
        temporary = self.state_path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(asdict(state), out, indent=2)
            out.write("\n")
        os.replace(temporary, self.state_path)

    def environment(
        self, state: DemoState, *, web_port: int, emulator_port: int, tick_seconds: float
    ) -> dict[str, str]:
        """The `NEWSLETTER_*` settings of every demo process (the parent's own work too)."""
        from newsletter.emulator.webhook import Signer
        from newsletter.samples import SEGMENTS

        audiences = Path("audiences")
        return {
            "NEWSLETTER_DATABASE_URL": f"sqlite:///{self.database}",
            "NEWSLETTER_SECRET_KEY": state.secret_key,
            "NEWSLETTER_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "NEWSLETTER_DELIVERY": "sendgrid",
            "NEWSLETTER_SENDGRID_API_KEY": state.api_key,
            "NEWSLETTER_SENDGRID_BASE_URL": f"http://127.0.0.1:{emulator_port}",
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY": Signer(state.signing_scalar).public_key_b64,
            "NEWSLETTER_AUDIENCES_DIR": str(
                audiences.resolve() if (audiences / "everyone.yaml").is_file() else SEGMENTS
            ),
            "NEWSLETTER_OUTBOX_DIR": str(self.folder / "outbox"),
            "NEWSLETTER_TICK_SECONDS": f"{tick_seconds:g}",
            "NEWSLETTER_APPROVAL": "true",
            "NEWSLETTER_ADMIN_ENABLED": "true",
        }
