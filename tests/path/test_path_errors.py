"""Each error class: its builtin bases, its facts as attributes, and a pickle round trip."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from easycore_path import (
    ChecksumMismatchError,
    DownloadError,
    LockTimeoutError,
    PathError,
    PrefixConflictError,
    RedirectLoopError,
    RemoteFileNotFoundError,
    TruncatedDownloadError,
    UnknownProtocolError,
    UnsafeArchiveError,
    UnsupportedOperationError,
)

URL = "https://example.org/model.pth"

# (error, builtins it must also be, its facts)
ERRORS: list[tuple[PathError, tuple[type[BaseException], ...], dict[str, Any]]] = [
    (UnknownProtocolError("no handler", "s4://x"), (ValueError,), {"path": "s4://x"}),
    (PrefixConflictError("taken", "http://"), (ValueError,), {"prefix": "http://"}),
    (RedirectLoopError("loops", "a://x"), (ValueError,), {"path": "a://x"}),
    (
        UnsupportedOperationError("cannot", "http://h/x", "listdir"),
        (NotImplementedError,),
        {"path": "http://h/x", "operation": "listdir"},
    ),
    (DownloadError("failed", URL, 500), (OSError,), {"url": URL, "status": 500}),
    (
        RemoteFileNotFoundError("gone", URL, 404),
        (OSError, FileNotFoundError),
        {"url": URL, "status": 404},
    ),
    (
        TruncatedDownloadError("short", URL, 10, 20),
        (OSError,),
        {"url": URL, "received": 10, "expected": 20, "status": None},
    ),
    (
        ChecksumMismatchError("bad hash", URL, "/tmp/m.pth", "a" * 64, "b" * 64),
        (OSError,),
        {"url": URL, "path": "/tmp/m.pth", "expected": "a" * 64, "actual": "b" * 64},
    ),
    (
        UnsafeArchiveError("escapes", "/tmp/w.tar", "../evil"),
        (ValueError,),
        {"path": "/tmp/w.tar", "member": "../evil"},
    ),
    (
        LockTimeoutError("busy", "/tmp/x.lock", 1800.0),
        (TimeoutError, OSError),
        {"lock_file": "/tmp/x.lock", "timeout": 1800.0},
    ),
]
IDS = [type(error).__name__ for error, _, _ in ERRORS]


@pytest.mark.parametrize(("error", "bases", "facts"), ERRORS, ids=IDS)
def test_error_is_a_path_error_and_its_builtins(
    error: PathError, bases: tuple[type[BaseException], ...], facts: dict[str, Any]
) -> None:
    assert isinstance(error, PathError)
    for base in bases:
        assert isinstance(error, base)


@pytest.mark.parametrize(("error", "bases", "facts"), ERRORS, ids=IDS)
def test_error_carries_its_facts(
    error: PathError, bases: tuple[type[BaseException], ...], facts: dict[str, Any]
) -> None:
    for name, value in facts.items():
        assert getattr(error, name) == value


@pytest.mark.parametrize(("error", "bases", "facts"), ERRORS, ids=IDS)
def test_error_survives_pickle(
    error: PathError, bases: tuple[type[BaseException], ...], facts: dict[str, Any]
) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    for name, value in facts.items():
        assert getattr(copy, name) == value


def _every_error_class(base: type[PathError] = PathError) -> list[type[PathError]]:
    found = [base]
    for subclass in base.__subclasses__():
        found += _every_error_class(subclass)
    return found


def test_the_table_covers_every_error_class() -> None:
    assert {type(error) for error, _, _ in ERRORS} | {PathError} == set(_every_error_class())


@pytest.mark.parametrize(("error", "bases", "facts"), ERRORS, ids=IDS)
def test_error_pickles_an_attribute_added_later(
    error: PathError, bases: tuple[type[BaseException], ...], facts: dict[str, Any]
) -> None:
    error.added_later = 42  # type: ignore[attr-defined]
    try:
        copy = pickle.loads(pickle.dumps(error))
    finally:
        del error.added_later  # type: ignore[attr-defined]
    assert type(copy) is type(error)
    assert copy.args == error.args
    assert vars(copy) == {**vars(error), "added_later": 42}


def test_plain_path_error_pickles_with_its_attributes() -> None:
    error = PathError("plain")
    error.note = "kept"  # type: ignore[attr-defined]
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.args, vars(copy)) == (PathError, ("plain",), {"note": "kept"})


@pytest.mark.parametrize(("error", "bases", "facts"), ERRORS, ids=IDS)
def test_error_str_is_the_message_alone(
    error: PathError, bases: tuple[type[BaseException], ...], facts: dict[str, Any]
) -> None:
    assert str(error) == error.args[0]
    assert "Errno" not in str(error)


def test_download_error_status_defaults_to_none() -> None:
    assert DownloadError("failed", URL).status is None


def test_download_errors_are_caught_as_os_error() -> None:
    with pytest.raises(OSError, match="stopped"):
        raise TruncatedDownloadError(f"{URL} stopped at 1 of 2 bytes", URL, 1, 2)
