"""A name -> object registry, usable as a decorator.

A registry maps names to objects (usually classes or functions) so that
configs can refer to them by string::

    from easycore_registry import Registry

    MODEL_REGISTRY = Registry("MODEL")

    @MODEL_REGISTRY.register()
    class ResNet50:
        pass

    model_class = MODEL_REGISTRY.get("ResNet50")

This module is self-contained (standard library only): copy it into your
project as ``easycore_registry.py`` if you do not want the dependency.
"""

# SPDX-License-Identifier: MIT

from __future__ import annotations

import difflib
import threading
from typing import Any, Callable, Final, Iterator, TypeVar, overload

__version__ = "0.1.0"

__all__ = ["AlreadyRegisteredError", "NotRegisteredError", "Registry", "RegistryError"]

_T = TypeVar("_T")


# -- Errors --------------------------------------------------------------------


class RegistryError(Exception):
    """Base class of the errors raised by a :class:`Registry`."""


class _RegistryKeyError(RegistryError, KeyError):
    """A registry error about one name; also a ``KeyError``."""

    def __init__(self, message: str, registry: str, name: str) -> None:
        super().__init__(message)
        self.registry = registry
        self.name = name

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.registry, self.name))


class NotRegisteredError(_RegistryKeyError):
    """No object is registered under the requested name (also a ``KeyError``)."""


class AlreadyRegisteredError(_RegistryKeyError):
    """The name is taken by another object (also a ``KeyError``)."""


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

    All methods are thread-safe.
    """

    def __init__(self, name: str) -> None:
        """Create an empty registry.

        Args:
            name: Name of this registry, shown in messages (``"MODEL"``).
        """
        self._name = name
        self._objects: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The name of this registry."""
        return self._name

    @overload
    def register(self, name: _T, obj: None = None) -> _T: ...

    @overload
    def register(self, name: str | None = None, obj: None = None) -> Callable[[_T], _T]: ...

    @overload
    def register(self, name: str | None = None, *, obj: _T) -> None: ...

    @overload
    def register(self, name: str, obj: _T) -> None: ...

    def register(self, name: Any = None, obj: Any = None) -> Any:
        """Register ``obj`` under ``name``, or return a decorator that does.

        Four spellings work::

            @R.register()            # decorator, name = obj.__name__
            @R.register("name")      # decorator with a given name
            @R.register              # bare decorator, name = obj.__name__
            R.register("name", obj)  # plain call; also R.register(obj=obj)

        A decorator returns the decorated object unchanged.

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
        if obj is not None:
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
        with self._lock:
            removed = self._objects.pop(name, _MISSING)
        if removed is _MISSING:
            raise self._not_registered(name)

    def is_registered(self, name: str) -> bool:
        """Return whether an object is registered under ``name``."""
        return name in self._objects

    def get(self, name: str) -> Any:
        """Return the object registered under ``name``.

        Raises:
            NotRegisteredError: Nothing is registered under ``name``; the
                message lists close matches.
        """
        try:
            return self._objects[name]
        except KeyError:
            raise self._not_registered(name) from None

    def registered_names(self) -> list[str]:
        """Return the registered names, in registration order."""
        with self._lock:
            return list(self._objects)

    def __contains__(self, name: object) -> bool:
        return name in self._objects

    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self) -> Iterator[str]:
        return iter(self.registered_names())

    def __repr__(self) -> str:
        names = ", ".join(self.registered_names())
        return f"Registry(name={self._name!r}, names=[{names}])"

    # -- Internals --------------------------------------------------------------

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

    def _not_registered(self, name: str) -> NotRegisteredError:
        names = self.registered_names()
        # difflib needs a str; a None from a config (``NAME: null``) must still be a KeyError.
        matches = difflib.get_close_matches(name, names, n=3) if isinstance(name, str) else []
        if matches:
            hint = f" Did you mean {' or '.join(repr(m) for m in matches)}?"
        elif names:
            hint = f" Registered names: {', '.join(repr(n) for n in names)}."
        else:
            hint = " The registry is empty."
        return NotRegisteredError(
            f"{name!r} is not registered in registry {self._name!r}.{hint}", self._name, name
        )


_MISSING: Final = object()


def _name_of(obj: Any) -> str:
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(
            f"cannot register {obj!r} without a name: it has no __name__. "
            f"Pass one: register('my_name', obj)."
        )
    return name
