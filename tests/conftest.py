"""Shared by every test folder: ``tests/_helpers`` on sys.path, and each test run once in CI.

Only that folder goes on sys.path, never ``tests/`` itself: its subfolders would import
as namespace packages, and ``tests/torch`` would then pass for torch where torch is not
installed (the alone matrix).

``hatch run ci`` runs each component's tests in that component's ``alone`` environment,
which records the tests that passed there (``--record-passed FILE``); the workspace run
after it (``--skip-passed-in DIR``) deselects those and runs the rest: the docs, packaging
and metapackage tests, and every component test that was skipped alone (Ray, notebooks,
optional dependencies) or failed there. A plain ``pytest`` run records and skips nothing.

That workspace run uses pytest-xdist (``-n 3 --dist loadgroup``) for all but the runner
tests, which run after it, on their own: every file, and each case of a slow parametrized
test, is a job of its own (under ``--dist loadgroup`` the runner tests, when included,
share one worker, in order).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HELPERS = str(Path(__file__).resolve().parent / "_helpers")
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("easycore", "easycore CI: run each test once")
    group.addoption(
        "--record-passed",
        metavar="FILE",
        help="write the node id of each test that passed (setup, call and teardown) to FILE",
    )
    group.addoption(
        "--skip-passed-in",
        metavar="DIR",
        help="deselect the tests that the *.txt files of DIR record as passed",
    )


def pytest_configure(config: pytest.Config) -> None:
    record = config.getoption("record_passed")
    # Under pytest-xdist only the controller writes: every report reaches it.
    if record and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_PassedRecorder(Path(record)), "easycore-record-passed")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist adds the group to each node id
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    folder = config.getoption("skip_passed_in")
    if folder:
        passed = _recorded_passes(Path(folder))
        deselected = [item for item in items if item.nodeid in passed]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if item.nodeid not in passed]
    if getattr(config.option, "dist", "no") == "loadgroup":
        for item in items:
            item.add_marker(pytest.mark.xdist_group(_worker_group(item)))


# -- Internals: one run per test -----------------------------------------------------------


class _PassedRecorder:
    """Collects the node ids whose every phase passed; writes them when the session ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.passed: set[str] = set()
        self.not_passed: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed or (report.when == "call" and not report.passed):
            self.not_passed.add(report.nodeid)
        elif report.when == "call":
            self.passed.add(report.nodeid)

    def pytest_sessionfinish(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ids = sorted(self.passed - self.not_passed)
        self.path.write_text("".join(f"{nodeid}\n" for nodeid in ids), encoding="utf-8")


def _worker_group(item: pytest.Item) -> str:
    """The tests that share one pytest-xdist worker, run there in collection order.

    The runner tests (tests/parallel, tests/torch) all share one: they start processes and
    Ray for the session, and tests/parallel/conftest.py orders them so that Ray starts
    last. Each case of a slow parametrized test is a worker's job of its own (the install
    commands, a fresh venv each). Every other file keeps its tests together (its module
    fixtures build once).
    """
    if item.path.parent.name in ("parallel", "torch"):
        return "runners"
    if item.get_closest_marker("slow") and hasattr(item, "callspec"):
        return item.nodeid
    return str(item.path)


def _recorded_passes(folder: Path) -> set[str]:
    if not folder.is_dir():
        raise pytest.UsageError(
            f"--skip-passed-in {folder}: no such folder; it holds the --record-passed files "
            f"of the alone runs (hatch run alone:test writes them): run those first"
        )
    return {
        line
        for record in sorted(folder.glob("*.txt"))
        for line in record.read_text(encoding="utf-8").splitlines()
        if line
    }
