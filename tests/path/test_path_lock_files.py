"""Lock and partial files: never a user's name, never left in the user's folder, any name length."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from easycore_path import DownloadError, PathManager, download_file, file_lock

if TYPE_CHECKING:
    from conftest import Site

BODY = os.urandom(100_000)


def _user_files(folder: Path) -> list[str]:
    """What the user sees in ``folder``: everything but the hidden work folder."""
    return sorted(name for name in os.listdir(folder) if name != ".easycore-locks")


def _leftovers(folder: Path) -> list[str]:
    """Partial and temporary files in the hidden work folder (locks and notes may stay)."""
    work = folder / ".easycore-locks"
    partial = (".part", ".part.json", ".tmp")
    return sorted(p.name for p in work.glob("*") if p.name.endswith(partial))


@pytest.mark.parametrize(
    ("first", "second"),
    [("Gemfile", "Gemfile.lock"), ("Pipfile", "Pipfile.lock")],
    ids=["gemfile", "pipfile"],
)
def test_a_file_and_its_dot_lock_sibling_both_download(
    http_site: Site, tmp_path: Path, first: str, second: str
) -> None:
    first_url = http_site.serve(f"/{first}", b"source 'https://rubygems.org'")
    second_url = http_site.serve(f"/{second}", b"GEM\n  specs:\n")
    download_file(first_url, str(tmp_path), progress=False)
    path = download_file(second_url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == b"GEM\n  specs:\n"
    assert (tmp_path / first).read_bytes() == b"source 'https://rubygems.org'"


def test_downloading_a_file_keeps_the_users_dot_lock_file(http_site: Site, tmp_path: Path) -> None:
    (tmp_path / "Pipfile.lock").write_text('{"default": {}}')
    download_file(http_site.serve("/Pipfile", b"[packages]"), str(tmp_path), progress=False)
    assert (tmp_path / "Pipfile.lock").read_text() == '{"default": {}}'


def test_file_lock_keeps_the_users_dot_lock_file(tmp_path: Path) -> None:
    (tmp_path / "Gemfile.lock").write_text("GEM")
    with file_lock(str(tmp_path / "Gemfile")):
        assert (tmp_path / "Gemfile.lock").read_text() == "GEM"
    assert (tmp_path / "Gemfile.lock").read_text() == "GEM"


def _name_of(length: int) -> str:
    stem = "w" * (length - len(".bin"))
    return f"{stem}.bin"


@pytest.mark.parametrize("length", [237, 250, 255], ids=["237", "250", "255"])
def test_names_up_to_the_file_system_limit_download(
    http_site: Site, tmp_path: Path, length: int
) -> None:
    name = _name_of(length)
    path = download_file(http_site.serve(f"/{name}", BODY), str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert _user_files(tmp_path) == [name]
    assert _leftovers(tmp_path) == []


def test_a_failed_download_of_a_long_name_is_a_download_error(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.url(f"/{_name_of(255)}")  # 404
    with pytest.raises(DownloadError, match="does not exist"):
        download_file(url, str(tmp_path), progress=False)
    assert _user_files(tmp_path) == []
    assert _leftovers(tmp_path) == []


def _refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/x.bin"


@pytest.mark.parametrize("status", [404, 403, 500], ids=["404", "403", "500"])
def test_a_failed_download_leaves_nothing_in_the_folder(
    http_site: Site, tmp_path: Path, status: int
) -> None:
    url = http_site.add("/x.bin", http_site.Route(status=status, body=b"no"))
    with pytest.raises(DownloadError, match=r"x\.bin"):
        download_file(url, str(tmp_path), progress=False)
    assert _user_files(tmp_path) == []
    assert _leftovers(tmp_path) == []


def test_a_refused_connection_leaves_nothing_in_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="could not reach"):
        download_file(_refused_url(), str(tmp_path), progress=False)
    assert _user_files(tmp_path) == []
    assert _leftovers(tmp_path) == []


# -- file systems without flock, and forked children ---------------------------

# File systems that refuse flock: some Lustre mounts answer ENOSYS, NFS without lockd
# ENOLCK, some FUSE mounts EOPNOTSUPP. This child behaves like one (its first argument
# names the errno).
_HOLD_WITHOUT_FLOCK = textwrap.dedent(
    """
    import errno, fcntl, os, sys, time

    def no_flock(fd, operation):
        code = getattr(errno, sys.argv[1])
        raise OSError(code, os.strerror(code))

    fcntl.flock = no_flock
    from easycore_path import file_lock

    with file_lock(sys.argv[2], timeout=float(sys.argv[3])):
        print("locked", flush=True)
        if sys.argv[4] == "hold":
            time.sleep(120)
    """
)

_FLOCK_REFUSALS = ["ENOSYS", "ENOLCK", "EOPNOTSUPP"]


def _start(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("refusal", _FLOCK_REFUSALS, ids=str.lower)
@pytest.mark.timeout(90)
def test_lock_without_flock_excludes_others_and_recovers_from_a_dead_holder(
    tmp_path: Path, refusal: str
) -> None:
    target = str(tmp_path / "shared.bin")
    holder = _start(_HOLD_WITHOUT_FLOCK, refusal, target, "10", "hold")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        waiter = _start(_HOLD_WITHOUT_FLOCK, refusal, target, "0.5", "release")
        _, err = waiter.communicate(timeout=60)
        assert waiter.returncode != 0
        assert "LockTimeoutError" in err  # the holder still holds it
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    successor = _start(_HOLD_WITHOUT_FLOCK, refusal, target, "20", "release")
    out, err = successor.communicate(timeout=60)
    assert successor.returncode == 0, err
    assert out.strip() == "locked"


@pytest.mark.timeout(90)
def test_a_soft_lock_timeout_names_the_soft_lock_file_and_when_to_delete_it(
    tmp_path: Path,
) -> None:
    target = str(tmp_path / "shared.bin")
    holder = _start(_HOLD_WITHOUT_FLOCK, "ENOLCK", target, "10", "hold")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        waiter = _start(_HOLD_WITHOUT_FLOCK, "ENOLCK", target, "0.5", "release")
        _, err = waiter.communicate(timeout=60)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    soft_locks = list((tmp_path / ".easycore-locks").glob("*.lock.soft"))
    assert len(soft_locks) == 1
    assert f"holds {str(soft_locks[0])!r}" in err
    assert "a holder on another host cannot be seen dead from here" in err


_HOLD_AND_FORK = textwrap.dedent(
    """
    import os, sys, time
    from easycore_path import file_lock

    with file_lock(sys.argv[1]):
        child = os.fork()
        if child == 0:  # a child (a DataLoader worker, say) that outlives its parent
            time.sleep(120)
            os._exit(0)
        print(child, flush=True)
        time.sleep(120)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.timeout(60)
