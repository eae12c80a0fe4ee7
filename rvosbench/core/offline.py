"""Keep run-time code away from network hubs unless the user opts in.

Weights and tokenizers come from local folders or pip packages; a silent download attempt would either
hang for a minute of retries (no network here) or, worse, make results depend on whatever a hub serves
today. Setting ``RVOSBENCH_ALLOW_DOWNLOADS=1`` opts back in.
"""
from __future__ import annotations

import os

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def downloads_allowed() -> bool:
    return os.environ.get("RVOSBENCH_ALLOW_DOWNLOADS", "") not in ("", "0", "false", "no")


def set_offline_default() -> None:
    """Set the hub libraries offline unless the user allowed downloads or already chose explicitly."""
    if downloads_allowed():
        return
    for name in OFFLINE_VARIABLES:
        os.environ.setdefault(name, "1")
