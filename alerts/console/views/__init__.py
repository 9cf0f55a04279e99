"""Console views, one module per page family. Views stay thin: rules live in
``alerts.console.permissions``, ``alerts.console.queries`` and ``alerts.services``."""
