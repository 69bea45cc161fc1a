"""Run every component benchmark side by side with its peers and write the report.

    hatch run bench:all          # full: benchmarks/results.md, plots/*.png, docs/benchmarks.md
    hatch run bench:all --quick  # under 2 minutes, what CI runs: benchmarks/results-quick.md
    hatch run bench:all --only torch  # some components: printed, nothing written

Each ``benchmarks/<component>/bench_<component>.py`` exposes ``run(quick) -> list[dict]``;
a row holds ``name``, ``ours``, ``peer``, ``ratio``, ``target``, ``ok`` and ``unit`` (a
time such as ``s`` or ``ms``, or a rate such as ``MB/s``; a name ending in ``(unit)``
gives it too). Every number is measured against its peer in the same run, because only
ratios are stable on a shared machine. The report shows each value with its unit and
each ratio as a speedup, "x faster than the peer" (higher is better), whatever the
direction the row was measured in. The plots draw the speedup against task size (the
runner's curve rows) and against file size (config load rows this script adds to the
config table): the same numbers as the tables.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
COMPONENTS = ["config", "path", "parallel", "torch", "ray"]
PEERS = [
    "easycore-config",
    "easycore-path",
    "easycore-parallel",
    "easycore-torch",
    "pyyaml",
    "yacs",
    "omegaconf",
    "requests",
    "mpire",
    "torch",
    "ray",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--only", nargs="*", default=COMPONENTS, choices=COMPONENTS)
    args = parser.parse_args(argv)

    sections: dict[str, list[dict[str, Any]]] = {}
    for component in args.only:
        module = _load_bench(component)
        if module is None:
            continue
        print(f"== {component}", flush=True)
        started = time.perf_counter()
        sections[component] = module.run(quick=args.quick)
        if component == "config":
            sections[component] += config_load_curve(quick=args.quick)
        for row in sections[component]:
            print(f"   {_format_row(row, component)}", flush=True)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)

    if set(args.only) != set(COMPONENTS):
        print("some components only (--only): the report files are left as they were")
    else:
        _write_report(sections, quick=args.quick)
    missed = [r["name"] for rows in sections.values() for r in rows if r.get("ok") is False]
    if missed:
        print(f"targets missed: {missed}")
    return 0


def config_load_curve(quick: bool) -> list[dict[str, Any]]:
    """Time ``CfgNode.open`` against yacs and OmegaConf on YAML files of growing size.

    The rows join the config table and are the points of the config plot.

    Args:
        quick: Two sizes and three rounds instead of four sizes and five rounds.

    Returns:
        One row per file size and peer: seconds per load, ours and the peer's.
    """
    import yaml
    from omegaconf import OmegaConf
    from yacs.config import CfgNode as YacsCfgNode

    from easycore_config import CfgNode

    # OmegaConf refuses documents of more than 10,000 nodes by default: lift that, as a
    # user with a config this big must.
    os.environ.setdefault("OMEGACONF_MAX_YAML_EXPANDED_NODES", "10000000")
    peers: dict[str, Callable[[str], object]] = {
        "yacs load_cfg": lambda p: YacsCfgNode.load_cfg(Path(p).read_text(encoding="utf-8")),
        "OmegaConf.load": OmegaConf.load,
    }
    rows = []
    repeat = 3 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        for count in [10, 200] if quick else [10, 50, 200, 800]:
            path = Path(tmp) / f"cfg{count}.yaml"
            path.write_text(yaml.safe_dump(_config_document(count)), encoding="utf-8")
            size_kb = path.stat().st_size / 1024
            for peer, load in peers.items():
                ours, theirs = _best_times(
                    lambda path=path: CfgNode.open(str(path)),
                    lambda load=load, path=path: load(str(path)),
                    repeat,
                )
                rows.append(
                    {
                        "name": f"{_CONFIG_CURVE} {size_kb:.0f} KB file vs {peer}",
                        "ours": ours,
                        "peer": theirs,
                        "target": None,
                        "ok": None,
                        "unit": "s",
                        "file_kb": size_kb,
                    }
                )
    return rows


# -- Internals: units and speedups ------------------------------------------------

_TIME_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
# bench_config.py reports seconds per call and names no unit.
_DEFAULT_UNITS: dict[str, str] = {"config": "s"}
_UNIT_IN_NAME = re.compile(r"\(([^()]*/s)\)$")
_RUNNER_CURVE = re.compile(r"^curve: (?P<us>[\d.]+) us tasks")
_CONFIG_CURVE = "curve: load a"


def _unit(row: dict[str, Any], component: str) -> str:
    if row.get("unit"):
        return str(row["unit"])
    found = _UNIT_IN_NAME.search(str(row["name"]))
    return found.group(1) if found else _DEFAULT_UNITS.get(component, "")


def _is_time(unit: str) -> bool:
    """A time (``ms``, ``s/item``: lower is better), not a rate (``MB/s``: higher is)."""
    words = unit.split("/", maxsplit=1)[0].split()
    return bool(words) and words[0] in _TIME_UNITS


def _speedup(row: dict[str, Any], unit: str) -> float | None:
    """How many times faster easycore is than the peer: higher is better, 1 is a tie."""
    ours, peer = row.get("ours"), row.get("peer")
    if not isinstance(ours, (int, float)) or not isinstance(peer, (int, float)):
        return None
    if ours <= 0 or peer <= 0:
        return None
    return peer / ours if _is_time(unit) else ours / peer


def _target_text(target: Any) -> str:
    """A row's target, said as a speedup where it is one.

    The benchmarks write ``>= 2.0x`` (a speedup already), ``<= 0.2x (time)`` (a time
    ratio ours / peer, so at least 5x faster) or an absolute bound such as ``< 5 ms``.
    """
    if target is None:
        return "-"
    text = str(target)
    at_least = re.fullmatch(r">=\s*([\d.]+)x", text)
    if at_least:
        return f">= {float(at_least.group(1)):g}x faster"
    time_ratio = re.fullmatch(r"<=\s*([\d.]+)x \(time\)", text)
    if time_ratio:
        return f">= {1 / float(time_ratio.group(1)):.3g}x faster"
    return text


def _quantity(value: Any, unit: str) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    if unit in _TIME_UNITS:
        seconds = value * _TIME_UNITS[unit]
        for name, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
            if seconds >= scale:
                return f"{seconds / scale:.3g} {name}"
        return f"{seconds / 1e-9:.3g} ns"
    number = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return f"{number} {unit}".rstrip()


def _times(speedup: float | None) -> str:
    if speedup is None:
        return "-"
    return f"{speedup:.3g}x"


# -- Internals: loading and rendering -------------------------------------------


def _write_report(sections: dict[str, list[dict[str, Any]]], *, quick: bool) -> None:
    plots: list[Path] = []
    if not quick:
        plots = _make_plots(sections, HERE / "plots")
    out = HERE / ("results-quick.md" if quick else "results.md")
    out.write_text(_render(sections, plots, "plots", quick=quick), encoding="utf-8")
    print(f"wrote {out.relative_to(HERE.parent)}")
    if not quick:
        _publish_to_docs(sections, plots)


def _load_bench(component: str) -> ModuleType | None:
    path = HERE / component / f"bench_{component}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"bench_{component}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # spawned producers re-import the module by name
    spec.loader.exec_module(module)
    return module


def _format_row(row: dict[str, Any], component: str) -> str:
    unit = _unit(row, component)
    speedup = _speedup(row, unit)
    if speedup is None:
        measured = _quantity(row.get("ours"), unit)
    else:
        measured = f"{_times(speedup)} faster than the peer"
    verdict = {True: "ok", False: "MISSED"}.get(row.get("ok"), "")
    target = _target_text(row.get("target"))
    return f"{row['name']}: {measured} (target {target}) {verdict}".rstrip()


def _versions() -> list[str]:
    found = []
    for name in PEERS:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _publish_to_docs(sections: dict[str, list[dict[str, Any]]], plots: list[Path]) -> None:
    """Copy the report and its plots into the docs site (docs/benchmarks.md, docs/img/)."""
    images = DOCS / "img"
    images.mkdir(exist_ok=True)
    for stale in images.glob("*.png"):  # plots an older report drew and this one does not
        stale.unlink()
    for plot in plots:
        shutil.copyfile(plot, images / plot.name)
    page = _render(sections, plots, "img", quick=False)
    (DOCS / "benchmarks.md").write_text(page, encoding="utf-8")


def _render(
    sections: dict[str, list[dict[str, Any]]], plots: list[Path], image_dir: str, quick: bool
) -> str:
    lines = [
        "# easycore benchmark report" + (" (quick mode)" if quick else ""),
        "",
        f"Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by "
        f"`hatch run bench:all{' --quick' if quick else ''}`.",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()}",
        f"- {', '.join(_versions())}",
        "",
        "Each row measures easycore and its peer in the same run. **Speedup** is how many "
        "times faster easycore is than the peer: higher is better, 1x is a tie, 0.5x is "
        "half as fast (for times, peer / easycore; for rates, easycore / peer). Times are "
        "per call, the best of the rounds; rates are the best round's.",
        "",
    ]
    for component, rows in sections.items():
        lines += [
            f"## {component}",
            "",
            "| benchmark | easycore | peer | speedup (x faster than the peer) | target | met |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in rows:
            unit = _unit(row, component)
            lines.append(
                f"| {row['name']} | {_quantity(row.get('ours'), unit)} | "
                f"{_quantity(row.get('peer'), unit)} | {_times(_speedup(row, unit))} | "
                f"{_target_text(row.get('target'))} | {_met(row.get('ok'))} |"
            )
        lines.append("")
    if plots:
        lines += ["## Plots", "", "The speedups of the rows marked `curve:` above.", ""]
        lines += [f"![{p.stem}]({image_dir}/{p.name})" for p in plots]
        lines.append("")
    return "\n".join(lines)


def _met(ok: Any) -> str:
    return {True: "yes", False: "**no**"}.get(ok, "-")


# -- Internals: plots -------------------------------------------------------------


def _make_plots(sections: dict[str, list[dict[str, Any]]], folder: Path) -> list[Path]:
    """Draw the speedups of the curve rows; a plot whose rows are missing is left out."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(exist_ok=True)
    for stale in folder.glob("*.png"):  # the folder holds this run's plots and no others
        stale.unlink()
    plots = []
    runner_points = _runner_curve(sections.get("parallel", []))
    if runner_points:
        plots.append(
            _speedup_plot(
                folder / "runner_speedup.png",
                {"easycore, 2 producers, vs a serial loop": runner_points},
                xlabel="task size (microseconds of CPU work per item)",
                title="Runner speedup vs task size (2 cores)",
            )
        )
    config_points = _config_curve(sections.get("config", []))
    if config_points:
        plots.append(
            _speedup_plot(
                folder / "config_load_speedup.png",
                config_points,
                xlabel="YAML file size (KB)",
                title="Config load speedup vs file size",
            )
        )
    return plots


