"""Every error a person can cause, in one module.

Anything a person can cause (a bad file, a bad option, a folder in use, a failed download) raises a
``JenacastError`` subclass whose message is one sentence naming the culprit and the fix; any other exception
is a bug. A message that names a parameter is written as a template, ``"{epochs} must be ..."``: the library
spells it as the Python API does (``epochs``, ``resume=True``), the command line as its flag (``--epochs``,
``--resume``; :meth:`JenacastError.worded`), so each interface names its own knobs.
"""

from __future__ import annotations

import string
from collections.abc import Callable

# how the Python API names what a template's placeholder stands for, where that is not the name itself
_API_SPELLING = {"resume": "resume=True", "force": "force=True", "out": "folder"}


def api_spelling(parameter: str) -> str:
    return _API_SPELLING.get(parameter, parameter)


def literal(value) -> str:
    """``value`` as text to put in a worded template (its braces kept as they are)."""
    return str(value).replace("{", "{{").replace("}", "}}")


class JenacastError(Exception):
    """Base class of errors caused by input, not by a bug.

    ``JenacastError(message)`` holds a plain sentence; ``JenacastError(template, worded=True)`` one whose
    ``{parameter}`` placeholders name parameters, spelled as the API spells them in ``str(error)``."""

    def __init__(self, message: str, *, worded: bool = False):
        self.template = message if worded else message.replace("{", "{{").replace("}", "}}")
        super().__init__(self.worded(api_spelling))

    @property
    def parameters(self) -> list[str]:
        """The parameters the message names."""
        return [field for _, field, _, _ in string.Formatter().parse(self.template) if field]

    def worded(self, spell: Callable[[str], str]) -> str:
        """The message with each parameter spelled by ``spell`` (the CLI: its flags)."""
        return self.template.format(**{name: spell(name) for name in self.parameters})

    def __reduce__(self):
        # pickled with its template (a Ray task's error reaching the command line), so that it still names flags
        return (_rebuilt, (type(self), self.template))


def _rebuilt(cls: type[JenacastError], template: str) -> JenacastError:
    return cls(template, worded=True)


class DataError(JenacastError, ValueError):
    """A data file, archive or download is missing, malformed or inconsistent."""


class DownloadError(DataError):
    """No mirror delivered a valid dataset."""


class ConfigError(JenacastError, ValueError):
    """A training option has a value that cannot work."""


class TrainingError(JenacastError):
    """Training cannot start or go on (a folder that holds another run, a failed save, a NaN loss)."""


class CheckpointError(JenacastError):
    """A checkpoint is missing, unreadable, foreign or from an incompatible version."""


class FolderInUse(JenacastError):
    """Another process is writing this folder, or the path cannot be a folder."""
