"""The alert pipeline's benchmark: figures, not impressions.

``bench/run`` (or ``.venv/bin/python -m bench``) seeds its own database, starts its own
provider stub and Celery workers, measures the providers' ceiling with the bare SDKs,
then runs a live alert through the whole pipeline and the naive design on the same data,
at no stub latency and at a realistic one. See ``docs/benchmarks.md``.
"""
