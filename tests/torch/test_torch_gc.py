"""The garbage collector may run anywhere, any time, beside a torch runner.

Found: every message a runner pickled was a reference cycle that held views of tensor
memory; ``gc.collect()`` after a call (or in a producer hook) printed ``BufferError:
memoryview has 1 exported buffer`` and killed the process with SIGSEGV, and with the
collector disabled each message stayed in memory for good. Each case runs in a fresh
process, whose exit status and stderr tell.
"""

from __future__ import annotations

import pytest
from _torch_support import run_script

SMALL = 100  # float32 elements: 400 bytes, by value through the pipe
RING = 128 * 1024  # 512 KiB: through the shared-memory rings

COLLECT_EVERYWHERE = """
import gc

import torch
from _torch_runners import Drop, KeepAll

def inputs(numel):
    flat = [torch.randn(numel) for _ in range(120)]
    nested = [[torch.randn(numel), [torch.randn(numel), {{"t": torch.randn(numel)}}]]
              for _ in range(20)]
    return flat, nested

if __name__ == "__main__":
    for runner_class in (Drop, KeepAll):  # results dropped, then kept
        with runner_class(devices=2, cfg={{"collect": {in_producers}}}) as runner:
            for data in inputs({numel}):
                results = runner(data)
                gc.collect()
                del results
                gc.collect()
    print("survived")
"""


def assert_survived(done) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("survived")
    assert "BufferError" not in done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr[-3000:]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("numel", [SMALL, RING], ids=["small", "ring-sized"])
@pytest.mark.parametrize("in_producers", [False, True], ids=["caller", "producers-too"])
def test_collecting_garbage_anywhere_neither_crashes_nor_warns(tmp_path, numel, in_producers):
    source = COLLECT_EVERYWHERE.format(numel=numel, in_producers=in_producers)
    assert_survived(run_script(tmp_path, source, timeout=220))


@pytest.mark.timeout(240)
def test_collecting_garbage_after_a_producer_died_neither_crashes_nor_warns(tmp_path):
    source = """
    import gc

    import torch
    from _torch_runners import Drop
    from easycore_torch import ProducerDiedError

    if __name__ == "__main__":
        with Drop(devices=2) as runner:
            for numel in (100, 128 * 1024, 512 * 1024):  # pipe, ring, shared memory
                items = [torch.randn(numel) for _ in range(30)]
                try:
                    runner([*items, "exit", *items])
                except ProducerDiedError:
                    pass
                else:
                    raise AssertionError("the producer did not die")
                gc.collect()
                runner.activate()
                runner(items)
                gc.collect()
        print("survived")
    """
    assert_survived(run_script(tmp_path, source, timeout=220))


@pytest.mark.timeout(240)
def test_memory_stays_flat_over_1000_calls_with_the_collector_disabled(tmp_path):
    source = """
    import collections
    import gc

    import psutil
    import torch
    from _torch_runners import Drop

    if __name__ == "__main__":
        gc.disable()  # a common latency trick: nothing may rely on the cyclic collector
        small = [torch.randn(4096) for _ in range(10)]  # 16 KiB each, through the pipe
        medium = [torch.randn(32 * 1024) for _ in range(2)]  # 128 KiB, through the rings
        me = psutil.Process()
        with Drop(devices=2) as runner:
            for _ in range(100):
                runner(small + medium)
            before = me.memory_info().rss
            for _ in range(1000):
                runner(small + medium)
            after = me.memory_info().rss
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        kinds = collections.Counter(type(thing).__name__ for thing in gc.garbage)
        print("growth", (after - before) / 2**20)
        for kind in ("_TensorPickler", "_Message", "BytesIO", "PickleBuffer", "Tensor"):
            print(kind, kinds[kind])
    """
    done = run_script(tmp_path, source, timeout=220)
    assert done.returncode == 0, done.stderr[-3000:]
    report = {name: float(value) for name, value in map(str.split, done.stdout.splitlines())}
    # Before the fix each of the 1,100 messages was a cycle: some 200 MiB stayed.
    assert report.pop("growth") < 16, done.stdout
    assert report == dict.fromkeys(report, 0.0), "messages were left to the cyclic collector"
