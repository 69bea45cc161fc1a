"""Hostile inputs: bounded __BASE__ work, atomic saves, confined bases, no raw builtin errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from easycore_config import (
    CfgNode,
    ConfigError,
    ConfigTypeError,
    HierarchicalCfgNode,
)

Write = Callable[[str, str], Path]


# -- __BASE__ fan-out -----------------------------------------------------------


def write_fan_out_chain(write: Write, files: int) -> Path:
    """Write ``files`` files, each naming the next one twice as its bases (no cycle)."""
    write(f"f{files}.yaml", "LEAF: 1\n")
    for index in reversed(range(files)):
        write(f"f{index}.yaml", f"__BASE__: [f{index + 1}.yaml, f{index + 1}.yaml]\nL{index}: 1\n")
    return write("f0.yaml", "__BASE__: [f1.yaml, f1.yaml]\nL0: 1\n")


@pytest.mark.timeout(30)
def test_a_base_named_twice_down_a_long_chain_is_read_once_per_open(write: Write) -> None:
    top = write_fan_out_chain(write, 40)  # 2**40 reads without a memo
    cfg = HierarchicalCfgNode.open(top)
    assert cfg.LEAF == 1
    assert sorted(cfg) == sorted(["LEAF", *(f"L{index}" for index in range(40))])


@pytest.mark.timeout(30)
def test_merge_from_file_bounds_the_fan_out_too(write: Write) -> None:
    top = write_fan_out_chain(write, 40)
    cfg = CfgNode({"LEAF": 0, **{f"L{index}": 0 for index in range(40)}})
    cfg.merge_from_file(top)
    assert cfg.LEAF == 1


def test_each_key_keeps_the_line_of_the_file_that_set_it_last(write: Write) -> None:
    write("common.yaml", "A: 1\nB: 1\n")
    write("left.yaml", "__BASE__: common.yaml\nC: 1\n")
    top = write("top.yaml", "__BASE__: [left.yaml, common.yaml]\n\nB: wrong\n")
    with pytest.raises(ConfigTypeError, match=r"'B' in .*top\.yaml, line 3 is a str"):
        CfgNode({"A": 0, "B": 0, "C": 0}).merge_from_file(top)


# -- atomic saves -----------------------------------------------------------------


SAVE_UNDER_FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    from easycore_config import CfgNode

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
    cfg = CfgNode({f"KEY_{index}": "x" * 100 for index in range(10_000)})  # about 1 MB
    try:
        cfg.save(sys.argv[1])
    except OSError as err:
        print(type(err).__name__, err.errno)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.timeout(60)
def test_save_on_a_full_disk_keeps_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("A: 1\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", SAVE_UNDER_FILE_SIZE_LIMIT, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["OSError", "27"]  # EFBIG: the limit was hit
    assert path.read_text(encoding="utf-8") == "A: 1\n"
    assert os.listdir(tmp_path) == ["config.yaml"]  # no temporary file left behind


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("A: 1\n", encoding="utf-8")
    path.chmod(0o640)
    CfgNode({"A": 2}).save(path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert CfgNode.open(path) == {"A": 2}
    assert os.listdir(tmp_path) == ["config.yaml"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX umask")
def test_a_new_file_gets_the_mode_open_would_give(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        CfgNode({"A": 1}).save(tmp_path / "new.yaml")
    finally:
        os.umask(umask)
    assert (tmp_path / "new.yaml").stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")
def test_save_through_a_symlink_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    real = tmp_path / "runs" / "exp1.yaml"
    real.write_text("A: 1\n", encoding="utf-8")
    link = tmp_path / "config.yaml"
    link.symlink_to(Path("runs") / "exp1.yaml")
    CfgNode({"A": 2}).save(link)
    assert link.is_symlink()
    assert CfgNode.open(real) == {"A": 2}
    assert sorted(os.listdir(tmp_path / "runs")) == ["exp1.yaml"]


def test_save_into_a_missing_folder_names_the_file_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "config.yaml"
    with pytest.raises(FileNotFoundError) as info:
        CfgNode({"A": 1}).save(path)
    assert info.value.filename == str(path)


# -- saving onto a base -------------------------------------------------------------


@pytest.mark.parametrize("target", ["root.yaml", "middle.yaml"], ids=["base-of-base", "base"])
def test_save_refuses_to_overwrite_a_file_of_its_own_base_chain(
    write: Write, tmp_path: Path, target: str
) -> None:
    root = write("root.yaml", "A: 1\nB: 1\n")
    middle = write("middle.yaml", "__BASE__: root.yaml\nB: 2\n")
    cfg = HierarchicalCfgNode.open(middle)
    cfg.A = 5
    with pytest.raises(ConfigError, match=r"is .*middle\.yaml or one of its __BASE__ files"):
        HierarchicalCfgNode.save(cfg, tmp_path / target, base_cfg_path=middle)
    assert root.read_text(encoding="utf-8") == "A: 1\nB: 1\n"
    assert middle.read_text(encoding="utf-8") == "__BASE__: root.yaml\nB: 2\n"


# -- bases that are no configs, and confining bases ------------------------------------


def test_a_base_that_is_not_a_mapping_is_refused_without_quoting_it(write: Write) -> None:
    write("token.txt", "ghp_VerySecretToken123\n")
    child = write("child.yaml", "__BASE__: token.txt\nA: 1\n")
    with pytest.raises(ConfigError, match=r"token\.txt must hold a mapping.*starts a str") as info:
        HierarchicalCfgNode.open(child)
    assert "Secret" not in str(info.value)


def test_base_root_refuses_a_base_outside_it(write: Write, tmp_path: Path) -> None:
    write("private/secrets.yaml", "KEY: 1\n")
    child = write("configs/child.yaml", "A: 1\n__BASE__: ../private/secrets.yaml\n")
    with pytest.raises(
        ConfigError, match=r"child\.yaml \(line 2\) names .*outside base_root"
    ) as info:
        HierarchicalCfgNode.open(child, base_root=tmp_path / "configs")
    assert (info.value.key, info.value.line) == ("__BASE__", 2)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_base_root_follows_symlinks_out_of_it(write: Write, tmp_path: Path) -> None:
    write("private/secrets.yaml", "KEY: 1\n")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "link.yaml").symlink_to(tmp_path / "private" / "secrets.yaml")
    child = write("configs/child.yaml", "__BASE__: link.yaml\n")
    with pytest.raises(ConfigError, match="outside base_root"):
        HierarchicalCfgNode.open(child, base_root=tmp_path / "configs")


def test_base_root_accepts_bases_inside_it(write: Write, tmp_path: Path) -> None:
    write("configs/common/base.yaml", "A: 1\n")
    child = write("configs/exp/child.yaml", "__BASE__: ../common/base.yaml\nB: 2\n")
    assert HierarchicalCfgNode.open(child, base_root=tmp_path / "configs") == {"A": 1, "B": 2}


def test_merge_from_file_takes_base_root(write: Write, tmp_path: Path) -> None:
    write("other/base.yaml", "A: 1\n")
    child = write("configs/child.yaml", "__BASE__: ../other/base.yaml\n")
    with pytest.raises(ConfigError, match="outside base_root"):
        CfgNode({"A": 0}).merge_from_file(child, base_root=tmp_path / "configs")


# -- raw builtin errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A: 1\nB: " + "1" * 5000 + "\n", r"<string>, line 2.*cannot read the scalar"),
        ("A: 1\nB: -" + "1" * 5000 + "\n", r"<string>, line 2.*cannot read the scalar"),
        ("A: 1\nB: 0x" + "f" * 5000 + "\n", r"<string>, line 2.*bits could not be written back"),
        ("A: 1\nB: \x01\n", r"<string>, line 2: character '\\x01'.*cannot appear in YAML"),
    ],
    ids=["5000-digit-int", "negative", "huge-hex", "control-character"],
)
def test_unreadable_scalars_raise_config_error_with_the_line(
    backend: str, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        CfgNode.load(text)
    assert info.value.line == 2


def test_load_of_bytes_that_are_not_utf8_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"<string>, line 2: byte 0xff is not valid utf-8"):
        CfgNode.load(b"A: 1\nB: \xff\n")


def test_merge_from_list_of_a_mapping_raises_config_type_error() -> None:
    cfg = CfgNode({"A": 1})
    with pytest.raises(ConfigTypeError, match=r"takes a list.*got a dict.*use merge\(\)"):
        cfg.merge_from_list({"A": "2"})  # type: ignore[arg-type]
    assert cfg.A == 1


def test_dump_of_a_lone_surrogate_names_the_key_on_both_backends(backend: str) -> None:
    with pytest.raises(ConfigTypeError, match=r"cannot write 'A.B' .*lone surrogate") as info:
        CfgNode.dump(CfgNode({"A": {"B": "ok \udc80"}}))
    assert info.value.key == "A.B"


@pytest.mark.parametrize("value", [1 + 2j, -1.5j, complex(float("inf"), 1)], ids=str)
def test_a_complex_number_round_trips(backend: str, value: complex) -> None:
    text = CfgNode.dump(CfgNode({"A": value}))
    assert text is not None
    assert value == CfgNode.load(text).A
