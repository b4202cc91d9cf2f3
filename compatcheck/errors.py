"""User-facing errors and the fixed exit codes.

A ``UserError`` is a problem with what the user gave us (a file, a flag, a
profile). The CLI prints it as one line and exits with ``EXIT_USAGE``;
anything else escaping is a bug in compatcheck and is reported as such.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UserError(Exception):
    """Bad input: names the file (or flag) and says what is wrong and what to do."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class ModelFormatError(UserError):
    """A file that is not a model compatcheck can read, or is damaged."""


class ProfileError(UserError):
    """A platform profile that is missing, unreadable or invalid."""
