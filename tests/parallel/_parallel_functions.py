"""Functions for the imap tests, at module level so spawned producers and Ray actors
import them by name (conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

FAILING_ITEM = 37


def square(x: int) -> int:
    return x * x


def jittered_square(x: int) -> int:
    """Square, finishing out of order: every seventh item takes a little longer."""
    if x % 7 == 0:
        time.sleep(0.002)
    return x * x


def fail_at_37(x: int) -> int:
    if x == FAILING_ITEM:
        raise ValueError(f"item {x} is bad")
    return x * x


def exit_at_5(x: int) -> int:
    if x == 5:
        os._exit(3)
    return x


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def pid_of(x: Any) -> int:
    return os.getpid()


def where(device: str, cfg: Any) -> dict[str, Any]:
    """An init: log this producer's pid to cfg.log_dir, return what fn should see."""
    with Path(cfg.log_dir, f"{os.getpid()}.log").open("a") as log:
        log.write(f"init {device}\n")
    return {"device": device, "pid": os.getpid(), "offset": cfg.offset}


def add_offset(state: dict[str, Any], x: int) -> tuple[int, str, int]:
    return x + state["offset"], state["device"], state["pid"]


def init_fails(device: str, cfg: Any) -> None:
    raise RuntimeError(f"no model for {device}")
