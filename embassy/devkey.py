"""A per-checkout secret key for the development settings, kept out of version control."""

from __future__ import annotations

import secrets
from pathlib import Path


def development_secret_key(base_dir: Path) -> str:
    """Return the key stored in ``.dev-secret-key``, creating it on first use."""
    path = base_dir / ".dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()
