"""A normal (non-editable) install has everything `render` needs: the wheel carries the
templates, the sample article and the sample audience (newsletter/samples.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.seed import REPO

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        check=True, capture_output=True, timeout=240,
    )  # fmt: skip
    [built] = out.glob("newsletter-*.whl")
    return built


def test_the_wheel_carries_templates_and_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "newsletter/bundled/templates/article.mjml",
        "newsletter/bundled/templates/layout.mjml",
        "newsletter/bundled/templates/confirm.txt",
        "newsletter/bundled/articles/neuroplasticity-ketamine.txt",
        "newsletter/bundled/audiences/sample-subscribers.csv",
        "newsletter/bundled/audiences/everyone.yaml",
        "newsletter/storage/migrations/versions/0001_audiences.py",
        "newsletter/web/admin/static/htmx.min.js",
    ):
        assert expected in names, expected


def test_the_installed_wheel_renders_the_seed_outside_a_checkout(wheel, tmp_path):
    """A throwaway environment: the wheel unpacked into its own site-packages (ahead of
    everything), the dependencies borrowed from this one's; run from an empty folder."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(
        subprocess.run(
            [python, "-c", purelib], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    zipfile.ZipFile(wheel).extractall(site)
    # Dependencies from this environment, as a plain path (its .pth files, the editable
    # install of this checkout among them, are not processed from there).
    (site / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "PYTHON"))}
    env["NEWSLETTER_SECRET_KEY"] = "test-secret-key-0123456789abcdefghijklmnop"
    where = subprocess.run(
        [python, "-c", "import newsletter, newsletter.samples as s; "
         "print(newsletter.__file__); print(s.SAMPLE_ARTICLE)"],
        cwd=work, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert all(path.startswith(str(site)) for path in where), where
    result = subprocess.run(
        [python, "-m", "newsletter", "render", where[1], "--out", "out"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    html = (work / "out" / "email.html").read_text()
    assert "The Role of Neuroplasticity in Mental Health" in html
    assert "Book a consultation" in html
