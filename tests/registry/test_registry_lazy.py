"""Lazy sources (``locations=``), what a miss says, and ``names(pattern)``.

Each test writes real modules into its own folder on ``sys.path``, under names of its
own, so that nothing is imported before the registry imports it.
"""

from __future__ import annotations

import importlib
import itertools
import pickle
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from easycore_registry import NotRegisteredError, Registry, RegistryImportError

_COUNTER = itertools.count()

WriteModule = Callable[[str, str], str]


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteModule]:
    """Return ``write(stem, source) -> module name``; the modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    suffix = f"_{next(_COUNTER)}_{id(tmp_path)}"
    written: list[str] = []

    def write(stem: str, source: str) -> str:
        name = f"{stem}{suffix}"
        text = textwrap.dedent(source).replace("{suffix}", suffix)
        (tmp_path / f"{name}.py").write_text(text, encoding="utf-8")
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def _zoo(write_module: WriteModule, models_source: str | None = None) -> tuple[Registry, str]:
    """Write a registry module with one location and return (registry, location name)."""
    location = write_module(
        "zoo_models",
        models_source
        or """
        from zoo_registry{suffix} import MODELS

        @MODELS.register()
        class ResNet:
            def __init__(self, depth=50):
                self.depth = depth

        MODELS.register("resnet_alias", ResNet)
        """,
    )
    holder = write_module(
        "zoo_registry",
        f"""
        from easycore_registry import Registry

        MODELS = Registry("MODEL", locations=[{location!r}])
        """,
    )
    module = __import__(holder)
    assert isinstance(module, ModuleType)
    return module.MODELS, location


def test_get_imports_the_locations_on_the_first_miss(write_module: WriteModule) -> None:
    models, location = _zoo(write_module)
    assert location not in sys.modules
    resnet = models.get("ResNet")
    assert resnet is sys.modules[location].ResNet


def test_locations_may_be_any_iterable(write_module: WriteModule) -> None:
    location = write_module("single", "from easycore_registry import Registry\n")
    models = Registry("MODEL", locations=(name for name in [location]))
    assert models.names() == []
    assert location in sys.modules


def test_a_hit_imports_nothing(write_module: WriteModule) -> None:
    models, location = _zoo(write_module)
    models.register("local", 1)
    assert models.get("local") == 1
    assert location not in sys.modules


@pytest.mark.parametrize(
    "query",
    [
        lambda r: "ResNet" in r,
        lambda r: r.is_registered("ResNet"),
        lambda r: "ResNet" in r.registered_names(),
        lambda r: r.names("Res*") == ["ResNet"],
        lambda r: len(r) == 2,
        lambda r: list(r) == ["ResNet", "resnet_alias"],
        lambda r: r.build({"type": "ResNet", "depth": 18}).depth == 18,
    ],
    ids=["in", "is_registered", "registered_names", "names", "len", "iter", "build"],
)
def test_every_query_sees_the_locations(
    write_module: WriteModule, query: Callable[[Registry], bool]
) -> None:
    models, _ = _zoo(write_module)
    assert query(models)


def test_unregister_sees_the_locations(write_module: WriteModule) -> None:
    models, _ = _zoo(write_module)
    models.unregister("resnet_alias")
    assert models.registered_names() == ["ResNet"]


def test_repr_imports_nothing(write_module: WriteModule) -> None:
    models, location = _zoo(write_module)
    assert repr(models) == "Registry(name='MODEL', names=[])"
    assert location not in sys.modules


def test_a_missing_location_raises_registry_import_error(write_module: WriteModule) -> None:
    models = Registry("MODEL", locations=["no_such_module_for_easycore_tests"])
    with pytest.raises(RegistryImportError) as info:
        models.get("ResNet")
    message = str(info.value)
    assert (
        "registry 'MODEL' could not import its location 'no_such_module_for_easycore_tests'"
        in message
    )
    assert "ModuleNotFoundError" in message
    assert info.value.source == "location 'no_such_module_for_easycore_tests'"
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_a_location_that_fails_while_importing_says_why(write_module: WriteModule) -> None:
    models, location = _zoo(write_module, "raise RuntimeError('no GPU here')\n")
    with pytest.raises(RegistryImportError, match=r"RuntimeError: no GPU here") as info:
        models.get("ResNet")
    assert location in str(info.value)
    # Nothing is marked imported: the next lookup tries again and fails the same way.
    with pytest.raises(RegistryImportError, match=r"RuntimeError: no GPU here"):
        "ResNet" in models  # noqa: B015


def test_registry_import_error_pickles_with_its_attributes() -> None:
    with pytest.raises(RegistryImportError) as info:
        Registry("MODEL", locations=["no_such_module_for_easycore_tests"]).get("x")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is RegistryImportError
    assert str(copy) == str(info.value)
    assert (copy.registry, copy.source) == (info.value.registry, info.value.source)


@pytest.mark.timeout(60)
def test_threads_missing_at_once_all_wait_for_the_whole_import(
    write_module: WriteModule,
) -> None:
    # The module registers one name, sleeps, then the other: a thread that saw the
    # location as done before the import ended would miss "Late".
    models, _ = _zoo(
        write_module,
        """
        import time
        from zoo_registry{suffix} import MODELS

        MODELS.register("Early", 1)
        time.sleep(0.3)
        MODELS.register("Late", 2)
        """,
    )
    barrier = threading.Barrier(8)
    results: list[object] = []
    lock = threading.Lock()

    def look_up() -> None:
        barrier.wait()
        try:
            found: object = models.get("Late")
        except BaseException as err:  # collected and asserted below
            found = err
        with lock:
            results.append(found)

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [2] * 8


@pytest.mark.timeout(60)
def test_a_location_that_queries_its_registry_while_imported_does_not_hang(
    write_module: WriteModule,
) -> None:
    models, _ = _zoo(
        write_module,
        """
        from zoo_registry{suffix} import MODELS

        MODELS.register("First", 1)
        SEEN_MISSING = "Second" not in MODELS
        MODELS.register("Second", 2)
        """,
    )
    assert models.get("Second") == 2
    assert models.registered_names() == ["First", "Second"]


@pytest.mark.timeout(60)
def test_a_lookup_during_a_self_querying_import_waits_for_its_end(
    write_module: WriteModule,
) -> None:
    # The location is imported by hand in one thread and misses in its own registry
    # half way; a second thread looking up a later name must still wait for the import.
    sync = write_module("sync", "import threading\nQUERIED = threading.Event()\n")
    models, location = _zoo(
        write_module,
        f"""
        import time
        from {sync} import QUERIED
        from zoo_registry{{suffix}} import MODELS

        SEEN_MISSING = "Late" not in MODELS
        QUERIED.set()
        time.sleep(0.3)
        MODELS.register("Late", 2)
        """,
    )
    importer = threading.Thread(target=importlib.import_module, args=(location,))
    importer.start()
    __import__(sync).QUERIED.wait()
    try:
        assert models.get("Late") == 2
    finally:
        importer.join()


def test_a_miss_after_the_locations_names_them(write_module: WriteModule) -> None:
    models, location = _zoo(write_module)
    with pytest.raises(NotRegisteredError) as info:
        models.get("ResNeXt")
    message = str(info.value)
    assert "'ResNeXt' is not registered in registry 'MODEL'. Did you mean 'ResNet'?" in message
    assert f"Looked in location {location!r} too." in message


def test_a_miss_whose_name_no_imported_module_defines_says_so() -> None:
    models = Registry("MODEL")
    models.register("mlp", object())
    with pytest.raises(NotRegisteredError) as info:
        models.get("SwinTransformerV9")
    assert "No imported module defines 'SwinTransformerV9': import the module that registers" in (
        str(info.value)
    )


def test_a_miss_whose_name_an_imported_module_defines_names_the_module(
    write_module: WriteModule,
) -> None:
    name = write_module("unregistered", "class ConvNeXt:\n    pass\n")
    __import__(name)
    with pytest.raises(NotRegisteredError) as info:
        Registry("MODEL").get("ConvNeXt")
    assert f"'ConvNeXt' is defined in {name} but not registered here" in str(info.value)


def test_a_miss_of_an_object_registered_under_another_name_gives_that_name() -> None:
    models = Registry("MODEL")
    models.register("resnet", ResNetForAlias)
    with pytest.raises(NotRegisteredError, match=r"It is registered as 'resnet'\."):
        models.get("ResNetForAlias")


class ResNetForAlias:
    """Defined at module level, so that an imported module defines it."""


class _RefusesEquality:
    def __eq__(self, other: object) -> bool:
        raise ValueError("the truth value of an array is ambiguous")

    __hash__ = object.__hash__


def test_a_miss_never_compares_entries_with_equality() -> None:
    models = Registry("MODEL")
    models.register("array", _RefusesEquality())
    with pytest.raises(NotRegisteredError, match=r"'ResNetForAlias' is defined in "):
        models.get("ResNetForAlias")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", ["resnet50", "resnet101", "ResNet", "vit_b16", "vit_l16"]),
        ("resnet*", ["resnet50", "resnet101"]),
        ("vit_?16", ["vit_b16", "vit_l16"]),
        ("vit_[b]16", ["vit_b16"]),
        ("Res*", ["ResNet"]),
        ("mlp*", []),
        ("resnet50", ["resnet50"]),
    ],
    ids=["star", "prefix", "question", "set", "case", "none", "exact"],
)
def test_names_filters_with_shell_wildcards(pattern: str, expected: list[str]) -> None:
    models = Registry("MODEL")
    for name in ["resnet50", "resnet101", "ResNet", "vit_b16", "vit_l16"]:
        models.register(name, object())
    assert models.names(pattern) == expected


def test_names_rejects_a_non_str_pattern() -> None:
    with pytest.raises(TypeError, match=r"pattern must be a str such as 'resnet\*', got 5"):
        Registry("MODEL").names(5)  # type: ignore[arg-type]


def test_pickling_imports_the_locations_first(write_module: WriteModule) -> None:
    models, location = _zoo(write_module)
    restored = pickle.loads(pickle.dumps(models))
    assert restored.registered_names() == ["ResNet", "resnet_alias"]
    assert restored.get("ResNet") is sys.modules[location].ResNet


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"locations": "mylib.models"}, r"locations must be a list of module names"),
        ({"locations": [3]}, r"locations must be a list of module names .* got \[3\]"),
        ({"entry_point_group": 3}, r"entry_point_group must be a str .* got 3"),
    ],
    ids=["str-locations", "int-location", "int-group"],
)
def test_bad_lazy_sources_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        Registry("MODEL", **kwargs)  # type: ignore[arg-type]
