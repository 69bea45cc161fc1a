"""Many threads and processes share one download; locks of dead processes never block."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from easycore_path import (
    ChecksumMismatchError,
    LockTimeoutError,
    PathManager,
    download_file,
    file_lock,
)

if TYPE_CHECKING:
    from conftest import Site

BODY = os.urandom(2 * 1024 * 1024)
DIGEST = hashlib.sha256(BODY).hexdigest()
PROCESSES = 4
THREADS = 8

# Each child starts THREADS threads that fetch the URL at once, after the parent says go.
_CHILD = textwrap.dedent(
    """
    import hashlib, os, sys, threading, time
    from easycore_path import PathManager, download_file

    api, url, go, target_dir = sys.argv[1:5]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)

    def fetch():
        if api == "download_file":
            path = download_file(url, target_dir, progress=False)
        else:
            path = PathManager.get_local_path(url)
        with open(path, "rb") as f:
            line = f"{path} {hashlib.sha256(f.read()).hexdigest()}\\n"
        sys.stdout.write(line)  # one write per line: threads must not interleave words

    threads = [threading.Thread(target=fetch) for _ in range(int(sys.argv[5]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    """
)


def _start(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(process: subprocess.Popen[str], expected: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line == expected, process.stderr.read() if process.stderr else line


@pytest.mark.timeout(120)
@pytest.mark.parametrize("api", ["get_local_path", "download_file"])
def test_processes_and_threads_share_exactly_one_get(
    http_site: Site, tmp_path: Path, api: str
) -> None:
    url = http_site.add("/shared.bin", http_site.Route(body=BODY, block_delay=0.01))
    go = tmp_path / "go"
    target_dir = tmp_path / "downloads"
    children = [
        _start(_CHILD, api, url, str(go), str(target_dir), str(THREADS)) for _ in range(PROCESSES)
    ]
    for child in children:
        _wait_for_line(child, "ready")
    go.touch()
    lines = []
    for child in children:
        out, err = child.communicate(timeout=100)
        assert child.returncode == 0, err
        assert "Traceback" not in err, err
        lines += out.split()
    paths, digests = set(lines[0::2]), set(lines[1::2])
    assert len(lines) == 2 * PROCESSES * THREADS
    assert http_site.hits("/shared.bin") == 1
    assert digests == {DIGEST}
    assert len(paths) == 1
    assert not [p for p in Path(next(iter(paths))).parent.iterdir() if p.name.endswith(".part")]


@pytest.mark.timeout(60)
def test_threads_in_one_process_share_one_get(http_site: Site) -> None:
    url = http_site.add("/threads.bin", http_site.Route(body=BODY, block_delay=0.005))
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(PathManager.get_local_path(url)))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == THREADS
    assert len(set(results)) == 1
    assert Path(results[0]).read_bytes() == BODY
    assert http_site.hits("/threads.bin") == 1


@pytest.mark.timeout(60)
def test_waiter_with_sha256_checks_the_file_another_thread_downloaded(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.add("/checked.bin", http_site.Route(body=BODY, block_delay=0.01))
    errors: list[ChecksumMismatchError] = []

    def fetch(sha256: str | None) -> None:
        try:
            download_file(url, str(tmp_path), progress=False, sha256=sha256)
        except ChecksumMismatchError as err:
            errors.append(err)

    first = threading.Thread(target=fetch, args=(None,))
    first.start()
    while http_site.hits("/checked.bin") == 0:  # the first caller holds the lock now
        time.sleep(0.005)
    second = threading.Thread(target=fetch, args=("0" * 64,))
    second.start()
    first.join()
    second.join()
    assert http_site.hits("/checked.bin") == 1
    assert len(errors) == 1
    assert errors[0].actual == DIGEST
    assert (tmp_path / "checked.bin").read_bytes() == BODY


_HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from easycore_path import file_lock

    with file_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


@pytest.mark.timeout(60)
def test_lock_of_a_killed_process_does_not_block(tmp_path: Path) -> None:
    target = str(tmp_path / "file")
    holder = _start(_HOLD_LOCK, target)
    _wait_for_line(holder, "locked")
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert _lock_files(tmp_path)  # the stale file is still there...
    with file_lock(target, timeout=10):  # ...and does not block
        pass


@pytest.mark.timeout(60)
def test_download_after_a_killed_lock_holder_succeeds(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/after-kill.bin", BODY)
    holder = _start(_HOLD_LOCK, str(tmp_path / "after-kill.bin"))
    _wait_for_line(holder, "locked")
    holder.kill()
    holder.wait(timeout=30)
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY


_SLOW_DOWNLOAD = textwrap.dedent(
    """
    import sys
    from easycore_path import download_file

    print("started", flush=True)
    download_file(sys.argv[1], sys.argv[2], progress=False)
    """
)


@pytest.mark.timeout(60)
def test_download_killed_midway_leaves_no_file_and_the_next_call_succeeds(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.add(
        "/killed.bin",
        http_site.Route(body=BODY, block_delay=0.5),
        http_site.Route(body=BODY),
    )
    child = _start(_SLOW_DOWNLOAD, url, str(tmp_path))
    _wait_for_line(child, "started")
    while http_site.hits("/killed.bin") == 0:  # wait until the body is flowing
        time.sleep(0.01)
    time.sleep(0.3)
    child.kill()
    child.wait(timeout=30)
    assert not (tmp_path / "killed.bin").exists()
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY


@pytest.mark.timeout(60)
def test_held_lock_times_out_with_lock_timeout_error(tmp_path: Path) -> None:
    target = str(tmp_path / "busy")
    holder = _start(_HOLD_LOCK, target)
    try:
        _wait_for_line(holder, "locked")
        with (
            pytest.raises(LockTimeoutError, match=r"could not lock .*busy' within 0.2 s") as info,
            file_lock(target, timeout=0.2),
        ):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert info.value.lock_file in map(str, _lock_files(tmp_path))
    assert info.value.timeout == 0.2
    assert isinstance(info.value, TimeoutError)
    # Deleting a held lock file would let a second holder in: never the advice.
    assert "delete" not in str(info.value)
    assert "releases it when it ends or dies" in str(info.value)


def test_file_lock_creates_a_hidden_lock_file_and_its_directory(tmp_path: Path) -> None:
    target = tmp_path / "not" / "yet" / "there.bin"
    with file_lock(str(target)):
        [lock] = _lock_files(target.parent)
        assert lock.name.startswith("there.bin-")
    assert os.listdir(target.parent) == [".easycore-locks"]


def _lock_files(folder: Path) -> list[Path]:
    return sorted((folder / ".easycore-locks").glob("*.lock"))


@pytest.mark.timeout(60)
def test_file_lock_excludes_threads_of_one_process(tmp_path: Path) -> None:
    target = str(tmp_path / "counter")
    Path(target).write_text("0")
    inside: list[int] = []
    overlaps: list[int] = []

    def bump() -> None:
        with file_lock(target):
            inside.append(1)
            overlaps.append(len(inside))
            value = int(Path(target).read_text())
            time.sleep(0.01)
            Path(target).write_text(str(value + 1))
            inside.pop()

    threads = [threading.Thread(target=bump) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Path(target).read_text() == str(THREADS)
    assert max(overlaps) == 1


@pytest.mark.timeout(60)
def test_download_inside_the_originals_file_lock_pattern_does_not_deadlock(
    http_site: Site, tmp_path: Path
) -> None:
    # The original's file_lock example, with download_file as do_create_file(): the
    # original's HTTPURLHandler does exactly this. The inner lock is re-entered.
    url = http_site.serve("/nested.bin", BODY)
    target = str(tmp_path / "nested.bin")
    with file_lock(target, timeout=5):
        if not os.path.isfile(target):
            path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY


@pytest.mark.timeout(60)
def test_re_entered_file_lock_stays_held_until_the_outer_block_ends(tmp_path: Path) -> None:
    target = str(tmp_path / "nested")
    outcome: list[str] = []

    def try_lock() -> None:
        try:
            with file_lock(target, timeout=0.2):
                outcome.append("locked")
        except LockTimeoutError:
            outcome.append("timed out")

    with file_lock(target):
        with file_lock(target, timeout=0.2):
            pass
        other = threading.Thread(target=try_lock)
        other.start()
        other.join()
    assert outcome == ["timed out"]
    try_lock()
    assert outcome == ["timed out", "locked"]


def _lock_in_forked_child(target: str) -> None:
    try:
        with file_lock(target, timeout=0.3):
            os._exit(1)  # entered a lock that the parent holds
    except LockTimeoutError:
        os._exit(0)


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_child_forked_inside_a_lock_block_still_waits_for_it(tmp_path: Path) -> None:
    import multiprocessing

    target = str(tmp_path / "forked")
    with file_lock(target):
        child = multiprocessing.get_context("fork").Process(
            target=_lock_in_forked_child, args=(target,)
        )
        child.start()
        child.join(30)
    assert child.exitcode == 0
