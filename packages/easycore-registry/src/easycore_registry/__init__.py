"""A name -> object registry, usable as a decorator, that builds objects from specs.

A registry maps names to objects (usually classes or functions) so that
configs can refer to them by string::

    from easycore_registry import Registry

    MODEL_REGISTRY = Registry("MODEL")

    @MODEL_REGISTRY.register()
    class ResNet50:
        def __init__(self, depth=50):
            self.depth = depth

    model_class = MODEL_REGISTRY.get("ResNet50")
    model = MODEL_REGISTRY.build({"type": "ResNet50", "depth": 101})
    assert model_class is ResNet50 and model.depth == 101

A registry can also find what was never imported: ``locations=`` names modules
imported on the first miss, and ``entry_point_group=`` reads the entry points
that installed packages declare.

This module is self-contained (standard library only): copy it into your
project as ``easycore_registry.py`` if you do not want the dependency.
"""

# SPDX-License-Identifier: MIT
# Copyright (c) 2026 the easycore developers

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib
import importlib.metadata
import inspect
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, TypeVar, overload

__version__ = "0.1.0"

__all__ = [
    "AlreadyRegisteredError",
    "BuildError",
    "NotRegisteredError",
    "Registry",
    "RegistryError",
    "RegistryImportError",
]

_T = TypeVar("_T")

# The default of ``register(obj=...)``: tells "no object given" from an explicit None.
_MISSING: Final = object()


# -- Errors --------------------------------------------------------------------


