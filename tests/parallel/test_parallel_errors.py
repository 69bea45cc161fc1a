"""The errors are API: builtin bases, attributes, and they survive pickling."""

from __future__ import annotations

import pickle

import pytest

import easycore_parallel as ep
from easycore_parallel import NotPicklableError, ProducerDiedError, RunnerClosedError, RunnerError

ERRORS = [
    (
        ProducerDiedError("died", device="cuda:1", pid=4312, exitcode=-9),
        RuntimeError,
        {"device": "cuda:1", "pid": 4312, "exitcode": -9},
    ),
    (
        RunnerClosedError("closed", reason="closed by close()"),
        RuntimeError,
        {"reason": "closed by close()"},
    ),
    (NotPicklableError("no pickle", device="cpu", pid=7), TypeError, {"device": "cpu", "pid": 7}),
    (
        ep.ItemTimeoutError("too slow", index=4, device="cpu", seconds=2.5),
        TimeoutError,
        {"index": 4, "device": "cpu", "seconds": 2.5},
    ),
]


@pytest.mark.parametrize(
    ("error", "builtin", "attributes"), ERRORS, ids=[type(e[0]).__name__ for e in ERRORS]
)
def test_error_has_builtin_base_and_round_trips_pickle(error, builtin, attributes):
    assert isinstance(error, RunnerError)
    assert isinstance(error, builtin)
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert {name: getattr(clone, name) for name in attributes} == attributes


@pytest.mark.parametrize("error", [e[0] for e in ERRORS], ids=[type(e[0]).__name__ for e in ERRORS])
def test_error_pickles_one_way_keeping_an_attribute_added_later(error):
    error.note_added_later = "kept"
    clone = pickle.loads(pickle.dumps(error))
    assert clone.__dict__ == error.__dict__
    assert type(error).__reduce__ is RunnerError.__reduce__


def test_remote_traceback_round_trips_pickle():
    remote = ep._RemoteTracebackError("Traceback ...", device="cpu", pid=3, hook="producer_work")
    clone = pickle.loads(pickle.dumps(remote))
    assert (str(clone), clone.device, clone.pid, clone.hook) == (
        "Traceback ...",
        "cpu",
        3,
        "producer_work",
    )


def test_death_message_names_signal_device_pid_and_fix():
    failure = ep._Failure(
        kind="died",
        hook="while running producer_work",
        device="cuda:1",
        pid=4312,
        traceback="",
        exitcode=-9,
        summary="the call stopped with 3 of its batches in flight",
    )
    error = ep._death_error(failure)
    assert str(error) == (
        "producer for 'cuda:1' (pid 4312) was killed by SIGKILL while running producer_work; "
        "the call stopped with 3 of its batches in flight. SIGKILL usually means the system ran "
        "out of memory: lower queue_scale or the memory each item needs. The runner is closed "
        "now: call activate() to start new producers."
    )
    assert (error.device, error.pid, error.exitcode) == ("cuda:1", 4312, -9)