def _runner_curve(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    points = []
    for row in rows:
        found = _RUNNER_CURVE.match(str(row["name"]))
        speedup = _speedup(row, _unit(row, "parallel"))
        if found and speedup is not None:
            points.append((float(found.group("us")), speedup))
    return sorted(points)


def _config_curve(rows: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        speedup = _speedup(row, _unit(row, "config"))
        if "file_kb" in row and speedup is not None:
            peer = str(row["name"]).rsplit(" vs ", 1)[1]
            series.setdefault(f"easycore CfgNode.open vs {peer}", []).append(
                (row["file_kb"], speedup)
            )
    return {label: sorted(points) for label, points in series.items()}


def _speedup_plot(
    path: Path, series: dict[str, list[tuple[float, float]]], *, xlabel: str, title: str
) -> Path:
    """Save the speedup of each series against a log x axis, with the tie at 1x marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in series.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=label)
        for x, y in points:
            ax.annotate(
                f"{y:.3g}x",
                (x, y),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
            )
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="as fast as the peer")
    top = max(y for points in series.values() for _, y in points)
    ax.set_ylim(0, math.ceil(top * 1.15 + 0.5))
    ax.set(xscale="log", xlabel=xlabel, ylabel="speedup (x faster than the peer)", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _config_document(sections: int) -> dict[str, Any]:
    return {
        f"SECTION_{i}": {
            "LR": 0.001 * i,
            "NAME": f"block-{i}",
            "SIZES": [i, i + 1, i + 2],
            "INNER": {"DEPTH": i % 7, "USE_BN": bool(i % 2), "ACT": "relu"},
        }
        for i in range(sections)
    }


def _best_times(
    ours: Callable[[], object], peer: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """The least time of each over ``repeat`` rounds that alternate ours and the peer's."""
    best_ours, best_peer = float("inf"), float("inf")
    for _ in range(repeat):
        best_ours = min(best_ours, _elapsed(ours))
        best_peer = min(best_peer, _elapsed(peer))
    return best_ours, best_peer


def _elapsed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
