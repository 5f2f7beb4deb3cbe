import sys

import pytest


class Result:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run `newsletter ARGS` in process, through the same error mapping as the real command."""
    from newsletter.cli import load, run

    app = load()

    def invoke(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["newsletter", *map(str, args)])
        code = run(app)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke
