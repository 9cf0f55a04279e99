"""Settings of the benchmark's processes: the embedded defaults (``embassy.settings.local``,
DEBUG off) with everything else from the environment ``bench.main`` builds, plus one
thing the environment cannot say: a Redis key prefix of the run's own
(``BENCH_REDIS_PREFIX``) for the broker and the cache, so that two runs sharing a Redis
db never take each other's tasks.
"""

from __future__ import annotations

import os

from embassy.settings.local import *  # noqa: F403

_prefix = os.environ.get("BENCH_REDIS_PREFIX", "")
if _prefix:
    CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": _prefix}  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = _prefix + "embassy"  # noqa: F405
