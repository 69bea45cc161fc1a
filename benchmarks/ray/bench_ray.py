"""easycore-parallel's backend="ray" against Ray's own ActorPool and a serial loop.

    hatch run bench:python benchmarks/ray/bench_ray.py [--quick]

Rows (each measured in the same run, on Ray started in this process; the machine is
shared, so only ratios mean much):

- tiny tasks: ``x * x`` through an activated runner of 2 actors, summed in the consumer,
  against ``ray.util.ActorPool.map`` over 2 actors of the same resources, one item per
  actor call (items per second, >= 10x: batching must carry over to Ray);
- 10 ms CPU-bound tasks on 2 actors against a serial loop in this process (>= 1.8x);
- the round trip of a one-item call, and the start of a runner's actors (no target: what
  to expect from latency on Ray);
- for reference, the same 10 ms tasks on ``multiprocessing.Pool(2)`` against the serial
  loop, measured just before Ray starts: when other work holds the cores, two processes
  gain less whatever runs them, and this row shows by how much.

Ray gets 4 logical CPUs so that the runner's two actors and the peer's two can stay up
together; only one side works at a time, on the machine's cores. Ray's workers run at
nice 0 here, as the serial loop does (Ray's default is 15). ``run(quick)`` returns
the rows as dicts for benchmarks/report.py; ``--quick`` finishes in well under a minute
and is what CI runs. Every result is checked; a wrong result raises.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# benchmarks/ holds the tasks shared with the other runner benchmarks.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _sweep_tasks import SumBurn, SumSquares, best_of_pairs, burn, print_rows, row

HERE = Path(__file__).resolve().parent
WORKERS = 2
NICENESS = "RAY_worker_niceness"  # a Ray setting: its name is case-sensitive


class Squarer:
    """The peer's actor: one call per item, as ActorPool.map makes them."""

    def square(self, x: int) -> int:
        return x * x


def timed(call: Callable[[], Any], expected: Any, what: str) -> float:
    start = time.perf_counter()
    got = call()
    elapsed = time.perf_counter() - start
    if got != expected:
        raise AssertionError(f"{what}: wrong result {got!r}, expected {expected!r}")
    return elapsed


def calibrate_burn(seconds: float) -> int:
    """Return n such that burn(n) takes about ``seconds`` here, when undisturbed."""
    n = 1000
    while True:
        took = min(timed(lambda n=n: burn(n), burn(n), "burn") for _ in range(3))
        if took > 0.02:
            return max(1, int(n * seconds / took))
        n *= 2


def run(quick: bool) -> list[dict[str, Any]]:
    """Run every comparison on Ray started here and return the rows (see the docstring)."""
    import ray

    n_10ms = calibrate_burn(0.010)  # before Ray: its start keeps the cores busy a while
    tasks = [n_10ms] * (200 if quick else 400)
    ceiling = _pool_ceiling(tasks)  # before Ray too: forking a process with its threads hangs
    started_ray = not ray.is_initialized()
    if started_ray:
        _start_ray(ray)
    try:
        return [*_run(ray, quick, tasks), ceiling]
    finally:
        if started_ray:
            ray.shutdown()


def _start_ray(ray: Any) -> None:
    # Ray starts its workers at nice 15, below every other process, so that its own
    # daemons stay responsive. On cores shared with other work that alone would decide
    # the 10 ms row against a serial loop at nice 0: both sides get the same priority.
    saved = os.environ.get(NICENESS)
    os.environ[NICENESS] = "0"
    try:
        ray.init(
            num_cpus=2 * WORKERS,
            include_dashboard=False,
            log_to_driver=False,
            # The actors import this module and the shared tasks by module name.
            runtime_env={
                "env_vars": {"PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])}
            },
        )
    finally:
        if saved is None:
            del os.environ[NICENESS]
        else:
            os.environ[NICENESS] = saved


def _pool_ceiling(tasks: list[int]) -> dict[str, Any]:
    """What two processes gain on these cores right now: the other load decides it."""
    expected = len(tasks) * burn(tasks[0])
    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        pool.map(burn, tasks[:4], chunksize=1)
        pool_time, serial = best_of_pairs(
            3,
            lambda: timed(lambda: sum(pool.map(burn, tasks, chunksize=1)), expected, "Pool"),
            lambda: timed(lambda: sum(burn(n) for n in tasks), expected, "serial loop"),
        )
    return row(
        "for reference: the same 10 ms tasks, multiprocessing.Pool(2) vs serial",
        pool_time,
        serial,
        unit="s",
        higher_is_better=False,
    )


def _run(ray: Any, quick: bool, tasks: list[int]) -> list[dict[str, Any]]:
    repeats = 3  # the cores are shared: the best of three is the least disturbed
    rows = []

    start = time.perf_counter()
    runner = SumSquares(WORKERS, backend="ray")
    actor_start = time.perf_counter() - start
    peer_actors = [ray.remote(num_cpus=1)(Squarer).remote() for _ in range(WORKERS)]
    pool = ray.util.ActorPool(peer_actors)
    ours_items, peer_items = (200_000, 2_000) if quick else (1_000_000, 10_000)
    with runner:
        runner(range(1000))  # warm up both sides: imports, first calls
        sum(pool.map(lambda actor, x: actor.square.remote(x), range(100)))
        ours_time, peer_time = best_of_pairs(
            repeats,
            lambda: timed(
                lambda: runner(range(ours_items)),
                sum(x * x for x in range(ours_items)),
                "backend='ray' tiny tasks",
            ),
            lambda: timed(
                lambda: sum(pool.map(lambda actor, x: actor.square.remote(x), range(peer_items))),
                sum(x * x for x in range(peer_items)),
                "ActorPool.map tiny tasks",
            ),
        )
        ours, peer = ours_items / ours_time, peer_items / peer_time
        rows.append(
            row(
                "tiny x*x, items/s, vs ray.util.ActorPool.map (2 actors)",
                ours,
                peer,
                unit="items/s",
                higher_is_better=True,
                min_ratio=10.0,
            )
        )
        latency = _one_item_latency(runner, 30 if quick else 200)
    for actor in peer_actors:
        ray.kill(actor)

    expected = len(tasks) * burn(tasks[0])
    with SumBurn(WORKERS, backend="ray") as runner:
        runner(tasks[:10])  # warm up
        ours_10ms, serial = best_of_pairs(
            repeats,
            lambda: timed(lambda: runner(tasks), expected, "backend='ray' 10 ms tasks"),
            lambda: timed(lambda: sum(burn(n) for n in tasks), expected, "serial loop"),
        )
    rows.append(
        row(
            "10 ms CPU-bound tasks on 2 actors vs serial loop",
            ours_10ms,
            serial,
            unit="s",
            higher_is_better=False,
            min_ratio=1.8,
        )
    )
    rows.append(
        row("one-item call round trip", latency * 1e3, None, unit="ms", higher_is_better=False)
    )
    rows.append(
        row(
            "start of 2 actors (the constructor)",
            actor_start,
            None,
            unit="s",
            higher_is_better=False,
        )
    )
    return rows


def _one_item_latency(runner: SumSquares, calls: int) -> float:
    samples = []
    for i in range(calls):
        samples.append(timed(lambda i=i: runner([i]), i * i, "one-item call"))
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes; under a minute")
    args = parser.parse_args()
    print_rows(run(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
