"""gunicorn.conf.py: the load-tested defaults, overridable, with a clear error for bad values."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_defaults_are_what_the_registration_load_test_measures(monkeypatch) -> None:
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(CONF))
    assert (conf["wsgi_app"], conf["workers"], conf["worker_class"], conf["threads"]) == (
        "embassy.wsgi",
        3,
        "gthread",
        4,
    )


def test_the_environment_sets_workers_and_threads(monkeypatch) -> None:
    monkeypatch.setenv("GUNICORN_WORKERS", "5")
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    conf = runpy.run_path(str(CONF))
    assert (conf["workers"], conf["threads"]) == (5, 8)


@pytest.mark.parametrize("bad", ["0", "-2", "three", "2.5"])
def test_a_bad_value_stops_gunicorn_with_its_name(monkeypatch, bad: str) -> None:
    monkeypatch.setenv("GUNICORN_WORKERS", bad)
    with pytest.raises(SystemExit, match="GUNICORN_WORKERS must be a whole number"):
        runpy.run_path(str(CONF))
