"""scripts/run: the first-run command of the README."""

from __future__ import annotations

import subprocess
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "scripts" / "run"


def _public_base_url(env: dict[str, str]) -> str:
    """PUBLIC_BASE_URL as scripts/run leaves it for the server, from its own lines."""
    lines = RUN.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("HOST="))
    end = next(i for i, line in enumerate(lines) if "PUBLIC_BASE_URL" in line and line.startswith("export"))
    script = "\n".join([*lines[start : end + 1], 'printf %s "$PUBLIC_BASE_URL"'])
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout


def test_links_in_messages_point_at_the_port_the_server_runs_on():
    """With PORT=8765 the verification and check-in links said http://127.0.0.1:8000/."""
    assert _public_base_url({"PORT": "8765"}) == "http://127.0.0.1:8765"
    assert _public_base_url({}) == "http://127.0.0.1:8000"
    assert _public_base_url({"HOST": "0.0.0.0", "PUBLIC_BASE_URL": "https://x.example"}) == "https://x.example"


def test_the_address_is_set_before_the_server_and_the_scheduler_start():
    text = RUN.read_text()
    assert text.index("export PUBLIC_BASE_URL") < text.index("run_periodic_inprocess")
    assert text.index("export PUBLIC_BASE_URL") < text.index("runserver")
