"""Errors a user can cause, reported as one clear line.

Every problem that comes from the user's input (a config, a dataset copy, a prediction folder, a
checkpoint, a plug-in) is raised as :class:`UserError`. The CLI prints ``str(error)`` on one line and
exits with status 2; only ``--debug`` shows the traceback. Internal bugs stay ordinary exceptions so
they are never disguised as user mistakes.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class UserError(Exception):
    """A problem in the user's input: says what is wrong, where, and what to do.

    ``where`` is a file (optionally ``file:line``), a config key or a sample id; ``hint`` is the action
    that fixes it. They are joined into one line so logs and terminals show the whole story.
    """

    exit_code = 2

    def __init__(self, what: str, where: str | None = None, hint: str | None = None):
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class ConfigError(UserError):
    """Bad YAML, unknown keys, bad overrides, unknown registry names."""


class DataError(UserError):
    """A dataset copy on disk is missing files or holds malformed ones."""


class PredictionError(UserError):
    """A prediction folder, zip or COCO-results file does not match the benchmark."""


class CheckpointError(UserError):
    """A checkpoint is missing, unreadable, unsafe, or does not fit the model."""


class PluginError(UserError):
    """A user's plug-in file or package failed to load."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type's name when it has none (a
    library's multi-line or empty message must not break the one-line report). A Python object's repr
    in it (``<_io.BytesIO object at 0x...>``) tells a user nothing and becomes "the data"."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return _OBJECT_REPR.sub("the data", lines[0]) if lines else type(error).__name__


def image_error(error: BaseException) -> str:
    """An image decoding error in words (PIL names an unidentifiable in-memory file by its repr)."""
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return "not an image in a format PIL can read (is it a PNG/JPEG file?)"
    return first_line(error)


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ``"did you mean 'a', 'b'?"`` for close matches, or a short listing when none are close."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
    if close:
        return "did you mean " + ", ".join(repr(c) for c in close) + "?"
    if not pool:
        return "nothing is registered"
    shown = ", ".join(pool[:12]) + (" …" if len(pool) > 12 else "")
    return f"known: {shown}"
