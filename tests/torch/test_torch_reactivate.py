"""A call that waits while another thread re-activates the runner uses the new producers.

Found: a call chose its shared-memory ring before it took the runner's lock; when another
thread re-activated the runner (after a ``ProducerDiedError``) meanwhile, the call sent
its 64 KiB - 1 MiB tensors through the old activation's ring and failed with a misleading
``NotPicklableError`` ("belongs to a runner that is closed").
"""

from __future__ import annotations

import sys
import threading
import time

import pytest
import torch
from _torch_runners import EchoOrExit
from _torch_support import FORK

from easycore_torch import ProducerDiedError, RunnerClosedError

MEDIUM = 128 * 1024  # float32 elements: 512 KiB, through the rings


def wait_until_waiting_for_the_lock(thread: threading.Thread) -> None:
    """Return once ``thread`` is inside the runner's ``_exclusive`` (at its lock)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident)
        if frame is not None and frame.f_code.co_name == "_exclusive":
            return
        time.sleep(0.001)
    raise AssertionError(f"{thread.name} never reached the runner's lock")


@pytest.mark.timeout(180)
def test_call_waiting_while_another_thread_reactivates_runs_on_the_new_producers(leftovers):
    inputs = [torch.full((MEDIUM,), float(i)) for i in range(6)]
    outcomes: list[object] = []

    def call() -> None:
        try:
            outcomes.append(runner(inputs))
        except Exception as err:
            outcomes.append(err)

    with EchoOrExit(["cpu"], **FORK) as runner:
        for _ in range(5):
            with pytest.raises(ProducerDiedError):
                runner(["exit"])  # the runner is closed now
            runner._lock.acquire()  # busy, as with a call in a third thread
            activating = threading.Thread(target=runner.activate, name="activating")
            calling = threading.Thread(target=call, name="calling")
            activating.start()
            wait_until_waiting_for_the_lock(activating)
            calling.start()
            wait_until_waiting_for_the_lock(calling)
            runner._lock.release()
            activating.join()
            calling.join()
            outcome = outcomes.pop()
            if isinstance(outcome, Exception):  # it ran before the activation: fine
                assert isinstance(outcome, RunnerClosedError), repr(outcome)
            else:
                assert [float(t[0]) for t in outcome] == [float(i) for i in range(6)]
            runner.activate()
    leftovers.assert_none()
