"""Thousands of kept tensors of 1 MiB or more work under the usual ``ulimit -n`` of 1024.

Found: torch's "file_descriptor" sharing strategy holds one descriptor per shared tensor
while it lives, so a consumer that kept its 1 MiB results failed near the 1,000th with
``NotPicklableError ... received 0 items of ancdata``, and 1 MiB inputs kept by the caller
failed with ``OSError: Too many open files``, reported as an unpicklable item. Now a
runner copies instead near the limit, and what it must not copy (tensors already shared)
fails with an error that names the limit and the fixes.

Each case runs in a fresh process under a real ``RLIMIT_NOFILE`` of 1024. 1,500 tensors of
1 MiB (1.5 GiB) go well past the limit; 10,000 would need 10 GiB of memory here.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from _torch_support import run_script

LIMIT = """
import resource

resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
"""


def run_limited(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a fresh process whose descriptor limit is 1024."""
    return run_script(tmp_path, LIMIT + textwrap.dedent(source), timeout=280)


@pytest.mark.timeout(300)
def test_consumer_keeps_1500_results_of_1_mib_under_ulimit_1024(tmp_path):
    source = """
    import os

    from _torch_runners import Full

    if __name__ == "__main__":
        with Full(devices=2, cfg={"numel": 256 * 1024}) as runner:  # 1 MiB results
            results = runner(range(1500))
        assert len(results) == 1500
        assert all(float(t[0]) == i and float(t[-1]) == i for i, t in enumerate(results))
        print("open", len(os.listdir("/proc/self/fd")))
    """
    done = run_limited(tmp_path, source)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) < 1024


@pytest.mark.timeout(300)
def test_caller_sends_1500_kept_inputs_of_1_mib_under_ulimit_1024(tmp_path):
    source = """
    import os

    import torch
    from _torch_runners import Total

    if __name__ == "__main__":
        inputs = [torch.full((256 * 1024,), float(i)) for i in range(1500)]  # kept: 1 MiB each
        with Total(devices=2) as runner:
            totals = runner(inputs)
        assert totals == [float(i * 256 * 1024) for i in range(1500)]
        print("open", len(os.listdir("/proc/self/fd")))
    """
    done = run_limited(tmp_path, source)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) < 1024


@pytest.mark.timeout(300)
def test_kept_tensors_already_shared_fail_at_once_naming_the_limit_and_the_fixes(tmp_path):
    # A tensor that was shared before it was sent stays shared (Hogwild-style): it is
    # never copied, so past the limit the call fails, and says why and what to do.
    source = """
    import gc

    import errno

    from _torch_runners import Shared

    if __name__ == "__main__":
        with Shared(devices=2) as runner:
            try:
                runner(range(2000))
            except OSError as err:
                assert err.errno == errno.EMFILE, err
                print(type(err).__name__, err)
            else:
                raise AssertionError("2,000 kept descriptors fit under a limit of 1024")
            # The failed call's results are dropped; its cfg (the engine's attribute dict)
            # refers to itself, so they are freed by the collector, not at once.
            gc.collect()
            runner(range(10))  # the runner goes on once the results are gone
        print("runner usable")
    """
    done = run_limited(tmp_path, source)
    assert done.returncode == 0, done.stderr[-3000:]
    report = done.stdout
    # The system's error as itself: not a NotPicklableError whose text blames the type.
    assert report.startswith("OSError"), report
    assert "importable" not in report, report
    for words in (
        "its limit is 1024 (ulimit -n)",
        "set_sharing_strategy('file_system')",
        "keep fewer tensors",
    ):
        assert words in report, report
    assert report.rstrip().endswith("runner usable")