def test_a_forked_child_does_not_keep_its_killed_parents_lock(tmp_path: Path) -> None:
    target = str(tmp_path / "shared.bin")
    holder = _start(_HOLD_AND_FORK, target)
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    try:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with file_lock(target, timeout=10):  # LockTimeoutError if the child kept the lock
            pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


# -- folders where no lock can be made -----------------------------------------

# A 0o555 folder stops everyone but root (or a process with CAP_DAC_OVERRIDE); a path
# under a file stops root too, so one of the two always runs.
_UNWRITABLE = ["read_only", "under_a_file"]


def _unwritable_folder(tmp_path: Path, how: str) -> Path:
    """Return a folder in which nothing can be created, made the way ``how`` names."""
    if how == "read_only":
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            (folder / "probe").mkdir()
        except PermissionError:
            return folder
        (folder / "probe").rmdir()
        pytest.skip("this process writes into a 0o555 folder anyway (root)")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "folder"


@pytest.mark.parametrize("how", _UNWRITABLE)
def test_file_lock_in_an_unwritable_folder_names_the_folder_and_the_fix(
    tmp_path: Path, how: str
) -> None:
    folder = _unwritable_folder(tmp_path, how)
    lock_folder = str(folder / ".easycore-locks")
    expected = PermissionError if how == "read_only" else NotADirectoryError
    with (
        pytest.raises(expected, match="EASYCORE_CACHE") as info,
        file_lock(str(folder / "data.bin"), timeout=5),
    ):
        pytest.fail("the lock was entered")
    assert f"its lock folder {lock_folder!r} cannot be created or written" in str(info.value)
    assert info.value.filename == lock_folder


@pytest.mark.parametrize("how", _UNWRITABLE)
def test_download_into_an_unwritable_folder_is_a_download_error_with_the_fix(
    http_site: Site, tmp_path: Path, how: str
) -> None:
    folder = _unwritable_folder(tmp_path, how)
    url = http_site.serve("/data.bin", BODY)
    with pytest.raises(DownloadError, match="Pick a folder you may write to") as info:
        download_file(url, str(folder), progress=False)
    assert info.value.url == url
    assert str(folder) in str(info.value)
    assert http_site.hits("/data.bin") == 0


def test_get_local_path_with_an_unwritable_cache_names_easycore_cache(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _unwritable_folder(tmp_path, "under_a_file")
    monkeypatch.setenv("EASYCORE_CACHE", str(cache))
    url = http_site.serve("/data.bin", BODY)
    with pytest.raises(DownloadError, match="set EASYCORE_CACHE") as info:
        PathManager.get_local_path(url)
    assert info.value.url == url
    assert str(cache) in str(info.value)
