"""easycore-torch: batched MLP inference on 2 CPU producers against the same loop in one process.

    hatch run bench:python benchmarks/torch/bench_torch.py [--quick]

The work is the reference's example 3 at a realistic size: a 3-layer MLP (512 -> 512 ->
512 -> 512, ReLU between, eval mode, no_grad) over batches of 256 x 512 float32 made in
the caller, as a data loader would (16 distinct batches, cycled), every output collected
in order by the consumer (a list, as the loop builds it: concatenating 200 MB at the end
would add the same serial 0.2 s to every contender). Rows, each measured in the same run:

- 2 producers (``OrderedRunner(["cpu", "cpu"])``, one torch thread each) against the loop
  with ``torch.set_num_threads(1)``: target >= 1.6x;
- the same 2 producers against the loop with torch using both cores (intra-op threads):
  target >= 1.0x;
- the same 2 producers with batches twice as tall (512 x 512, 1 MiB in and 1 MiB out, half
  as many), against the one-thread loop on them: a consumer that keeps every result of
  1 MiB, each handed over in a shared-memory segment of its own (the way that holds a file
  descriptor per kept tensor until the runner copies instead near ``ulimit -n``); target
  >= 1.6x, as the first row;
- for reference, no target: the ceiling of any design with one process per core. Two
  independent processes, each with its own model and its half of the batches made in
  place, run the loop with one thread each; nothing crosses a process boundary. What
  the producers lose to this row is the runner's whole cost (sending, receiving,
  waking, the caller's share of the cores); what this row loses to the all-cores loop,
  processes lose to intra-op threads here, whatever the runner.

Throughput is in batches per second. The four contenders run in alternation, several
rounds, and the best round of each counts: load from other processes on a shared machine
only ever slows a round down. ``run(quick)`` returns the rows for the report; ``--quick``
(what CI runs) takes under 30 s. A result that differs from the loop's raises: outputs
are compared element by element, the ceiling's (which stay in its processes) by a
fingerprint per output, a sum weighted by fixed random weights.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from easycore_torch import OrderedRunner

HERE = Path(__file__).resolve().parent
WIDTH = 512
BATCH_SIZE = 256
DISTINCT_BATCHES = 16
PRODUCERS = 2


def make_model() -> nn.Module:
    """The same weights in every process: seeded."""
    torch.manual_seed(0)
    layers = [nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(WIDTH, WIDTH)).eval()


def make_batches(count: int, batch_size: int = BATCH_SIZE) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    distinct = [
        torch.randn(batch_size, WIDTH, generator=generator) for _ in range(DISTINCT_BATCHES)
    ]
    return [distinct[i % DISTINCT_BATCHES] for i in range(count)]


class Predictor(OrderedRunner):
    """Example 3 of the reference, on this benchmark's model."""

    @staticmethod
    def producer_init(device, cfg):
        cfg.model = make_model().to(device)

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            return cfg.model(data.to(device)).cpu()

    @staticmethod
    def consumer_init(cfg):
        cfg.outputs = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.outputs.append(data)

    @staticmethod
    def consumer_end(cfg):
        return cfg.outputs


