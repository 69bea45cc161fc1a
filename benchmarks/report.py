"""Run every component benchmark side by side with its peers and write the report.

    hatch run bench:all          # full: benchmarks/results.md, plots/*.png, docs/benchmarks.md
    hatch run bench:all --quick  # under 2 minutes, what CI runs: benchmarks/results-quick.md
    hatch run bench:all --only torch  # some components: printed, nothing written

Each ``benchmarks/<component>/bench_<component>.py`` exposes ``run(quick) -> list[dict]``;
a row holds ``name``, ``ours``, ``peer``, ``ratio``, ``target`` and ``ok``. Every number
is measured against its peer in the same run, because only ratios are stable on a
shared machine. The plots sweep task size (runners) and file size (config loading).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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
        for row in sections[component]:
            print(f"   {_format_row(row)}", flush=True)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)

    if set(args.only) != set(COMPONENTS):
        print("some components only (--only): the report files are left as they were")
    else:
        _write_report(sections, quick=args.quick)
    missed = [r["name"] for rows in sections.values() for r in rows if r.get("ok") is False]
    if missed:
        print(f"targets missed: {missed}")
    return 0


# -- Internals: loading and rendering -------------------------------------------


def _write_report(sections: dict[str, list[dict[str, Any]]], *, quick: bool) -> None:
    plots: list[Path] = []
    if not quick:
        plots = _make_plots(HERE / "plots")
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


def _format_row(row: dict[str, Any]) -> str:
    ratio = row.get("ratio")
    if isinstance(ratio, (int, float)):
        ratio_text = f"{ratio:.2f}x"
    else:
        ratio_text = f"{_cell(row.get('ours'))} {row.get('unit', '')}".rstrip()
    verdict = {True: "ok", False: "MISSED"}.get(row.get("ok"), "")
    return f"{row['name']}: {ratio_text} (target {_cell(row.get('target'))}) {verdict}".rstrip()


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
        "Each ratio compares easycore with its peer measured in the same run; higher is "
        "better for easycore unless the target says otherwise.",
        "",
    ]
    for component, rows in sections.items():
        lines += [
            f"## {component}",
            "",
            "| benchmark | easycore | peer | ratio | target | met |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in rows:
            ratio = row.get("ratio")
            lines.append(
                f"| {row['name']} | {_cell(row.get('ours'))} | {_cell(row.get('peer'))} | "
                f"{_cell(ratio)}{'x' if isinstance(ratio, (int, float)) else ''} | "
                f"{_cell(row.get('target'))} | {_met(row.get('ok'))} |"
            )
        lines.append("")
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}]({image_dir}/{p.name})" for p in plots]
        lines.append("")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _met(ok: Any) -> str:
    return {True: "yes", False: "**no**"}.get(ok, "-")


# -- Internals: plots -------------------------------------------------------------


def _make_plots(folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(exist_ok=True)
    return [_plot_runner_throughput(folder), _plot_config_load(folder)]


def _plot_runner_throughput(folder: Path) -> Path:
    import multiprocessing

    from _sweep_tasks import BusyRunner, busy, busy_serial

    sizes_us = [1, 10, 100, 1000]
    n_items = {1: 100_000, 10: 40_000, 100: 6_000, 1000: 1_000}
    series: dict[str, list[float]] = {
        "easycore (2 producers)": [],
        "Pool.imap (2, chunksize=64)": [],
    }
    series["serial loop"] = []
    with BusyRunner(devices=2) as runner, multiprocessing.Pool(2) as pool:
        for size in sizes_us:
            items = [size] * n_items[size]
            series["easycore (2 producers)"].append(
                _throughput(lambda items=items: runner(items), len(items))
            )
            series["Pool.imap (2, chunksize=64)"].append(
                _throughput(
                    lambda items=items: sum(pool.imap(busy, items, chunksize=64)), len(items)
                )
            )
            series["serial loop"].append(
                _throughput(lambda items=items: busy_serial(items), len(items))
            )
    return _log_log_plot(
        folder / "runner_throughput.png",
        sizes_us,
        series,
        xlabel="task size (microseconds of CPU work per item)",
        ylabel="items per second",
        title="Runner throughput vs task size (2 cores)",
    )


def _plot_config_load(folder: Path) -> Path:
    import yaml
    from omegaconf import OmegaConf
    from yacs.config import CfgNode as YacsCfgNode

    from easycore_config import CfgNode

    # OmegaConf refuses documents of more than 10,000 nodes by default: lift that, as a
    # user with a config this big must.
    os.environ.setdefault("OMEGACONF_MAX_YAML_EXPANDED_NODES", "10000000")
    sections = [10, 50, 200, 800]
    loaders: dict[str, Callable[[str], object]] = {
        "easycore CfgNode.open": CfgNode.open,
        "yacs load_cfg": lambda p: YacsCfgNode.load_cfg(Path(p).read_text(encoding="utf-8")),
        "OmegaConf.load": OmegaConf.load,
    }
    times: dict[str, list[float]] = {name: [] for name in loaders}
    sizes_kb: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in sections:
            path = Path(tmp) / f"cfg{count}.yaml"
            path.write_text(yaml.safe_dump(_config_document(count)), encoding="utf-8")
            sizes_kb.append(path.stat().st_size / 1024)
            for name, load in loaders.items():
                times[name].append(_best_time(lambda load=load, path=path: load(str(path))))
    return _log_log_plot(
        folder / "config_load.png",
        sizes_kb,
        {name: [v * 1000 for v in values] for name, values in times.items()},
        xlabel="YAML file size (KB)",
        ylabel="load time (ms, best of 5)",
        title="Config load time vs file size",
    )


def _log_log_plot(
    path: Path, xs: Sequence[float], series: dict[str, list[float]], **labels: str
) -> Path:
    """Save one line per series against ``xs``, both axes logarithmic; return ``path``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in series.items():
        ax.plot(xs, values, marker="o", label=label)
    ax.set(xscale="log", yscale="log", **labels)
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


def _throughput(call: Callable[[], object], items: int) -> float:
    return items / _best_time(call, repeat=3)


def _best_time(call: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
