"""Fault injection for the kill and full-disk tests, loaded as a plug-in *after* the engine's toy plug-in.

``RVOSBENCH_FAULT`` selects one fault in the run's own process (real faults, not mocks of the result):

* ``predict:N``: SIGKILL at the N-th ``predict`` call (a kill during evaluation);
* ``cell-write``: SIGKILL half-way through writing a cell's ``samples.jsonl`` in its staging folder
  (a kill during a results write);
* ``index-append``: write half an index line, then SIGKILL (a kill while appending to the index);
* ``disk-full``: writing a cell's ``samples.jsonl`` raises ENOSPC (a full disk).
"""
from __future__ import annotations

import errno
import os
import pathlib
import signal

from rvosbench.core.registry import MODELS
from rvosbench.core import store

FAULT = os.environ.get("RVOSBENCH_FAULT", "")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


if FAULT.startswith("predict:"):
    toy = MODELS.get("engine_toy")
    original_predict = toy.predict
    calls = {"n": 0}

    def predict(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == int(FAULT.split(":")[1]):
            _die()
        return original_predict(self, *args, **kwargs)

    toy.predict = predict

if FAULT in ("cell-write", "disk-full"):
    original_write_text = pathlib.Path.write_text

    def write_text(self, data, *args, **kwargs):
        if self.name == "samples.jsonl" and ".staging-" in str(self):
            if FAULT == "disk-full":
                raise OSError(errno.ENOSPC, "No space left on device", str(self))
            original_write_text(self, data[: len(data) // 2], *args, **kwargs)
            _die()
        return original_write_text(self, data, *args, **kwargs)

    pathlib.Path.write_text = write_text

if FAULT == "index-append":
    def append_line(path, line):
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line[: len(line) // 2])
            handle.flush()
        _die()

    store.append_line = append_line
