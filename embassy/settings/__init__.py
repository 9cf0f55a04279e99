"""Settings package: ``base`` holds everything, the others choose a deployment.

- ``local``: the embedded default for a first run (SQLite, tasks in-process, outbox).
- ``production``: everything from the environment; refuses to start without secrets.
- ``test``: what the test suite runs on (PostgreSQL and Redis when reachable).
"""
