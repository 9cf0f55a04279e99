"""Domain errors of the alert pipeline, with messages meant for staff to read.

The console shows ``str(error)``; each class says which rule was broken.
"""

from __future__ import annotations


class AlertError(Exception):
    """Base class: a rule of the alert pipeline refused the request; nothing was saved."""


class AlertStateError(AlertError):
    """The alert is not in a state that allows this (e.g. approving a sent alert)."""


class ApprovalError(AlertError):
    """Approval refused: the approver is the author, not staff, or a choice is not allowed."""


class AlertContentError(AlertError):
    """The alert cannot go out as written: a missing text, channel or audience."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class TemplateError(AlertError):
    """A template or text has bad placeholders. ``errors`` maps field -> messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        flat = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        super().__init__(f"Placeholders to fix: {flat}")


class LevelError(AlertError):
    """An advisory level change was refused (unknown level, no reason, nothing changes)."""
