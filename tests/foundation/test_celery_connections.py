"""Workers keep database connections across tasks as Django keeps them across requests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import embassy.celery as embassy_celery


def test_celerys_fix_up_no_longer_closes_the_connection_around_every_task() -> None:
    assert embassy_celery.app.conf.get("CELERY_DB_REUSE_MAX") >= 1_000_000
    from embassy.settings import base  # what deployments get (the tests' own database settings differ)

    assert base.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize(("eager", "closes"), [(False, 1), (True, 0)])
def test_around_a_task_old_connections_are_closed_unless_it_runs_in_process(monkeypatch, eager, closes) -> None:
    calls: list[int] = []
    monkeypatch.setattr("django.db.close_old_connections", lambda: calls.append(1))
    task = SimpleNamespace(request=SimpleNamespace(is_eager=eager))
    embassy_celery._close_old_connections(sender=task)
    assert len(calls) == closes
