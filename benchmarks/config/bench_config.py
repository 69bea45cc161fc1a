"""easycore_config against yacs and OmegaConf, measured side by side in one run.

On a generated YAML file of about 100 KB in 200 sections, each line compares
the time of one operation with a peer's and prints the ratio ours / peer
(below 1 means we are faster):

    load        CfgNode.load(text)     vs yacs load_cfg, OmegaConf.create
    attr        cfg.A.B.C              vs the same plain-dict lookup, yacs, OmegaConf
    deepcopy    copy.deepcopy(cfg)     vs yacs, OmegaConf
    dump        CfgNode.dump(cfg)      vs yacs dump(), OmegaConf.to_yaml
    set         cfg.A.B = v            with vs without ${...} in the config (ours only), for
                                       a key some ${...} reads and for one none reads

"(interp.)" rows use the same file with 3 ``${...}`` values per section, the
read one among them (yacs reads them as plain strings, OmegaConf resolves them).
Targets: load <= 0.1 x yacs and attr <= 1.6 x dict, with and without
interpolations; deepcopy and dump <= 1 x yacs. The set row
shows what resolving again the ${...} that read a changed key costs. The machine is shared,
so only ratios taken in the same run mean anything; each pair is timed in
alternation and the best round counts.

    python benchmarks/config/bench_config.py [--quick]

``run(quick)`` returns the rows for a report generator.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import timeit
from collections.abc import Callable
from typing import Any

SECTIONS = 200
ATTR_PATH = ("SECTION_100", "OPTIM", "MOMENTUM")


def make_yaml(sections: int = SECTIONS, interpolations: bool = False) -> str:
    """Return a config of ``sections`` sections, about 500 bytes each.

    With ``interpolations``, three values per section are ``${...}`` references,
    ``OPTIM.MOMENTUM`` (the one the attr rows read) among them.
    """
    lines: list[str] = []
    for i in range(sections):
        section = f"SECTION_{i:03d}"
        momentum = f"${{{section}.BASE_MOMENTUM}}" if interpolations else "0.9"
        lr = f"${{{section}.BASE_LR}}" if interpolations else "0.001"
        root = f"${{{section}.NAME}}" if interpolations else f"section_{i}"
        lines += [
            f"SECTION_{i:03d}:",
            f"  NAME: section_{i}",
            f"  ENABLED: {'true' if i % 2 else 'false'}",
            f"  BASE_LR: {0.001 * (i + 1):.6f}",
            "  WEIGHT_DECAY: 0.0001",
            f"  INPUT_SIZE: ({224 + i}, {224 + i})",
            "  CHANNELS: [64, 128, 256, 512]",
            "  STAGES: [res2, res3, res4, res5]",
            f"  DESCRIPTION: 'a quoted description of section number {i}'",
            "  BASE_MOMENTUM: 0.9",
            "  OPTIM:",
            f"    MOMENTUM: {momentum}",
            "    NESTEROV: true",
            f"    STEPS: [{i * 1000}, {i * 2000}]",
            "    SCHEDULE:",
            "      WARMUP_ITERS: 1000",
            f"      WARMUP_FACTOR: {lr}",
            "      GAMMA: 0.1",
            "  DATA:",
            f"    ROOT: /datasets/coco/train2017/{root}",
            "    NUM_WORKERS: 4",
            "    MEAN: [123.675, 116.28, 103.53]",
        ]
    return "\n".join(lines) + "\n"


def best_of(
    functions: list[Callable[[], Any]], number: int | list[int], rounds: int
) -> list[float]:
    """Time each function ``number`` times per round, alternating; best seconds per call."""
    numbers = number if isinstance(number, list) else [number] * len(functions)
    best = [float("inf")] * len(functions)
    for _ in range(rounds):
        for index, function in enumerate(functions):
            elapsed = timeit.timeit(function, number=numbers[index]) / numbers[index]
            best[index] = min(best[index], elapsed)
    return best


def row(name: str, ours: float, peer: float, target: float | None) -> dict[str, Any]:
    ratio = ours / peer
    ok = None if target is None else ratio <= target
    # Times: ``ratio`` is ours / peer, so lower is better and a target is an upper bound.
    shown = None if target is None else f"<= {target:g}x (time)"
    return {"name": name, "ours": ours, "peer": peer, "ratio": ratio, "target": shown, "ok": ok}


def compare_load_and_attr(label: str, text: str, quick: bool) -> list[dict[str, Any]]:
    """Return the load and attr rows for one YAML text, ``label`` added to their names."""
    import yaml
    from omegaconf import OmegaConf
    from yacs.config import CfgNode as YacsNode

    from easycore_config import CfgNode

    rounds = 3 if quick else 7
    ours_cfg = CfgNode.load(text)
    yacs_cfg = YacsNode.load_cfg(text)
    omega_cfg = OmegaConf.create(text)
    plain = yaml.safe_load(text)
    if ours_cfg.SECTION_100.OPTIM.MOMENTUM != 0.9:
        raise RuntimeError("the benchmark config no longer reads as expected")

    load = best_of(
        [
            lambda: CfgNode.load(text),
            lambda: YacsNode.load_cfg(text),
            lambda: OmegaConf.create(text),
        ],
        number=1,
        rounds=rounds,
    )
    rows = [
        row(f"load{label} vs yacs", load[0], load[1], 0.1),
        row(f"load{label} vs omegaconf", load[0], load[2], None),
    ]

    a, b, c = ATTR_PATH
    attr_number = 100_000 if quick else 1_000_000
    attr = best_of(
        [
            lambda: plain[a][b][c],
            lambda: ours_cfg.SECTION_100.OPTIM.MOMENTUM,
            lambda: yacs_cfg.SECTION_100.OPTIM.MOMENTUM,
            lambda: omega_cfg.SECTION_100.OPTIM.MOMENTUM,
        ],
        # OmegaConf takes microseconds per read: fewer reads keep the run short.
        number=[attr_number, attr_number, attr_number // 10, attr_number // 1000],
        rounds=rounds,
    )
    # The lambda call is the same for every contender; take it out of each.
    call = best_of([lambda: None], number=attr_number, rounds=rounds)[0]
    attr = [max(seconds - call, 1e-12) for seconds in attr]
    rows.append(row(f"attr{label} cfg.A.B.C vs dict", attr[1], attr[0], 1.6))
    rows.append(row(f"attr{label} cfg.A.B.C vs yacs", attr[1], attr[2], None))
    rows.append(row(f"attr{label} cfg.A.B.C vs omegaconf", attr[1], attr[3], None))
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """Run every comparison and return one row per ratio.

    Each row is ``{"name", "ours", "peer", "ratio", "target", "ok"}``: seconds
    per call for us and the peer, ``ratio = ours / peer``, the highest ratio
    allowed (None when the peer is only shown for context) and whether it holds.
    """
    # OmegaConf refuses documents of more than 10,000 nodes by default, this one included.
    os.environ.setdefault("OMEGACONF_MAX_YAML_EXPANDED_NODES", "10000000")
    from omegaconf import OmegaConf
    from yacs.config import CfgNode as YacsNode

    from easycore_config import CfgNode

    rounds = 3 if quick else 7
    rows: list[dict[str, Any]] = []
    for label, interpolations in (("", False), (" (interp.)", True)):
        rows += compare_load_and_attr(label, make_yaml(interpolations=interpolations), quick)

    plain_cfg = CfgNode.load(make_yaml())
    interpolated_cfg = CfgNode.load(make_yaml(interpolations=True))
    sets = best_of(
        [
            lambda: setattr(interpolated_cfg.SECTION_000, "BASE_LR", 0.5),
            lambda: setattr(interpolated_cfg.SECTION_000, "ENABLED", True),
            lambda: setattr(plain_cfg.SECTION_000, "BASE_LR", 0.5),
        ],
        number=10_000 if quick else 100_000,
        rounds=rounds,
    )
    # BASE_LR is read by one ${...} (only that one is resolved again), ENABLED by none.
    rows.append(row("set read key (interp.) vs plain", sets[0], sets[2], None))
    rows.append(row("set unread key (interp.) vs plain", sets[1], sets[2], None))

    ours_cfg = plain_cfg
    yacs_cfg = YacsNode.load_cfg(make_yaml())
    omega_cfg = OmegaConf.create(make_yaml())
    copies = best_of(
        [
            lambda: copy.deepcopy(ours_cfg),
            lambda: copy.deepcopy(yacs_cfg),
            lambda: copy.deepcopy(omega_cfg),
        ],
        number=1,
        rounds=rounds,
    )
    rows.append(row("deepcopy vs yacs", copies[0], copies[1], 1.0))
    rows.append(row("deepcopy vs omegaconf", copies[0], copies[2], None))

    dumps = best_of(
        [
            lambda: CfgNode.dump(ours_cfg),
            yacs_cfg.dump,
            lambda: OmegaConf.to_yaml(omega_cfg),
        ],
        number=1,
        rounds=rounds,
    )
    rows.append(row("dump vs yacs", dumps[0], dumps[1], 1.0))
    rows.append(row("dump vs omegaconf", dumps[0], dumps[2], None))
    return rows


def format_seconds(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:7.2f} {unit:<2}"
    return f"{seconds / 1e-9:7.1f} ns"


def format_row(entry: dict[str, Any]) -> str:
    """Return one printed line: both times, the ratio, and the target if there is one."""
    target = "" if entry["target"] is None else f"  target {entry['target']}"
    verdict = {None: "", True: "  ok", False: "  MISSED"}[entry["ok"]]
    return (
        f"{entry['name']:<32} ours {format_seconds(entry['ours'])}  peer"
        f" {format_seconds(entry['peer'])}  ratio {entry['ratio']:7.3g}{target}{verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (CI, < 30 s)")
    args = parser.parse_args(argv)
    import yaml

    size_kib = len(make_yaml()) / 1024
    print(f"# {SECTIONS} sections, {size_kib:.0f} KiB; libyaml: {yaml.__with_libyaml__}")
    rows = run(args.quick)
    for entry in rows:
        print(format_row(entry))
    return 0 if all(entry["ok"] is not False for entry in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
