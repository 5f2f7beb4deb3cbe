"""The demo's SendGrid emulator process: `newsletter emulator`, configured from the
environment instead of the command line, so the demo's API key and webhook signing key do
not show in the process list (`ps`) of other users of the machine; a process's environment
is readable by its own user only.

    NEWSLETTER_DEMO_EMULATOR_PORT, NEWSLETTER_DEMO_EMULATOR_LOG,
    NEWSLETTER_DEMO_WEBHOOK_URL, NEWSLETTER_DEMO_API_KEY, NEWSLETTER_DEMO_SIGNING_SCALAR
"""

from __future__ import annotations

import os
from pathlib import Path


def main() -> None:
    from newsletter.emulator.config import EmulatorConfig
    from newsletter.emulator.server import serve

    env = os.environ
    config = EmulatorConfig(
        api_keys={env["NEWSLETTER_DEMO_API_KEY"]: {"mail.send"}},
        webhook_url=env["NEWSLETTER_DEMO_WEBHOOK_URL"],
        log_path=Path(env["NEWSLETTER_DEMO_EMULATOR_LOG"]),
        signing_scalar=int(env["NEWSLETTER_DEMO_SIGNING_SCALAR"]),
    )
    print("Starting the SendGrid emulator (SIGTERM to stop)…", flush=True)
    serve(int(env["NEWSLETTER_DEMO_EMULATOR_PORT"]), config)


if __name__ == "__main__":
    main()