class RegistryError(Exception):
    """Base class of the errors raised by a :class:`Registry`."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__, so every attribute a subclass sets travels.
        return (_restored_error, (type(self), self.args, self.__dict__))


class _RegistryKeyError(RegistryError, KeyError):
    """A registry error about one name; also a ``KeyError``."""

    def __init__(self, message: str, registry: str, name: str) -> None:
        super().__init__(message)
        self.registry = registry
        self.name = name

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0])


class NotRegisteredError(_RegistryKeyError):
    """No object is registered under the requested name (also a ``KeyError``).

    ``path`` is where the name sat inside a spec given to :meth:`Registry.build`
    (``"backbone.norm"``), or ``""``.
    """

    def __init__(self, message: str, registry: str, name: str, *, path: str = "") -> None:
        super().__init__(message, registry, name)
        self.path = path


class AlreadyRegisteredError(_RegistryKeyError):
    """The name is taken by another object (also a ``KeyError``)."""


class BuildError(RegistryError, TypeError):
    """A spec given to :meth:`Registry.build` does not fit (also a ``TypeError``).

    ``path`` is where inside the spec the problem sits (``"backbone.norm"``, or
    ``""`` for the spec itself).
    """

    def __init__(self, message: str, registry: str, path: str) -> None:
        super().__init__(message)
        self.registry = registry
        self.path = path


class RegistryImportError(RegistryError, ImportError):
    """A location or entry point of a registry failed to import (also an ``ImportError``).

    ``source`` names what failed: the module of ``locations=``, or the entry point.
    The import's own exception is the ``__cause__``.
    """

    def __init__(self, message: str, registry: str, source: str) -> None:
        super().__init__(message)
        self.registry = registry
        self.source = source


# -- Public API ----------------------------------------------------------------


class Registry:
    """A name -> object mapping that objects join with :meth:`register`.

    Example::

        BACKBONES = Registry("BACKBONE")

        @BACKBONES.register("resnet")
        class ResNet50:
            pass

        assert BACKBONES.get("resnet") is ResNet50
        assert "resnet" in BACKBONES and len(BACKBONES) == 1

    Names the registry lacks are looked for, once, in its lazy sources: the
    modules of ``locations`` (imported, so that their ``@register`` decorators
    run) and the entry points of ``entry_point_group``. A lookup, ``in``, the
    listings and :meth:`build` all see them; ``repr`` shows only what is loaded.

    All methods are thread-safe.

    A copy (``copy.copy``, ``copy.deepcopy``) or a pickle is a new registry of
    the same name holding every entry by value: its lazy sources are loaded
    first, and later registrations into one do not show in the other.
    """

    def __init__(
        self,
        name: str,
        *,
        locations: Iterable[str] = (),
        entry_point_group: str | None = None,
    ) -> None:
        """Create an empty registry.

        Args:
            name: Name of this registry, shown in messages (``"MODEL"``).
            locations: Modules to import on the first miss (``["mylib.models"]``),
                so that the objects they register are found without importing
                them by hand first.
            entry_point_group: Entry point group that installed packages declare
                their objects in (``"mylib.models"``). An entry point
                ``name = "pkg.mod:Class"`` registers ``Class`` as ``name`` when
                first needed; ``name = "pkg.mod"`` imports the module like a
                location.

        Raises:
            TypeError: ``locations`` is a str or holds a non-str, or
                ``entry_point_group`` is not a str.
        """
        self._name = name
        self._objects: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._lazy = _LazySources(name, _checked_locations(name, locations), entry_point_group)

    @property
    def name(self) -> str:
        """The name of this registry."""
        return self._name

    @overload
    def register(self, name: str | None = None) -> Callable[[_T], _T]: ...

    @overload
    def register(self, name: _T) -> _T: ...

    @overload
    def register(self, name: str | None = None, *, obj: Any) -> None: ...

    @overload
    def register(self, name: str, obj: Any) -> None: ...

    def register(self, name: Any = None, obj: Any = _MISSING) -> Any:
        """Register ``obj`` under ``name``, or return a decorator that does.

        Four spellings work::

            @R.register()            # decorator, name = obj.__name__
            @R.register("name")      # decorator with a given name
            @R.register              # bare decorator, name = obj.__name__
            R.register("name", obj)  # plain call; also R.register(obj=obj)

        A decorator returns the decorated object unchanged. An explicit
        ``obj=None`` registers ``None``.

        Args:
            name: Name to register under; defaults to ``obj.__name__``.
            obj: Object to register. When omitted, a decorator is returned.

        Returns:
            A decorator when ``obj`` is omitted, otherwise ``None``.

        Raises:
            AlreadyRegisteredError: The name is already registered.
            TypeError: ``name`` is not a str, or no name was given and ``obj``
                has no ``__name__``.
        """
        if obj is not _MISSING:
            self._add(name, obj)
            return None
        if name is not None and not isinstance(name, str):
            if not callable(name):
                raise TypeError(f"registry {self._name!r}: name must be a str, got {name!r}")
            # Bare ``@R.register``: the decorated class or function arrives as ``name``.
            self._add(None, name)
            return name

        def decorator(func_or_class: _T) -> _T:
            self._add(name, func_or_class)
            return func_or_class

        return decorator

    def unregister(self, name: str) -> None:
        """Remove the object registered under ``name``.

        Raises:
            NotRegisteredError: Nothing is registered under ``name``.
        """
        if self._find(name) is _MISSING:
            raise self._not_registered(name)
        with self._lock:
            removed = self._objects.pop(name, _MISSING)
        if removed is _MISSING:
            raise self._not_registered(name)

    def is_registered(self, name: str) -> bool:
        """Return whether an object is registered under ``name``."""
        return name in self

    def get(self, name: str) -> Any:
        """Return the object registered under ``name``.

        Raises:
            NotRegisteredError: Nothing is registered under ``name``; the
                message lists close matches, and says when no imported module
                defines ``name``.
            RegistryImportError: A lazy source failed to import.
        """
        try:
            return self._objects[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name from a config
            pass
        found = self._find(name)
        if found is _MISSING:
            raise self._not_registered(name)
        return found

    def build(
        self, spec: Mapping[str, Any], /, *, recursive: bool = False, **overrides: Any
    ) -> Any:
        """Call the object that ``spec["type"]`` names with the spec's other keys.

        ``type`` is a registered name or the callable itself; the other keys
        become keyword arguments, ``overrides`` replacing keys of the same name.
        The spec is never modified::

            model = MODELS.build({"type": "ResNet", "depth": 50}, num_classes=10)
            # same as MODELS.get("ResNet")(depth=50, num_classes=10)

        With ``recursive=True``, every mapping with a ``type`` key among the
        arguments, at any depth in mappings, lists and tuples, is built first,
        from this registry. Containers that held a spec come back as a ``dict``,
        ``list`` or ``tuple``; those that held none come back as they were.

        Exceptions raised by the callable itself propagate unchanged; on
        Python 3.11+ a note names the place inside the spec.

        Args:
            spec: Mapping with a ``type`` key.
            recursive: Also build the specs nested in the arguments.
            overrides: Keyword arguments that replace the spec's keys.

        Returns:
            What the callable returned.

        Raises:
            BuildError: ``spec`` is not a mapping, lacks ``type``, names a
                non-callable or has keys the callable does not take; the message
                names the place inside the spec (``backbone.norm``).
            NotRegisteredError: ``type`` names nothing registered.
            RegistryImportError: A lazy source failed to import.
        """
        if not isinstance(spec, Mapping):
            raise BuildError(
                f"registry {self._name!r} cannot build from {spec!r}: a spec is a mapping "
                f"with a 'type' key, got {type(spec).__name__}. Pass "
                f"{{'type': <registered name>, ...keyword arguments}}.",
                self._name,
                "",
            )
        return self._build_spec({**spec, **overrides}, "", recursive)

    def names(self, pattern: str = "*") -> list[str]:
        """Return the names that match a shell wildcard ``pattern``, in registration order.

        ``*`` matches anything, ``?`` one character, ``[ab]`` one of a set; case
        matters::

            assert MODELS.names("resnet*") == ["resnet50", "resnet101"]

        Raises:
            TypeError: ``pattern`` is not a str.
        """
        if not isinstance(pattern, str):
            raise TypeError(
                f"registry {self._name!r}: pattern must be a str such as 'resnet*', got {pattern!r}"
            )
        return [name for name in self.registered_names() if fnmatch.fnmatchcase(name, pattern)]

    def registered_names(self) -> list[str]:
        """Return the registered names, in registration order.

        Lazy sources are imported first; entry points of objects are listed
        without being loaded.
        """
        pending = self._lazy.load_modules()
        with self._lock:
            names = list(self._objects)
        return names + [name for name in pending if name not in self._objects]

    def __contains__(self, name: object) -> bool:
        try:
            if name in self._objects:
                return True
        except TypeError:  # an unhashable name is never registered
            return False
        return not self._lazy.is_exhausted() and self._find(name) is not _MISSING

    def __len__(self) -> int:
        return len(self.registered_names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.registered_names())

    def __repr__(self) -> str:
        with self._lock:
            names = ", ".join(self._objects)
        return f"Registry(name={self._name!r}, names=[{names}])"

    def __reduce__(self) -> tuple[Any, ...]:
        # By value, complete: a copy cannot load lazy sources later, because their
        # decorators register into this registry, not into the copy.
        for name in self._lazy.load_modules():
            self._find(name)
        with self._lock:
            objects = dict(self._objects)
        return (_restored_registry, (self._name, objects))

    # -- Internals: registration -----------------------------------------------

    def _add(self, name: str | None, obj: Any) -> None:
        if name is None:
            name = _name_of(obj)
        elif not isinstance(name, str):
            raise TypeError(f"registry {self._name!r}: name must be a str, got {name!r}")
        with self._lock:
            existing = self._objects.get(name, _MISSING)
            if existing is not _MISSING:
                raise AlreadyRegisteredError(
                    f"{name!r} is already registered in registry {self._name!r} "
                    f"(as {existing!r}). Register under another name, or unregister "
                    f"{name!r} first.",
                    self._name,
                    name,
                )
            self._objects[name] = obj

    def _add_loaded(self, name: str, obj: Any, source: str) -> None:
        # Two threads may load one entry point at once: the same object is no conflict.
        with self._lock:
            existing = self._objects.setdefault(name, obj)
        if existing is not obj:
            raise AlreadyRegisteredError(
                f"{source} of registry {self._name!r} gives {obj!r} for {name!r}, which is "
                f"already registered as {existing!r}. Rename one of them.",
                self._name,
                name,
            )

    # -- Internals: lookup -----------------------------------------------------

    def _find(self, name: object) -> Any:
        """Return the object under ``name`` after loading lazy sources, or ``_MISSING``."""
        try:
            found = self._objects.get(name, _MISSING)  # type: ignore[call-overload]
        except TypeError:
            return _MISSING
        if found is not _MISSING or not isinstance(name, str) or self._lazy.is_exhausted():
            return found
        self._lazy.load_object(name, self._add_loaded)
        self._lazy.load_modules()
        return self._objects.get(name, _MISSING)

    def _not_registered(self, name: object, path: str | None = None) -> NotRegisteredError:
        with self._lock:
            names = list(self._objects)
        # difflib needs a str; a None from a config (``NAME: null``) must still be a KeyError.
        matches = difflib.get_close_matches(name, names, n=3) if isinstance(name, str) else []
        if matches:
            hint = f" Did you mean {' or '.join(repr(m) for m in matches)}?"
        elif names:
            hint = f" Registered names: {', '.join(repr(n) for n in names)}."
        else:
            hint = " The registry is empty."
        hint += self._lazy.describe()
        if isinstance(name, str) and name.isidentifier():
            hint += self._where_defined(name)
        what = f"{name!r} is" if path is None else f"{_where(path)} names type {name!r}, which is"
        return NotRegisteredError(
            f"{what} not registered in registry {self._name!r}.{hint}",
            self._name,
            name,  # type: ignore[arg-type]
            path=path or "",
        )

    def _where_defined(self, name: str) -> str:
        """Say which imported modules define ``name`` and under what it is registered."""
        owners = {
            module_name: vars(module)[name]
            for module_name, module in list(sys.modules.items())
            if name in getattr(module, "__dict__", {})
        }
        if not owners:
            return (
                f" No imported module defines {name!r}: import the module that registers it "
                f"first, or name that module in Registry(..., locations=[...])."
            )
        with self._lock:
            aliases = [
                key
                for key, obj in self._objects.items()
                if any(obj is owner for owner in owners.values())
            ]
        if aliases:
            return f" It is registered as {', '.join(map(repr, aliases))}."
        modules = ", ".join(sorted(owners)[:3])
        return (
            f" {name!r} is defined in {modules} but not registered here: register it, or "
            f"import the module that does."
        )

    # -- Internals: build ------------------------------------------------------

    def _build_spec(
        self,
        spec: Mapping[Any, Any],
        path: str,
        recursive: bool,
        parents: frozenset[int] = frozenset(),
    ) -> Any:
        kwargs = dict(spec)
        target = kwargs.pop("type", _MISSING)
        if target is _MISSING:
            keys = ", ".join(repr(key) for key in kwargs) or "none"
            raise BuildError(
                f"registry {self._name!r} cannot build {_where(path)}: it has no 'type' key "
                f"(its keys: {keys}). Add type: <a registered name or a callable>.",
                self._name,
                path,
            )
        factory = self._factory(target, path)
        not_str = [key for key in kwargs if not isinstance(key, str)]
        if not_str:
            raise BuildError(
                f"registry {self._name!r} cannot build {_where(path)}: its keys become "
                f"keyword arguments and must be str, got {', '.join(map(repr, not_str))}.",
                self._name,
                path,
            )
        if recursive:
            inside = parents | {id(spec)}
            kwargs = {
                key: self._build_nested(val, _join(path, key), inside)
                for key, val in kwargs.items()
            }
        try:
            return factory(**kwargs)
        except TypeError as err:
            mismatch = _argument_mismatch(factory, kwargs)
            if mismatch is None:
                _add_note(err, f"raised while building {_where(path)} (type {target!r})")
                raise
            raise BuildError(
                f"registry {self._name!r} cannot build {_where(path)}: {mismatch}",
                self._name,
                path,
            ) from err
        except Exception as err:
            _add_note(err, f"raised while building {_where(path)} (type {target!r})")
            raise

    def _factory(self, target: Any, path: str) -> Callable[..., Any]:
        if isinstance(target, str):
            factory = self._find(target)
            if factory is _MISSING:
                raise self._not_registered(target, path)
        elif callable(target):
            return target  # type: ignore[no-any-return]
        else:
            raise BuildError(
                f"registry {self._name!r} cannot build {_where(path)}: 'type' must be a "
                f"registered name or a callable, got {target!r} ({type(target).__name__}).",
                self._name,
                path,
            )
        if not callable(factory):
            raise BuildError(
                f"registry {self._name!r} cannot build {_where(path)}: {target!r} is "
                f"registered as {factory!r}, which cannot be called.",
                self._name,
                path,
            )
        return factory  # type: ignore[no-any-return]

    def _build_nested(self, value: Any, path: str, parents: frozenset[int]) -> Any:
        if not isinstance(value, (Mapping, list, tuple)):
            return value
        if id(value) in parents:
            raise BuildError(
                f"registry {self._name!r} cannot build {_where(path)}: it contains itself "
                f"(it is also one of the containers above it). A spec must be a tree.",
                self._name,
                path,
            )
        inside = parents | {id(value)}
        if isinstance(value, Mapping):
            if "type" in value:
                return self._build_spec(value, path, True, parents)
            built = {
                key: self._build_nested(item, _join(path, key), inside)
                for key, item in value.items()
            }
            changed = any(built[key] is not item for key, item in value.items())
            return built if changed else value
        items = [self._build_nested(item, f"{path}[{i}]", inside) for i, item in enumerate(value)]
        if all(items[i] is item for i, item in enumerate(value)):
            return value
        return tuple(items) if isinstance(value, tuple) else items


# -- Internals: lazy sources ---------------------------------------------------

_Adder = Callable[[str, Any, str], None]


class _LazySources:
    """The locations and entry points of one registry, each loaded at most once.

    Imports take no lock of ours: Python's import lock already makes a second
    thread wait until a module is fully executed, and a module that looks up its
    own registry while being imported then gets no deadlock.
    """

    def __init__(self, registry: str, locations: tuple[str, ...], group: str | None) -> None:
        if group is not None and not isinstance(group, str):
            raise TypeError(
                f"registry {registry!r}: entry_point_group must be a str such as "
                f"'mylib.models', got {group!r}"
            )
        self._registry = registry
        self._locations = locations
        self._group = group
        self._lock = threading.Lock()
        self._imported: set[str] = set()
        self._modules_done = not locations and group is None
        # Filled from the installed distributions on first use.
        self._objects: dict[str, list[importlib.metadata.EntryPoint]] | None = None
        self._modules: list[importlib.metadata.EntryPoint] = []

    def is_exhausted(self) -> bool:
        """Return whether nothing is left to load (always so without lazy sources)."""
        return self._modules_done and not self._objects

    def load_object(self, name: str, add: _Adder) -> None:
        """Load the entry point that declares ``name``, if one does."""
        if self._group is None:
            return
        objects, _ = self._discover()
        found = objects.get(name)
        if not found:
            return
        values = {entry.value for entry in found}
        if len(values) > 1:
            raise AlreadyRegisteredError(
                f"entry point group {self._group!r} of registry {self._registry!r} declares "
                f"{name!r} more than once: {', '.join(sorted(values))}. Uninstall or rename one.",
                self._registry,
                name,
            )
        source = _describe(found[0])
        add(name, self._load_with(found[0].load, source), source)
        # Forgotten only once loaded: a failed load fails the same way next time.
        with self._lock:
            objects.pop(name, None)

    def load_modules(self) -> list[str]:
        """Import the locations and module entry points; return unloaded object names."""
        if not self._modules_done:
            finished = True
            for location in self._locations:
                load = functools.partial(importlib.import_module, location)
                finished &= self._import_once(location, f"location {location!r}", load)
            if self._group is not None:
                for entry in self._discover()[1]:
                    finished &= self._import_once(entry.value, _describe(entry), entry.load)
            self._modules_done = finished
        with self._lock:
            return list(self._objects or ())

    def describe(self) -> str:
        """Say, for an error message, where the registry looked."""
        looked = [f"location {location!r}" for location in self._locations]
        if self._group is not None:
            looked.append(f"entry point group {self._group!r}")
        return f" Looked in {', '.join(looked)} too." if looked else ""

    def _import_once(self, key: str, source: str, load: Callable[[], Any]) -> bool:
        """Import one module source; return whether it is fully imported."""
        if key in self._imported:
            return True
        module = self._load_with(load, source)
        # A module that looks up its registry while being imported gets itself back half
        # run: it is not done until its import ends, or other threads would stop waiting.
        if getattr(getattr(module, "__spec__", None), "_initializing", False):
            return False
        with self._lock:
            self._imported.add(key)
        return True

    def _load_with(self, load: Callable[[], Any], source: str) -> Any:
        try:
            return load()
        except Exception as err:  # re-raised with what failed and for which registry
            raise RegistryImportError(
                f"registry {self._registry!r} could not import its {source}: "
                f"{type(err).__name__}: {err}. Fix or install it, or remove it from the registry.",
                self._registry,
                source,
            ) from err

    def _discover(
        self,
    ) -> tuple[dict[str, list[importlib.metadata.EntryPoint]], list[importlib.metadata.EntryPoint]]:
        if self._objects is not None:
            return self._objects, self._modules
        objects: dict[str, list[importlib.metadata.EntryPoint]] = {}
        modules = []
        for entry in importlib.metadata.entry_points(group=self._group or ""):
            if entry.attr:
                objects.setdefault(entry.name, []).append(entry)
            else:
                modules.append(entry)
        with self._lock:
            if self._objects is None:
                self._objects, self._modules = objects, modules
            return self._objects, self._modules


def _describe(entry: importlib.metadata.EntryPoint) -> str:
    return f"entry point {entry.name} = {entry.value!r} (group {entry.group!r})"


def _checked_locations(registry: str, locations: Iterable[str]) -> tuple[str, ...]:
    checked = () if isinstance(locations, str) else tuple(locations)
    if isinstance(locations, str) or not all(isinstance(x, str) for x in checked):
        raise TypeError(
            f"registry {registry!r}: locations must be a list of module names such as "
            f"['mylib.models'], got {locations!r}"
        )
    return checked


# -- Internals: messages -------------------------------------------------------


def _name_of(obj: Any) -> str:
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(
            f"cannot register {obj!r} without a name: it has no __name__. "
            f"Pass one: register('my_name', obj)."
        )
    return name


def _where(path: str) -> str:
    return f"the spec at {path!r}" if path else "the spec"


def _join(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _argument_mismatch(factory: Callable[..., Any], kwargs: dict[str, Any]) -> str | None:
    """Say why ``kwargs`` do not fit ``factory``'s signature; None if they fit."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: nothing to compare
        return None
    try:
        signature.bind(**kwargs)
    except TypeError as err:
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        unknown = [] if takes_any else [k for k in kwargs if k not in signature.parameters]
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(signature.parameters), n=1)
            hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
        detail = f"it does not take {', '.join(hints)}" if hints else str(err)
        return f"{_qualified(factory)}{signature} does not fit the spec: {detail}."
    return None


def _qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or repr(obj)
    return f"{module}.{name}" if module else name


def _add_note(error: BaseException, note: str) -> None:
    # Exception notes exist from Python 3.11; older versions show the error alone.
    if sys.version_info >= (3, 11):
        error.add_note(note)


# -- Internals: pickling -------------------------------------------------------


def _restored_error(
    cls: type[RegistryError], args: tuple[Any, ...], state: dict[str, Any]
) -> RegistryError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


def _restored_registry(name: str, objects: dict[str, Any]) -> Registry:
    registry = Registry(name)
    registry._objects.update(objects)
    return registry
