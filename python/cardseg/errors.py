"""Exceptions raised by cardseg, each carrying the CLI's one-line message.

``CardsegError`` is the base class. Bad data, parameters and models are also
``ValueError`` (as scikit-learn and pandas users expect); I/O problems are ``OSError``.
"""


class CardsegError(Exception):
    """Base class of every error cardseg raises (the CLI prints the same text after ``error:``)."""


class InputError(CardsegError, ValueError):
    """The data: a missing column, text in a feature, an empty or all-missing column, too few rows."""


class ModelError(CardsegError, ValueError):
    """A saved model that cannot be used (truncated, edited, newer format)."""


class UsageError(CardsegError, ValueError):
    """Parameters that do not make sense (checked before any work is done)."""


class OutputExistsError(CardsegError, FileExistsError):
    """The output exists; pass ``force=True`` to replace an earlier cardseg result."""


class CardsegIOError(CardsegError, OSError):
    """Reading or writing a path failed at the operating-system level."""


__all__ = [
    "CardsegError",
    "InputError",
    "ModelError",
    "UsageError",
    "OutputExistsError",
    "CardsegIOError",
]
