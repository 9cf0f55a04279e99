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


def test_gunicorn_s_own_error_log_masks_contacts(capsys) -> None:
    import logging

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    conf = runpy.run_path(str(CONF))
    cfg = Config()
    cfg.set("accesslog", conf["accesslog"])
    cfg.set("on_starting", conf["on_starting"])  # gunicorn checks each hook's arity here
    cfg.set("post_fork", conf["post_fork"])
    gunicorn_log = Logger(cfg)  # sets up gunicorn.error's handler as the arbiter does
    try:
        conf["on_starting"](None)
        conf["post_fork"](None, None)  # once per worker too: no second filter
        handlers = logging.getLogger("gunicorn.error").handlers
        assert handlers and all(len(h.filters) == 1 for h in handlers)
        try:
            raise ValueError("no such recipient +93701234567 / sara@example.org")
        except ValueError:
            gunicorn_log.exception("Error handling request")
        err = capsys.readouterr().err
        assert "Error handling request" in err and "ValueError" in err
        assert "+93701234567" not in err and "sara@example.org" not in err
        assert not gunicorn_log.access_log_enabled  # the access log stays off
    finally:
        for handler in logging.getLogger("gunicorn.error").handlers[:]:
            logging.getLogger("gunicorn.error").removeHandler(handler)