def loop(model: nn.Module, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    """The same work in this process: what a user writes without a runner."""
    outputs = []
    with torch.no_grad():
        for batch in batches:
            outputs.append(model(batch))
    return outputs


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure and return the report rows (name, ours, peer, ratio, target, ok)."""
    count, rounds = (150, 4) if quick else (400, 6)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # forkserver producers import this module by name
    batches = make_batches(count)
    tall_batches = make_batches(count // 2, 2 * BATCH_SIZE)  # 1 MiB each way
    model = make_model()
    threads_before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with Predictor(["cpu"] * PRODUCERS) as runner, _Ceiling(count) as ceiling:
        expected = loop(model, batches)
        expected_tall = loop(model, tall_batches)
        fingerprints = _fingerprints(expected)

        def same_outputs(outputs: list[torch.Tensor]) -> bool:
            return _same(outputs, expected)

        def same_tall_outputs(outputs: list[torch.Tensor]) -> bool:
            return _same(outputs, expected_tall)

        contenders: dict[str, tuple[Callable[[], Any], Callable[[Any], bool]]] = {
            "easycore-torch": (lambda: runner(batches), same_outputs),
            "1 thread": (lambda: _with_threads(1, lambda: loop(model, batches)), same_outputs),
            "all cores": (
                lambda: _with_threads(cores or 1, lambda: loop(model, batches)),
                same_outputs,
            ),
            "ceiling": (ceiling.run, lambda _: ceiling.matches(fingerprints)),
            "easycore-torch, 1 MiB kept": (lambda: runner(tall_batches), same_tall_outputs),
            "1 thread, 1 MiB": (
                lambda: _with_threads(1, lambda: loop(model, tall_batches)),
                same_tall_outputs,
            ),
        }
        best = _best_times(contenders, rounds)
    torch.set_num_threads(threads_before)
    rate = {name: count / seconds for name, seconds in best.items()}
    for name in ("easycore-torch, 1 MiB kept", "1 thread, 1 MiB"):
        rate[name] = len(tall_batches) / best[name]
    rows = []
    for ours, peer, label, target in [
        ("easycore-torch", "1 thread", "loop, torch.set_num_threads(1)", 1.6),
        ("easycore-torch", "all cores", f"loop, torch on all {cores} cores", 1.0),
        ("ceiling", "all cores", f"loop, torch on all {cores} cores", None),
        ("easycore-torch, 1 MiB kept", "1 thread, 1 MiB", "loop, torch.set_num_threads(1)", 1.6),
    ]:
        who = {
            "easycore-torch": f"{PRODUCERS} producers",
            "ceiling": "for reference: ceiling",
            "easycore-torch, 1 MiB kept": f"{PRODUCERS} producers, every 1 MiB result kept,",
        }[ours]
        ratio = rate[ours] / rate[peer]
        rows.append(
            {
                "name": f"MLP inference, {who} vs {label} (batches/s)",
                "ours": round(rate[ours], 1),
                "peer": round(rate[peer], 1),
                "ratio": round(ratio, 3),
                "target": None if target is None else f">= {target}x",
                "ok": None if target is None else ratio >= target,
            }
        )
    return rows


class _Ceiling:
    """Two processes that run the loop on their own halves, started once, run on demand."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("forkserver")
        self._pipes: list[Any] = []
        self._processes: list[Any] = []
        try:
            for index in range(PRODUCERS):
                ours, theirs = context.Pipe()
                self._pipes.append(ours)
                process = context.Process(
                    target=_ceiling_worker, args=(theirs, index, count), daemon=True
                )
                process.start()
                theirs.close()
                self._processes.append(process)
            for pipe in self._pipes:
                pipe.recv()  # ready: model built, batches made
        except BaseException:
            self.close()
            raise

    def run(self) -> None:
        """Run both halves at once; return when both are done (the timed part)."""
        for pipe in self._pipes:
            pipe.send("go")
        for pipe in self._pipes:
            pipe.recv()

    def matches(self, fingerprints: torch.Tensor) -> bool:
        """Tell whether the last run's outputs, in order, have these fingerprints."""
        for pipe in self._pipes:
            pipe.send("fingerprints")
        got = torch.cat([pipe.recv() for pipe in self._pipes])
        return got.shape == fingerprints.shape and torch.allclose(got, fingerprints, atol=1e-2)

    def __enter__(self) -> _Ceiling:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop both processes; kill one that does not stop."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):  # a worker that died has closed its end
                pipe.send(None)
            pipe.close()
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()


def _ceiling_worker(pipe: Any, index: int, count: int) -> None:
    torch.set_num_threads(1)
    model = make_model()
    half = make_batches(count)[index * count // PRODUCERS : (index + 1) * count // PRODUCERS]
    outputs: list[torch.Tensor] = []
    pipe.send("ready")
    while (request := pipe.recv()) is not None:
        if request == "go":
            outputs = loop(model, half)
            pipe.send("done")
        else:
            pipe.send(_fingerprints(outputs))


def _same(outputs: list[torch.Tensor], expected: list[torch.Tensor]) -> bool:
    return len(outputs) == len(expected) and all(
        torch.allclose(got, want, atol=1e-4) for got, want in zip(outputs, expected, strict=True)
    )


def _fingerprints(outputs: list[torch.Tensor]) -> torch.Tensor:
    """One number per output: its sum weighted by fixed random weights (any swap shows)."""
    weights = torch.randn(BATCH_SIZE, WIDTH, generator=torch.Generator().manual_seed(2))
    return torch.stack([(output.double() * weights.double()).sum() for output in outputs])


def _with_threads(threads: int, work: Callable[[], list[torch.Tensor]]) -> list[torch.Tensor]:
    torch.set_num_threads(threads)
    return work()


def _best_times(
    contenders: dict[str, tuple[Callable[[], Any], Callable[[Any], bool]]], rounds: int
) -> dict[str, float]:
    """Best seconds of each contender (a run, and a check of what it returned)."""
    best = dict.fromkeys(contenders, float("inf"))
    names = list(contenders)
    for round_index in range(rounds):
        # Rotate who goes first, so no one always runs right after the same neighbour.
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            work, check = contenders[name]
            started = time.perf_counter()
            result = work()
            elapsed = time.perf_counter() - started
            if not check(result):
                raise RuntimeError(f"{name} computed a different result")
            best[name] = min(best[name], elapsed)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="150 batches, 4 rounds")
    args = parser.parse_args(argv)
    for row in run(quick=args.quick):
        verdict = {True: "ok", False: "MISSED", None: "reference"}[row["ok"]]
        print(
            f"{row['name']}: ours {row['ours']} vs {row['peer']} -> "
            f"{row['ratio']:.2f}x (target {row['target'] or '-'}) {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
