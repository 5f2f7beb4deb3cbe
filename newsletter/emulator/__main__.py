"""`python -m newsletter.emulator [--port N] [--api-key K]… [--webhook-url U] [--log PATH]`.

The same as `newsletter emulator`, without the product's CLI (used by bench/emulator_bench.py).
"""

from __future__ import annotations

import argparse

from newsletter.emulator.config import DEFAULT_API_KEY, DEFAULT_SIGNING_SCALAR, EmulatorConfig
from newsletter.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m newsletter.emulator")
    parser.add_argument("--port", type=int, default=3030)
    parser.add_argument("--api-key", action="append", dest="api_keys")
    parser.add_argument("--webhook-url")
    parser.add_argument("--log")
    parser.add_argument("--signing-scalar", type=int, default=DEFAULT_SIGNING_SCALAR)
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        api_keys={k: {"mail.send"} for k in args.api_keys or [DEFAULT_API_KEY]},
        webhook_url=args.webhook_url,
        log_path=args.log,
        signing_scalar=args.signing_scalar,
        fsync=not args.no_fsync,
    )
    serve(args.port, config)


if __name__ == "__main__":
    main()
