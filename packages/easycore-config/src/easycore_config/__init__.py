"""YAML configs as attribute dicts: ``CfgNode`` and ``HierarchicalCfgNode``.

A :class:`CfgNode` is a ``dict`` whose nested dicts are ``CfgNode`` too, so keys
read as attributes. It loads and saves YAML, merges, freezes and copies deeply::

    from easycore_config import CfgNode as CN

    cfg = CN.load("MODEL:\\n  INPUT_SIZE: (224, 224)\\n  NUM_CLASSES: 100\\n")
    assert cfg.MODEL.INPUT_SIZE == (224, 224)          # plain "(a, b)" is a tuple
    cfg.merge_from_list(["MODEL.NUM_CLASSES", "10"])   # typed by the current value
    cfg.freeze()                                       # every mutation now raises
    text = CN.dump(cfg)                                # writes INPUT_SIZE: (224, 224)

:class:`HierarchicalCfgNode` opens files that inherit from others through a
``__BASE__: base.yaml`` key (a path or a list of paths).

Values in files may be ``${A.B}`` (another key's value), ``${env:VAR,default}``
or ``???`` (must be set; :meth:`CfgNode.missing_keys` lists them); they resolve at
load and again after each change. :meth:`CfgNode.from_dataclass` and
:meth:`CfgNode.validate` give and check a config typed by a dataclass.

Loading is safe by default: tags that run code or build arbitrary objects
(``!!python/object/apply:...``, ``!!python/name:...``) raise
:class:`UnsafeYAMLError`, ``!!python/tuple`` loads as a tuple, and aliases may
not expand without bound ("billion laughs"). PyYAML's C loader and dumper are
used when PyYAML has them, with the same results as the pure-Python ones.

Environment variables:
    ``EASYCORE_ALLOW_UNSAFE_YAML=1``: load every tag as PyYAML's unsafe loader
    would, as if ``allow_unsafe=True`` were passed. Only for files you trust.

This module needs only PyYAML: copy it into your project as
``easycore_config.py`` if you do not want the dependency.
"""

# SPDX-License-Identifier: MIT
# Copyright (c) 2026 the easycore developers

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import copy
import dataclasses
import difflib
import enum
import errno
import io
import math
import os
import re
import reprlib
import secrets
import stat
import types
import typing
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from typing import IO, Any, ClassVar, Final, Protocol, TypeVar, Union, cast

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

__version__ = "0.1.0"

__all__ = [
    "CfgNode",
    "ConfigAttributeError",
    "ConfigError",
    "ConfigKeyError",
    "ConfigTypeError",
    "FrozenConfigError",
    "HierarchicalCfgNode",
    "MissingValueError",
    "SchemaError",
    "UnsafeYAMLError",
]

_NodeT = TypeVar("_NodeT", bound="CfgNode")

# A file argument: a path, or an open file object (text or binary).
_Source = Union[str, "os.PathLike[str]", IO[Any]]


# -- Errors --------------------------------------------------------------------


class ConfigError(Exception):
    """Base class of every error this module raises.

    Raised itself for input that is not a config: invalid YAML, a top level
    that is not a mapping, duplicate keys, ``__BASE__`` cycles.

    Attributes:
        key: Dotted key path the error is about (``"MODEL.INPUT_SIZE"``), or None.
        file: File (or ``"<string>"``) the error is about, or None.
        line: 1-based line in ``file``, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.file = file
        self.line = line

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__, so every attribute a subclass sets travels.
        # str() first: a message part made when first read joins the message here.
        message = str(self)
        return (_restored_error, (type(self), (message,), self.__dict__.copy()))


class ConfigKeyError(ConfigError, KeyError):
    """A key is unknown (also a ``KeyError``); the message suggests close matches."""

    # Suggesting keys costs a difflib pass over the node, and hasattr() or
    # getattr(cfg, "X", default) never show the message: so the suggestion is
    # made when the message is first read.
    _hint: Callable[[], str] | None = None

    def __str__(self) -> str:
        hint = self.__dict__.pop("_hint", None)
        if hint is not None:
            self.args = (f"{self.args[0]}{hint()}",)
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class MissingValueError(ConfigKeyError, AttributeError):
    """A value marked ``???`` in a file (it must be set) was read before it was set.

    Also a ``KeyError`` and an ``AttributeError``: ``hasattr(cfg, "X")`` is False
    and ``getattr(cfg, "X", default)`` gives ``default`` while ``X`` is unset.
    :meth:`CfgNode.missing_keys` lists every such key at once. ``key``, ``file``
    and ``line`` say which one and where it was marked.
    """


class ConfigAttributeError(ConfigKeyError, AttributeError):
    """An attribute is not a key of the node (also ``AttributeError`` and ``KeyError``).

    ``hasattr(cfg, "X")`` and ``getattr(cfg, "X", default)`` rely on it.
    """


class ConfigTypeError(ConfigError, TypeError):
    """A value has a type the config cannot take there (also a ``TypeError``).

    Attributes:
        expected: Name of the type the config holds or needs (``"float"``).
        actual: Name of the type that was given (``"str"``).
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        file: str | None = None,
        line: int | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message, key=key, file=file, line=line)
        self.expected = expected
        self.actual = actual


class SchemaError(ConfigError, TypeError):
    """A config does not match its dataclass schema (also a ``TypeError``).

    The message lists every problem, one per line, with the file and line of the
    key where known. ``problems`` holds the same lines.
    """

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class FrozenConfigError(ConfigError, AttributeError):
    """A frozen node was asked to change (also an ``AttributeError``, as in yacs).

    ``key`` is the dotted path of the key, or of the node, that was to change.
    """


class UnsafeYAMLError(ConfigError, ValueError):
    """A YAML tag that can run code or build arbitrary objects was refused.

    Attributes:
        tag: The refused tag, written as in YAML (``"!!python/object/apply:os.system"``).
    """

    def __init__(
        self,
        message: str,
        *,
        tag: str | None = None,
        key: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, key=key, file=file, line=line)
        self.tag = tag


# -- Public API ----------------------------------------------------------------


class CfgNode(dict[Any, Any]):
    """A config node: a ``dict`` whose keys also read and write as attributes.

    Nested mappings become ``CfgNode`` (of the same class), also inside lists
    and tuples, so ``cfg.DATASETS[0].NAME`` works and :meth:`freeze` reaches
    them. Lists stay lists and tuples stay tuples.

    Attribute access is for keys that are strings and do not shadow a member
    of the class: ``cfg.items`` and ``cfg.copy`` stay methods, and keys named
    like that (or ``"a-b"``, ``1``) are read and written with ``cfg["items"]``.
    Setting such a name as an attribute raises :class:`ConfigAttributeError`.
    A missing attribute raises :class:`ConfigAttributeError` (an
    ``AttributeError``), a missing item :class:`ConfigKeyError` (a ``KeyError``).

    Example::

        cfg = CfgNode({"MODEL": {"NUM_CLASSES": 100}})
        cfg.SOLVER = CfgNode()
        cfg.SOLVER.BASE_LR = 0.1
        assert cfg["SOLVER"]["BASE_LR"] == 0.1
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_dependants",
        "_exprs",
        "_frozen",
        "_holds_exprs",
        "_key",
        "_key_rules",
        "_parent",
        "_places",
        "_references",
        "_sources",
    )

    # Keys are mirrored into the instance __dict__, so that reading an
    # attribute is a plain attribute lookup; __getattr__ only runs on a miss.
    _frozen: bool
    _key: tuple[Any, ...]  # where the parent holds this node: (key, list index, ...)
    _key_rules: _KeyRules | None  # renamed and deprecated keys, once one is registered
    # key -> its ${...} expression or ??? mark, for keys that have one; else None
    _exprs: dict[Any, _Expr | _Required] | None
    # This node or one below has had expressions (so have all its parents): only such
    # trees are resolved again after a change.
    _holds_exprs: bool
    # On a root, after it was resolved: first name of each key path a ${...} reads -> the
    # key paths, so that setting an unread key skips resolving again. None: not known.
    _references: dict[str, list[str]] | None
    # On a root, built at the first change of a key some ${...} reads (and dropped when the
    # whole tree is resolved again): first name of each key path a ${...} reads -> (that
    # path, the path of the key holding the ${...}, its node, the key). None: not built.
    _dependants: dict[str, list[tuple[str, str, CfgNode, Any]]] | None
    # Keys that have an expression or ??? but no value now -> (the key they follow in the
    # node,), or () for the first, so that dump writes them in their place. None: none yet.
    _places: dict[Any, tuple[Any, ...]] | None
    # Files (or texts) this root was loaded and merged from, to find key lines for errors.
    _sources: tuple[tuple[str, str | None], ...]
    _parent: weakref.ref[CfgNode] | None
    _reserved_names: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._reserved_names = frozenset(dir(cls))

    def __init__(self, init_dict: Mapping[Any, Any] | None = None, copy: bool = True) -> None:
        """Create a node from a possibly nested mapping.

        Args:
            init_dict: A mapping to take the keys and values from; empty if None.
            copy: If True, values are deep-copied. If False, values are shared
                with ``init_dict``: leaves and nested ``CfgNode`` are the same
                objects; nested plain dicts become new ``CfgNode`` holding the
                same leaves (a list holding dicts becomes a new list).

        Raises:
            ConfigTypeError: ``init_dict`` is not a mapping.
        """
        _init_slots(self)
        if init_dict is None:
            return
        _require_mapping(init_dict, "CfgNode()")
        node_class = type(self)
        for key, value in init_dict.items():
            _store(self, key, _convert(value, node_class, copy), shared=not copy)
        if isinstance(init_dict, CfgNode):
            _copy_exprs(init_dict, self)  # its ${...} stay live in the new node
            if copy and init_dict._holds_exprs and _holding_parent(init_dict) is not None:
                _detach(self)

    # -- attribute access --

    def __getattr__(self, name: str) -> Any:
        # Reached only when no key (and no class member) has this name.
        value = dict.get(self, name, _MISSING)
        if value is not _MISSING:
            return value
        if self._exprs is not None and name in self._exprs:
            return _read_unset(self, name)
        if name in _YACS_SPELLINGS:
            raise _yacs_spelling_error(self, name)
        raise _missing_key_error(self, name, ConfigAttributeError)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self)._reserved_names:
            path = _join(_node_path(self), name)
            raise ConfigAttributeError(
                f"cannot set attribute {path!r}: {name!r} is a member of {type(self).__name__}."
                f" Set the key with cfg[{name!r}] = value instead.",
                key=path,
            )
        self[name] = value

    def __delattr__(self, name: str) -> None:
        if name in type(self)._reserved_names:
            path = _join(_node_path(self), name)
            raise ConfigAttributeError(
                f"cannot delete attribute {path!r}: {name!r} is a member of"
                f" {type(self).__name__}. Delete the key with del cfg[{name!r}] instead.",
                key=path,
            )
        if name not in self:
            raise _missing_key_error(self, name, ConfigAttributeError)
        del self[name]

    # -- the documented methods --

    def freeze(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) this node and every node below it.

        A frozen node refuses every change: attribute and item assignment,
        ``del``, ``update``, ``setdefault``, ``pop``, ``popitem``, ``clear``,
        ``|=``, :meth:`merge`, :meth:`merge_from_file`, :meth:`merge_from_list`.
        Lists inside the config stay ordinary (mutable) lists.

        Args:
            frozen: True to freeze, False to unfreeze.
        """
        _set_frozen(self, frozen)

    def is_frozen(self) -> bool:
        """Return whether this node (and so the tree below it) is frozen."""
        return self._frozen

    def copy(self: _NodeT) -> _NodeT:
        """Return a deep copy of this node; a frozen node gives a frozen copy."""
        return deepcopy(self)

    def merge(self, cfg: Mapping[Any, Any]) -> None:
        """Merge ``cfg`` into this node; ``cfg`` wins.

        Nested nodes merge key by key, keys only in ``cfg`` are added, any other
        value of ``cfg`` replaces the one here (lists are replaced, not joined).
        Values are deep-copied from ``cfg``. Its ``${...}`` come as written and stay
        live here, as with :meth:`merge_from_file` (those of a node below the top
        of its config come as their values, as in a copy of it). A ``???`` in
        ``cfg`` keeps the value here, as in OmegaConf, and is added for a new key.
        Nothing changes if an error is raised.

        Args:
            cfg: A ``CfgNode`` or any mapping.

        Raises:
            FrozenConfigError: A node that would change is frozen.
            ConfigTypeError: ``cfg`` is not a mapping.
        """
        _require_mapping(cfg, "merge()")
        if isinstance(cfg, CfgNode) and cfg._holds_exprs and _holding_parent(cfg) is not None:
            cfg = deepcopy(cfg)  # its ${A.B} count from the top of its config: keep values
        _merge_loaded(self, cfg)
        if _expressions_made:
            _refresh(self)

    def save(self, save_path: _Source, encoding: str = "utf-8") -> None:
        """Write this node as YAML to a file path or an open file.

        A path is replaced atomically: the text goes to a temporary file in the
        same folder, is flushed to disk, then renamed over ``save_path``. A full
        disk or a crash leaves the old file (or none), never a truncated one.

        Args:
            save_path: Path to write (replaced if it exists), or a text or
                binary file object to write to.
            encoding: Text encoding of the file (used for paths and binary files).
        """
        if isinstance(save_path, (str, os.PathLike)):
            # Dump before opening: a value YAML cannot hold must not empty the existing file.
            text = cast(str, type(self).dump(self))
            _write_atomically(os.fspath(save_path), text.encode(encoding))
            return
        type(self).dump(self, save_path, encoding=encoding if _is_binary(save_path) else None)

    @classmethod
    def open(
        cls: type[_NodeT],
        file: _Source,
        encoding: str = "utf-8",
        *,
        allow_unsafe: bool = False,
    ) -> _NodeT:
        """Load a node from a YAML file.

        ``__BASE__`` is an ordinary key here; use :meth:`HierarchicalCfgNode.open`
        to resolve it.

        Args:
            file: Path of the YAML file, or an open (text or binary) file object.
            encoding: Text encoding of the file.
            allow_unsafe: Load every tag as PyYAML's unsafe loader would
                (``!!python/object...``); only for files you trust. Also enabled
                by ``EASYCORE_ALLOW_UNSAFE_YAML=1``.

        Returns:
            The loaded node (empty for an empty file).

        Raises:
            FileNotFoundError: The file does not exist.
            ConfigError: The file is not valid YAML or its top level is not a mapping.
            UnsafeYAMLError: The file uses a tag that can run code.
        """
        text, source = _read_text(file, encoding)
        made = _expressions_made
        cfg = _resolved(_load_config(text, source, cls, allow_unsafe)[0], made)
        # A path is read again for key lines if validate() has errors to report.
        kept = None if isinstance(file, (str, os.PathLike)) else text
        object.__setattr__(cfg, "_sources", ((source, kept),))
        return cfg

    @classmethod
    def load(cls: type[_NodeT], yaml_str: str | bytes, *, allow_unsafe: bool = False) -> _NodeT:
        """Load a node from a string of YAML.

        Args:
            yaml_str: The YAML text (bytes are read as utf-8).
            allow_unsafe: As in :meth:`open`.

        Returns:
            The loaded node.

        Raises:
            ConfigError: The text is not valid YAML (or bytes not valid utf-8), or
                its top level is not a mapping.
            UnsafeYAMLError: The text uses a tag that can run code.
        """
        if isinstance(yaml_str, bytes):
            yaml_str = _decode(yaml_str, "utf-8", "<string>")
        made = _expressions_made
        cfg = _resolved(_load_config(yaml_str, "<string>", cls, allow_unsafe)[0], made)
        object.__setattr__(cfg, "_sources", (("<string>", yaml_str),))
        return cfg

    @classmethod
    def dump(
        cls,
        cfg: Mapping[Any, Any] | None = None,
        stream: IO[Any] | None = None,
        encoding: str | None = None,
        **kwargs: Any,
    ) -> str | None:
        """Write ``cfg`` as YAML into ``stream``, or return it as a string.

        Keys keep their order (pass ``sort_keys=True`` to sort them) and
        collections are written in block style. Tuples are written as
        ``(a, b)``; where that could not load back as a tuple (a flow style was
        asked for, or an element is not a plain literal) they are written as
        ``!!python/tuple [a, b]``, which :meth:`load` also reads safely.

        ``dump`` is a class method: yacs's ``cfg.dump()`` is ``CfgNode.dump(cfg)``
        here (or ``cfg.dump(cfg)``); without a mapping to write it raises a
        :class:`ConfigTypeError` saying so.

        Args:
            cfg: The node (or any mapping) to write.
            stream: A text or binary file object; if None, a string is returned.
            encoding: Encoding of the bytes written to a binary stream (utf-8
                if None); ignored without a stream.
            **kwargs: Options of PyYAML's dumper, e.g. ``allow_unicode``,
                ``line_break``, ``explicit_start``, ``explicit_end``, ``version``,
                ``tags``, ``indent``, ``width``, ``sort_keys``, ``default_flow_style``.

        Returns:
            The YAML text if ``stream`` is None, otherwise None.

        Raises:
            ConfigTypeError: ``cfg`` is not a mapping, a value is not a YAML type, or
                a string holds a lone surrogate (not valid Unicode); the error names
                its key.
        """
        if not isinstance(cfg, Mapping):
            raise _dump_call_error(cfg)
        options: dict[str, Any] = {"default_flow_style": False, "sort_keys": False, **kwargs}
        plain_tuples = (
            options["default_flow_style"] is False
            and not options.get("canonical")
            and options.get("default_style") is None
        )
        dumper = _DUMPERS[(_use_libyaml, plain_tuples)]
        try:
            text = cast(str, yaml.dump(cfg, None, Dumper=dumper, **options))
        except yaml.representer.RepresenterError as err:
            raise _unrepresentable_error(cfg, err) from err
        except (UnicodeEncodeError, _SurrogateError) as err:  # libyaml, Python emitter
            raise _surrogate_error(cfg, err.object) from err
        if stream is None:
            return text
        # Encoding here, not in PyYAML: its two emitters disagree on UTF-16 BOMs.
        stream.write(text.encode(encoding or "utf-8") if _is_binary(stream) else text)
        return None

    def dict(self) -> builtins.dict[Any, Any]:
        """Return the content as plain Python: dicts, lists, tuples and leaves.

        Leaves are not copied.
        """
        return cast(dict[Any, Any], _to_plain(self))

    @classmethod
    def from_dataclass(cls: type[_NodeT], schema: type) -> _NodeT:
        """Return a config holding the defaults of the dataclass ``schema``.

        Fields of a dataclass type become nodes; fields without a default are
        unset (as ``???``: see :meth:`missing_keys`); an ``Enum`` default is
        stored by name and a path (``pathlib.Path``, any ``os.PathLike``) as its
        text, so the config dumps to YAML. Check a config against the
        schema with :meth:`validate`.

        Example::

            @dataclasses.dataclass
            class Solver:
                BASE_LR: float = 0.1
                STEPS: Tuple[int, ...] = (1000, 2000)

            cfg = CfgNode.from_dataclass(Solver)
            assert cfg.BASE_LR == 0.1

        Args:
            schema: A dataclass (the class, not an instance).

        Returns:
            The config, unfrozen.

        Raises:
            ConfigTypeError: ``schema`` is not a dataclass.
        """
        return cast(_NodeT, _node_from_dataclass(_require_dataclass(schema), cls))

    def validate(self, schema: type) -> None:
        """Check every key of this node against the dataclass ``schema``.

        Checks the type of each value (``int``, ``float`` (an int is fine),
        ``str``, ``bool``, ``None``, ``Optional``, ``Union``, ``List``, ``Tuple``,
        ``Dict[str, ...]``, ``Literal``, ``Enum`` (a member or its name), ``Path``
        (a path or a string), nested dataclasses, ``Any``, other classes by
        ``isinstance``), keys the schema
        lacks and fields the config lacks (or holds unset, ``???``).

        Example::

            cfg.validate(TrainConfig)   # raises SchemaError listing every problem

        Args:
            schema: A dataclass (the class, not an instance).

        Raises:
            SchemaError: One or more problems; each names the key path and, where
                known, the file and line.
            ConfigTypeError: ``schema`` is not a dataclass.
        """
        problems: list[tuple[str, str]] = []
        _check_dataclass(self, _require_dataclass(schema), _node_path(self), problems)
        if problems:
            raise _schema_error(self, schema, problems)

    def missing_keys(self) -> list[str]:
        """Return the key paths below this node that have no value yet.

        Those are keys marked ``???`` in a file and not set since, and keys
        whose ``${...}`` cannot be resolved now (it refers to one of them, or to
        a key that is gone). Reading any of them raises the reason.

        Example::

            cfg = CfgNode.load("DATA:\\n  ROOT: ???\\n  TRAIN: ${DATA.ROOT}/train\\n")
            assert cfg.missing_keys() == ["DATA.ROOT", "DATA.TRAIN"]
        """
        return [
            _join(path, key)
            for node, path in _walk_nodes(self, _node_path(self))
            if node._exprs
            for key in node._exprs
            if not dict.__contains__(node, key)
        ]

    def resolve(self: _NodeT) -> _NodeT:
        """Return a deep copy whose values are plain: no ``${...}`` is kept.

        Values already read as resolved; this copy also dumps and saves the
        values instead of the ``${...}`` text. Environment variables are read again.

        Raises:
            MissingValueError: A key has no value yet (see :meth:`missing_keys`).
            ConfigKeyError: A ``${...}`` refers to a key that does not exist.
        """
        _refresh(self)
        for node, _ in _walk_nodes(self, ""):
            for key in node._exprs or ():
                if not dict.__contains__(node, key):
                    _read_unset(node, key)  # raises why the key has no value
        copied = deepcopy(self)
        for node, _ in _walk_nodes(copied, ""):
            object.__setattr__(node, "_exprs", None)
        return copied

    def __str__(self) -> str:
        return str(self.dict())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dict()!r})"

    # -- yacs-style command-line and file overrides --

    def merge_from_file(
        self,
        file: str | os.PathLike[str],
        encoding: str = "utf-8",
        *,
        allow_unsafe: bool = False,
        base_root: str | os.PathLike[str] | None = None,
    ) -> None:
        """Merge a YAML file into this node, accepting only keys it already has.

        The file may have a ``__BASE__`` (see :class:`HierarchicalCfgNode`).
        Each value must have the type of the value it replaces, except that an
        int may replace a float, a list a tuple (and back), and None anything.
        A ``???`` keeps the value there (as in OmegaConf). Nothing changes if an
        error is raised.

        Args:
            file: Path of the YAML file.
            encoding: Text encoding of the file.
            allow_unsafe: As in :meth:`open`.
            base_root: As in :meth:`HierarchicalCfgNode.open`.

        Raises:
            ConfigKeyError: The file has a key this node lacks, or a key registered
                with :meth:`register_renamed_key` (names file and line).
            ConfigTypeError: A value has the wrong type (names file and line).
            FrozenConfigError: This node is frozen.
        """
        if self._frozen:
            raise _frozen_error(self, _NO_KEY, "merge a file into")
        locations: dict[str, tuple[str, int]] = {}
        path = os.fspath(file)
        other = _open_tree(
            path, encoding, allow_unsafe, type(self), base_root=base_root, locations=locations
        )
        origin = _Origin(path, locations)
        root = _root_of(self)
        object.__setattr__(root, "_sources", (*root._sources, (path, None)))
        if self._key_rules is not None:
            self._key_rules.apply_to_tree(other, _node_path(self), origin)
        updates: list[tuple[CfgNode, Any, Any]] = []
        _plan_merge(self, other, _node_path(self), origin, updates)
        _apply_updates(updates)
        if _expressions_made:
            _refresh(self)

    def merge_from_list(self, cfg_list: list[Any] | tuple[Any, ...]) -> None:
        """Merge ``["KEY.PATH", "value", ...]`` pairs or ``"KEY.PATH=value"`` items.

        Both styles mix freely: yacs's pairs (``"SOLVER.BASE_LR", "0.1"``) and
        the dotlist items of OmegaConf and Hydra (``"SOLVER.BASE_LR=0.1"``). An
        item that starts an override and holds ``=`` is a ``KEY=VALUE`` item
        (split at the first ``=``); any other takes the next item as its value.

        Keys must exist. A string value is read as YAML (``"0.1"``, ``"true"``,
        ``"(224, 224)"``, ``"[1, 2]"``) unless the current value is a string,
        which then takes the string as given. Types are checked as in
        :meth:`merge_from_file`. Nothing changes if an error is raised.

        Example::

            parser.add_argument("overrides", nargs="*")       # SOLVER.BASE_LR=0.1 ...
            cfg.merge_from_list(parser.parse_args().overrides)

        Args:
            cfg_list: Dotted key paths and values, as pairs or ``KEY=VALUE`` items.

        Raises:
            ConfigError: A key has no value.
            ConfigKeyError: A key path does not exist (close matches suggested),
                or was registered with :meth:`register_renamed_key`.
            ConfigTypeError: ``cfg_list`` is not a list, or a value has the wrong type.
            FrozenConfigError: This node is frozen.
        """
        if not isinstance(cfg_list, (list, tuple)):
            raise ConfigTypeError(
                "merge_from_list() takes a list like ['SOLVER.BASE_LR=0.1'] or"
                f" ['SOLVER.BASE_LR', '0.1'], got {_describe(cfg_list)}. For a mapping use"
                " merge().",
                expected="list",
                actual=type(cfg_list).__name__,
            )
        if self._frozen:
            raise _frozen_error(self, _NO_KEY, "merge a list into")
        origin = _Origin("merge_from_list", None)
        root_path = _node_path(self)
        overrides: dict[Any, Any] = {}
        for key_path, raw in _override_pairs(cfg_list):
            if self._key_rules is not None and self._key_rules.drops(
                key_path, root_path, origin, 3
            ):
                continue
            parent, key = _find_key(self, key_path)
            value = _parse_override(raw, dict.get(parent, key), type(self))
            _nest(overrides, key_path.split("."), value)
        updates: list[tuple[CfgNode, Any, Any]] = []
        _plan_merge(self, overrides, _node_path(self), origin, updates)
        _apply_updates(updates)
        if _expressions_made:
            _refresh(self)

    def register_deprecated_key(self, key: str) -> None:
        """Drop ``key`` with a warning when a file or list merged into this node sets it.

        As in yacs: a key that no longer exists but that old files still set.

        Example::

            cfg.register_deprecated_key("MODEL.USE_FP16")
            cfg.merge_from_list(["MODEL.USE_FP16=true"])   # warns, changes nothing

        Args:
            key: Dotted key path, relative to this node.

        Raises:
            ConfigKeyError: ``key`` is already registered as renamed or deprecated.
        """
        _rules_of(self).add(key, None)

    def register_renamed_key(
        self, old_name: str, new_name: str, message: str | None = None
    ) -> None:
        """Refuse ``old_name`` in merged files and lists, naming ``new_name`` in the error.

        As in yacs: :meth:`merge_from_file` and :meth:`merge_from_list` raise
        :class:`ConfigKeyError` for the old key, so old files fail with the fix.

        Example::

            cfg.register_renamed_key("SOLVER.LR", "SOLVER.BASE_LR", "LR is now BASE_LR")

        Args:
            old_name: Dotted key path that is no longer valid, relative to this node.
            new_name: Dotted key path to use instead.
            message: More advice for the error message.

        Raises:
            ConfigKeyError: ``old_name`` is already registered as renamed or deprecated.
        """
        _rules_of(self).add(old_name, (new_name, message))

    # -- dict methods, all refusing to change a frozen node --

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._frozen:
            raise _frozen_error(self, key, "set")
        if self._exprs is not None:
            self._exprs.pop(key, None)  # a value set by hand replaces an expression
        if _expressions_made and isinstance(value, CfgNode) and _moves_between_configs(value, self):
            value = deepcopy(value)  # sharing it, both configs would resolve it
        value = _convert(value, type(self), False)
        if self._places:
            _store_in_place(self, key, value)
        else:
            _store(self, key, value)
        if _expressions_made:
            _refresh_after_set(self, key, value)

    def __delitem__(self, key: Any) -> None:
        if self._frozen:
            raise _frozen_error(self, key, "delete")
        if self._exprs is not None and self._exprs.pop(key, None) is not None:
            dict.pop(self, key, None)
            self.__dict__.pop(key, None)
        elif key not in self:
            raise _missing_key_error(self, key, ConfigKeyError)
        else:
            _remove(self, key)
        if _expressions_made:
            _refresh(self)

    def __missing__(self, key: Any) -> Any:
        # dict.__getitem__ calls this for a missing key; hits cost nothing extra.
        if self._exprs is not None and key in self._exprs:
            return _read_unset(self, key)
        raise _missing_key_error(self, key, ConfigKeyError)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Set keys from a mapping or pairs, like ``dict.update`` (no deep merge)."""
        if self._frozen:
            raise _frozen_error(self, _NO_KEY, "update")
        if isinstance(other, Mapping):
            pairs = list(other.items())
        elif hasattr(other, "keys"):  # the dict.update protocol: keys() and []
            keys = list(other.keys())
            pairs = [(key, other[key]) for key in keys]
        else:
            pairs = [tuple(pair) for pair in other]
        pairs.extend(kwargs.items())
        node_class = type(self)
        for key, value in pairs:
            if self._exprs is not None:
                self._exprs.pop(key, None)
            _store(self, key, _convert(value, node_class, False))
        if _expressions_made:
            _refresh(self)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Return ``self[key]``, first setting it to ``default`` if missing."""
        if self._frozen:
            raise _frozen_error(self, key, "setdefault")
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def pop(self, key: Any, *default: Any) -> Any:
        """Remove ``key`` and return its value (or ``default`` if given and missing)."""
        if len(default) > 1:
            raise TypeError(f"pop expected at most 2 arguments, got {1 + len(default)}")
        if self._frozen:
            raise _frozen_error(self, key, "pop")
        if key in self:
            value = _remove(self, key)
            if self._exprs is not None:
                self._exprs.pop(key, None)
            if _expressions_made:
                _refresh(self)
            return value
        if default:
            return default[0]
        raise _missing_key_error(self, key, ConfigKeyError)

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last inserted ``(key, value)`` pair."""
        if self._frozen:
            raise _frozen_error(self, _NO_KEY, "popitem from")
        key, value = dict.popitem(self)
        if isinstance(key, str):
            self.__dict__.pop(key, None)
        if self._exprs is not None:
            self._exprs.pop(key, None)
        if _expressions_made:
            _refresh(self)
        return key, value

    def clear(self) -> None:
        """Remove every key."""
        if self._frozen:
            raise _frozen_error(self, _NO_KEY, "clear")
        dict.clear(self)
        self.__dict__.clear()
        object.__setattr__(self, "_exprs", None)
        if _expressions_made:
            _refresh(self)

    def __ior__(self: _NodeT, other: Any) -> _NodeT:
        self.update(other)
        return self

    def __or__(self: _NodeT, other: Any) -> _NodeT:
        if not isinstance(other, Mapping):
            return NotImplemented
        result = _shallow_copy(self, frozen=False)
        result.update(other)
        return result

    def __ror__(self: _NodeT, other: Any) -> _NodeT:
        if not isinstance(other, Mapping):
            return NotImplemented
        result = type(self)(other, copy=False)
        result.update(self)
        return result

    # -- copying and pickling --

    def __copy__(self: _NodeT) -> _NodeT:
        return _shallow_copy(self, frozen=self._frozen)

    def __deepcopy__(self: _NodeT, memo: builtins.dict[int, Any]) -> _NodeT:
        new = _new_node(type(self))
        memo[id(self)] = new
        for key, value in dict.items(self):
            _store(new, key, value if type(value) in _ATOMIC_TYPES else deepcopy(value, memo))
        object.__setattr__(new, "_frozen", self._frozen)
        if self._key_rules is not None:
            object.__setattr__(new, "_key_rules", deepcopy(self._key_rules, memo))
        if self._sources:
            object.__setattr__(new, "_sources", self._sources)
        if self._holds_exprs:
            _copy_exprs(self, new)
            _mark_holds_exprs(new)
            parent = _holding_parent(self)
            if parent is not None and id(parent) not in memo:
                _detach(new)  # copied out of its config, not along with it
        return new

    def __reduce__(self) -> tuple[Any, ...]:
        # The items travel in the state: set through __setitem__ while unpickling, each
        # would resolve the tree again (and leave what it learned of the half-built tree).
        # A node pickles its ${...} as a copy of it keeps them (those reading keys as
        # values, when it is below the top of its config); the top restores the tree's.
        state: dict[str, Any] = {
            "frozen": self._frozen,
            "key_rules": self._key_rules,
            "exprs": self._exprs,
            "places": self._places,
            "items": list(dict.items(self)),
        }
        if self._holds_exprs:
            if _holding_parent(self) is None:
                state["tree_exprs"] = [
                    (node, node._exprs) for node in _iter_nodes(self)[1:] if node._exprs
                ]
            elif self._exprs:
                kept = {key: expr for key, expr in self._exprs.items() if not _reads_keys(expr)}
                state["exprs"] = kept or None
        return (type(self), (), state)

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for key, value in state.get("items", ()):
            _store(self, key, value)
        object.__setattr__(self, "_frozen", bool(state.get("frozen", False)))
        object.__setattr__(self, "_key_rules", state.get("key_rules"))
        object.__setattr__(self, "_exprs", state.get("exprs"))
        object.__setattr__(self, "_places", state.get("places"))
        if self._exprs:
            _mark_holds_exprs(self)
        for node, exprs in state.get("tree_exprs", ()):
            object.__setattr__(node, "_exprs", exprs)
            _mark_holds_exprs(node)


CfgNode._reserved_names = frozenset(dir(CfgNode))


class HierarchicalCfgNode:
    """Open YAML files that inherit from other files through ``__BASE__``.

    ``example-A.yaml``::

        __BASE__: ./example-B.yaml
        A: in example-A.yaml
        C: in example-A.yaml

    ``example-B.yaml``::

        A: in example-B.yaml
        B: in example-B.yaml

    ``HierarchicalCfgNode.open("example-A.yaml")`` gives
    ``{'A': 'in example-A.yaml', 'B': 'in example-B.yaml', 'C': 'in example-A.yaml'}``:
    the file's keys are merged over its base (see :meth:`CfgNode.merge`).

    ``__BASE__`` is a path or a list of paths (merged in order, later ones
    win). A relative path is looked up next to the including file first, then
    as given (relative to the working directory); absolute paths work. Bases
    may have bases; a cycle raises :class:`ConfigError` showing the chain.
    ``HierarchicalCfgNode.__BASE__`` is the key's name, as in the original.
    """

    __BASE__: ClassVar[str] = "__BASE__"

    @classmethod
    def open(
        cls,
        file: str | os.PathLike[str],
        encoding: str = "utf-8",
        *,
        allow_unsafe: bool = False,
        base_root: str | os.PathLike[str] | None = None,
    ) -> CfgNode:
        """Load a ``CfgNode`` from a file, merging it over its ``__BASE__`` files.

        Each file is read once, however many files name it as a base.

        Args:
            file: Path to the YAML file.
            encoding: Text encoding of the files.
            allow_unsafe: As in :meth:`CfgNode.open`, for every file read.
            base_root: If given, every ``__BASE__`` file (after symlinks) must lie
                in this folder; use it when the files come from someone else.

        Returns:
            The merged config, without the ``__BASE__`` key.

        Raises:
            FileNotFoundError: The file or one of its bases does not exist.
            ConfigError: A file is invalid, ``__BASE__`` is not a path or a list
                of paths, the bases form a cycle, or a base lies outside ``base_root``.
            UnsafeYAMLError: A file uses a tag that can run code.
        """
        made = _expressions_made
        files: list[str] = []
        cfg = _open_tree(
            os.fspath(file), encoding, allow_unsafe, CfgNode, base_root=base_root, order=files
        )
        object.__setattr__(cfg, "_sources", tuple((path, None) for path in files))
        return _resolved(cfg, made)

    @classmethod
    def save(
        cls,
        cfg: Mapping[Any, Any],
        save_path: str | os.PathLike[str],
        base_cfg_path: str | os.PathLike[str] | None = None,
        base_path_relative: bool = True,
        encoding: str = "utf-8",
        *,
        strict: bool = False,
    ) -> None:
        """Save ``cfg`` as a file holding ``__BASE__`` and only what differs from it.

        Keys of the base that ``cfg`` lacks cannot be written as missing: as in
        the original they are left out with a ``UserWarning`` naming
        them, and they come back from the base when the file is opened. Pass
        ``strict=True`` to refuse such a ``cfg`` instead; otherwise opening the
        saved file with :meth:`open` gives back ``cfg``.

        Example::

            HierarchicalCfgNode.save(cfg, "exp/lr.yaml", "configs/base.yaml")

        Args:
            cfg: The config to save (a ``CfgNode`` or any mapping).
            save_path: Path of the file to write; it is replaced atomically.
            base_cfg_path: Path of the base file (opened with its own bases); if
                None, this is ``cfg.save(save_path, encoding)``.
            base_path_relative: Write the base path relative to the directory of
                ``save_path`` (else absolute).
            encoding: Text encoding of the files.
            strict: Raise instead of warning when ``cfg`` lacks keys of the base.

        Raises:
            ConfigKeyError: ``strict`` is True and the base has a key that ``cfg``
                lacks, or ``cfg`` has a ``__BASE__`` key.
            ConfigError: ``save_path`` is the base file or one of its bases, which
                the save would destroy.
        """
        if base_cfg_path is None:
            # A node saves itself: wrapping it would make the wrapper the parent of its
            # children, and their errors would lose their key paths with the wrapper.
            node = cfg if isinstance(cfg, CfgNode) else CfgNode(cfg, copy=False)
            node.save(save_path, encoding)
            return
        if _BASE_KEY in cfg:
            raise ConfigKeyError(
                f"cfg has its own {_BASE_KEY!r} key; remove it before saving with a base.",
                key=_BASE_KEY,
            )
        base_path = os.fspath(base_cfg_path)
        chain: set[str] = set()
        made = _expressions_made
        base = _resolved(_open_tree(base_path, encoding, False, CfgNode, files=chain), made)
        _refuse_overwriting_base(os.fspath(save_path), base_path, chain)
        lost: list[str] = []
        difference = _difference(cfg, base, "", lost)
        if lost:
            _report_lost_keys(lost, base_path, strict)
        reference = _base_reference(base_path, os.fspath(save_path), base_path_relative)
        out = CfgNode({_BASE_KEY: reference})
        for key, value in difference.items():
            _store(out, key, value)
        out.save(save_path, encoding)


# -- Internals: the node tree ---------------------------------------------------

_MISSING: Final = object()  # "no value" where None is a valid value
_NO_KEY: Final = object()  # an error about a whole node, not one of its keys
_ATOMIC_TYPES: Final = frozenset({str, int, float, bool, type(None), bytes, complex})
_BASE_KEY: Final = "__BASE__"


def _init_slots(node: CfgNode) -> None:
    object.__setattr__(node, "_exprs", None)
    object.__setattr__(node, "_frozen", False)
    object.__setattr__(node, "_holds_exprs", False)
    object.__setattr__(node, "_key_rules", None)
    object.__setattr__(node, "_sources", ())
    object.__setattr__(node, "_references", None)
    object.__setattr__(node, "_dependants", None)
    object.__setattr__(node, "_places", None)
    object.__setattr__(node, "_parent", None)
    object.__setattr__(node, "_key", ())


def _new_node(node_class: type[_NodeT]) -> _NodeT:
    """Return an empty node without running a subclass ``__init__``."""
    node = dict.__new__(node_class)
    _init_slots(node)
    return node


def _store(node: CfgNode, key: Any, value: Any, *, shared: bool = False) -> None:
    """Put ``value`` (already converted) under ``key``: the one place a key is set.

    With ``shared``, nodes in ``value`` that another node holds stay that node's:
    a shallow copy shares them, and changes to them must still reach their config.
    """
    dict.__setitem__(node, key, value)
    if isinstance(key, str) and key not in type(node)._reserved_names:
        node.__dict__[key] = value
    if type(value) not in _ATOMIC_TYPES:
        _adopt(node, value, (key,), shared)


def _remove(node: CfgNode, key: Any) -> Any:
    value = dict.pop(node, key)
    if isinstance(key, str):
        node.__dict__.pop(key, None)
    return value


def _adopt(parent: CfgNode, value: Any, segment: tuple[Any, ...], shared: bool = False) -> None:
    """Record in nodes held by ``parent`` where they live, for key paths and resolving."""
    if isinstance(value, CfgNode):
        if shared and _holding_parent(value) is not None:
            return
        object.__setattr__(value, "_parent", weakref.ref(parent))
        object.__setattr__(value, "_key", segment)
        if value._holds_exprs and not parent._holds_exprs:
            _mark_holds_exprs(parent)
    elif type(value) is list or type(value) is tuple:
        for index, item in enumerate(value):
            if type(item) not in _ATOMIC_TYPES:
                _adopt(parent, item, (*segment, index), shared)


def _node_path(node: CfgNode) -> str:
    """Return the dotted key path of ``node`` from the root it is held by ("" for a root)."""
    parts: list[str] = []
    seen: set[int] = set()
    while id(node) not in seen:
        seen.add(id(node))
        parent = node._parent() if node._parent is not None else None
        if parent is None or not _holds(parent, node._key, node):
            break  # a root, or a node moved out of its last parent
        key, *indices = node._key
        parts.append(str(key) + "".join(f"[{index}]" for index in indices))
        node = parent
    return ".".join(reversed(parts))


def _holds(parent: CfgNode, segment: tuple[Any, ...], node: CfgNode) -> bool:
    value = dict.get(parent, segment[0], _MISSING)
    for index in segment[1:]:
        if type(value) not in (list, tuple) or not 0 <= index < len(value):
            return False
        value = value[index]
    return value is node


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _convert(value: Any, node_class: type[CfgNode], copy: bool) -> Any:
    """Return ``value`` with mappings turned into nodes (deep-copied if ``copy``)."""
    kind = type(value)
    if kind in _ATOMIC_TYPES:
        return value
    if isinstance(value, CfgNode) and not copy:
        return value
    if isinstance(value, Mapping):
        node = _new_node(type(value) if isinstance(value, CfgNode) else node_class)
        for key, item in value.items():
            _store(node, key, _convert(item, node_class, copy))
        if isinstance(value, CfgNode):
            _copy_exprs(value, node)
            if value._holds_exprs:
                _mark_holds_exprs(node)
        return node
    if kind is list or kind is tuple:
        items = [_convert(item, node_class, copy) for item in value]
        if not copy and all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if kind is list else tuple(items)
    return deepcopy(value) if copy else value


def _to_plain(value: Any) -> Any:
    if isinstance(value, CfgNode):
        return {key: _to_plain(item) for key, item in dict.items(value)}
    if type(value) is list:
        return [_to_plain(item) for item in value]
    if type(value) is tuple:
        return tuple(_to_plain(item) for item in value)
    return value


def _shallow_copy(node: _NodeT, frozen: bool) -> _NodeT:
    new = _new_node(type(node))
    for key, value in dict.items(node):
        _store(new, key, value, shared=True)
    object.__setattr__(new, "_frozen", frozen)
    object.__setattr__(new, "_key_rules", copy.copy(node._key_rules))
    _copy_exprs(node, new)
    if node._holds_exprs:
        _mark_holds_exprs(new)
    return new


def _copy_tree(value: Any) -> Any:
    """Rebuild nodes, lists and tuples so that no object appears twice in the tree."""
    if isinstance(value, CfgNode):
        new = _new_node(type(value))
        for key, item in dict.items(value):
            _store(new, key, _copy_tree(item))
        _copy_exprs(value, new)
        if value._holds_exprs:
            _mark_holds_exprs(new)
        return new
    if type(value) is list:
        return [_copy_tree(item) for item in value]
    if type(value) is tuple:
        return tuple(_copy_tree(item) for item in value)
    return value


# -- Internals: freezing and merging --------------------------------------------


class _Origin:
    """Where merged values come from, for messages: a file (with key lines) or a call."""

    def __init__(self, name: str, lines: dict[str, tuple[str, int]] | None) -> None:
        self.name = name
        self.lines = lines  # key path -> (file, line); None when not from a file

    def locate(self, path: str) -> tuple[str | None, int | None]:
        if self.lines is None:
            return None, None
        return self.lines.get(path, (self.name, None))

    def describe(self, path: str) -> str:
        file, line = self.locate(path)
        if file is None:
            return f" (from {self.name})"
        return f" in {file}, line {line}" if line is not None else f" in {file}"


def _set_frozen(root: Any, frozen: bool) -> None:
    stack = [root]
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, CfgNode):
            object.__setattr__(value, "_frozen", frozen)
            stack.extend(item for item in dict.values(value) if type(item) not in _ATOMIC_TYPES)
        elif type(value) is list or type(value) is tuple:
            stack.extend(item for item in value if type(item) not in _ATOMIC_TYPES)


def _plan_merge(
    target: CfgNode,
    source: Mapping[Any, Any],
    path: str,
    origin: _Origin | None,
    updates: list[tuple[CfgNode, Any, Any]],
) -> None:
    """Collect the ``(node, key, value)`` sets that merge ``source`` into ``target``.

    With an ``origin`` the merge is strict: keys must exist and types match.
    Nothing is changed here, so a failing merge leaves the config untouched.
    """
    if target._frozen:
        raise _frozen_error(target, _NO_KEY, "merge into")
    node_class = type(target)
    for key, value in _written_items(source):
        key_path = _join(path, key)
        current = dict.get(target, key, _MISSING)
        if isinstance(current, CfgNode) and isinstance(value, Mapping):
            _plan_merge(current, value, key_path, origin, updates)
            continue
        if origin is not None:
            if current is _MISSING and not _is_unset(target, key):
                raise _unknown_key_error(target, key, key_path, origin)
            if current is not _MISSING and type(value) not in _PENDING_TYPES:
                value = _coerce(current, value, key_path, origin)  # noqa: PLW2901
        if type(value) is _Required and (current is not _MISSING or _is_unset(target, key)):
            continue  # as in OmegaConf, merging ??? keeps the value (or expression) there
        updates.append((target, key, _convert(value, node_class, True)))


def _written_items(source: Mapping[Any, Any]) -> Iterable[tuple[Any, Any]]:
    """Return the items of ``source`` with its ``${...}`` and ``???`` as written."""
    if not isinstance(source, CfgNode) or not source._exprs:
        return source.items()
    exprs = source._exprs
    items = [(key, exprs.get(key, value)) for key, value in dict.items(source)]
    items.extend((key, expr) for key, expr in exprs.items() if not dict.__contains__(source, key))
    return items


def _merge_loaded(target: CfgNode, source: Mapping[Any, Any]) -> None:
    """Merge as :meth:`CfgNode.merge` does, leaving ``${...}`` values unresolved."""
    updates: list[tuple[CfgNode, Any, Any]] = []
    _plan_merge(target, source, _node_path(target), None, updates)
    _apply_updates(updates)


def _apply_updates(updates: list[tuple[CfgNode, Any, Any]]) -> None:
    for node, key, value in updates:
        if node._exprs is not None:
            node._exprs.pop(key, None)  # the merged value (maybe an expression) replaces it
        _store_in_place(node, key, value)
        if type(value) in _PENDING_TYPES:
            _mark_holds_exprs(node)


def _coerce(current: Any, value: Any, path: str, origin: _Origin) -> Any:
    """Return ``value`` as the type of ``current``, or raise ConfigTypeError."""
    if value is None or current is None:
        return value
    have, give = type(current), type(value)
    if give is have:
        return value
    if have is float and give is int:
        return float(value)
    if have in (list, tuple) and give in (list, tuple):
        return have(value)
    if isinstance(value, have) and not isinstance(value, bool):
        return value
    file, line = origin.locate(path)
    raise ConfigTypeError(
        f"{path!r}{origin.describe(path)} is {_describe(value)}, but the config has"
        f" {_describe(current)} there. Give {_with_article(have.__name__)}, or change the type"
        " of the default value first.",
        key=path,
        file=file,
        line=line,
        expected=have.__name__,
        actual=give.__name__,
    )


def _find_key(root: CfgNode, key_path: Any) -> tuple[CfgNode, Any]:
    """Return ``(node, key)`` for an existing dotted key path, or raise ConfigKeyError."""
    if not isinstance(key_path, str):
        raise ConfigKeyError(
            f"merge_from_list() keys are dotted strings like 'SOLVER.BASE_LR', got {key_path!r}.",
            key=str(key_path),
        )
    node, names = root, key_path.split(".")
    root_path = _node_path(root)
    for depth, name in enumerate(names):
        path = _join(root_path, ".".join(names[: depth + 1]))
        if name not in node and not _is_unset(node, name):
            raise _unknown_key_error(node, name, path, _Origin("merge_from_list", None))
        if depth == len(names) - 1:
            break
        child = dict.get(node, name)
        if not isinstance(child, CfgNode):
            raise ConfigKeyError(
                f"unknown key {_join(root_path, key_path)!r} (from merge_from_list):"
                f" {path!r} is {_describe(child)}, not a node with keys.",
                key=_join(root_path, key_path),
            )
        node = child
    return node, names[-1]


def _nest(tree: dict[Any, Any], names: list[str], value: Any) -> None:
    """Set ``value`` at ``names`` in nested dicts; a later, longer path wins over a leaf."""
    for name in names[:-1]:
        if not isinstance(tree.get(name), dict):
            tree[name] = {}
        tree = tree[name]
    tree[names[-1]] = value


def _parse_override(raw: Any, current: Any, node_class: type[CfgNode]) -> Any:
    """Read a command-line value as YAML, unless the config holds a string there.

    A string there takes the text as given, but for ``${...}`` (and ``$${``) in it.
    """
    if not isinstance(raw, str):
        return raw
    if isinstance(current, str):
        return _parse_dollars(raw, "<merge_from_list value>", 1) if "${" in raw else raw
    try:
        return _parse_yaml(raw, "<merge_from_list value>", node_class, False)[0]
    except UnsafeYAMLError:
        raise
    except ConfigError:
        return raw  # not YAML: the type check then says what was expected


def _override_pairs(cfg_list: list[Any] | tuple[Any, ...]) -> list[tuple[Any, Any]]:
    """Split ``merge_from_list`` items into ``(key path, raw value)`` pairs."""
    pairs: list[tuple[Any, Any]] = []
    index = 0
    while index < len(cfg_list):
        item = cfg_list[index]
        if isinstance(item, str) and "=" in item:
            key_path, _, raw = item.partition("=")
            pairs.append((key_path, raw))
            index += 1
        elif index + 1 < len(cfg_list):
            pairs.append((item, cfg_list[index + 1]))
            index += 2
        else:
            raise ConfigError(
                f"merge_from_list(): {item!r} (item {index}) has no value. Give KEY VALUE"
                " pairs or KEY=VALUE items."
            )
    return pairs


class _KeyRules:
    """The renamed and deprecated keys of a node, as dotted paths relative to it."""

    def __init__(self) -> None:
        # key path -> None (deprecated) or (new key path, advice or None) (renamed)
        self.rules: dict[str, tuple[str, str | None] | None] = {}

    def __copy__(self) -> _KeyRules:
        new = _KeyRules()
        new.rules = dict(self.rules)
        return new

    def add(self, key: str, renamed_to: tuple[str, str | None] | None) -> None:
        if not isinstance(key, str) or not key:
            raise ConfigKeyError(f"a key to register is a dotted path, got {key!r}.", key=str(key))
        if key in self.rules:
            raise ConfigKeyError(
                f"{key!r} is already registered as {self._describe(key)}; register a key once.",
                key=key,
            )
        self.rules[key] = renamed_to

    def drops(self, key_path: str, root_path: str, origin: _Origin, stacklevel: int) -> bool:
        """Return True for a deprecated key (after warning); raise for a renamed one.

        ``stacklevel`` is that of the user's call, as seen from here.
        """
        if key_path not in self.rules:
            return False
        rule = self.rules[key_path]
        path = _join(root_path, key_path)
        where = origin.describe(key_path)  # a file's key lines are relative to the merged node
        if rule is None:
            warnings.warn(
                f"ignored the deprecated key {path!r}{where}; remove it.",
                UserWarning,
                stacklevel=stacklevel,
            )
            return True
        new_name, advice = rule
        file, line = origin.locate(key_path)
        raise ConfigKeyError(
            f"the key {path!r}{where} was renamed to"
            f" {_join(root_path, new_name)!r}. Use the new name."
            + (f" Note: {advice}" if advice else ""),
            key=path,
            file=file,
            line=line,
        )

    def apply_to_tree(self, tree: CfgNode, root_path: str, origin: _Origin) -> None:
        """Check ``tree`` (to be merged) for registered keys, dropping deprecated ones."""
        for key_path in self.rules:
            parent: Any = tree
            *parents, last = key_path.split(".")
            for name in parents:
                parent = dict.get(parent, name) if isinstance(parent, CfgNode) else None
            found = isinstance(parent, CfgNode) and last in parent
            if found and self.drops(key_path, root_path, origin, stacklevel=4):
                _remove(parent, last)

    def _describe(self, key: str) -> str:
        rule = self.rules[key]
        return "deprecated" if rule is None else f"renamed to {rule[0]!r}"


def _rules_of(node: CfgNode) -> _KeyRules:
    if node._key_rules is None:
        object.__setattr__(node, "_key_rules", _KeyRules())
    return cast(_KeyRules, node._key_rules)


# -- Internals: ${...} interpolations and ??? ------------------------------------

# In a string, "$${" is a literal "${" and "${BODY}" an interpolation (BODY holds no
# "$", "{" or "}": nesting is not supported, and a stray "${" is an error).
_DOLLAR: Final = re.compile(r"\$\$\{|\$\{([^${}]*)\}")
_WHOLE_REFERENCE: Final = re.compile(r"\$\{([^${}]*)\}")  # a value that is one ${...}
_REQUIRED_TAG: Final = "tag:easycore,2020:required"
_REQUIRED_PATTERN: Final = re.compile(r"^\?\?\?$")
_ENV_PREFIX: Final = "env:"
# A ${...} may read a key that reads another, and so on, this many times: each step takes
# a few stack frames, and no real config chains that far.
_MAX_REFERENCE_CHAIN: Final = 50
# How many ${...} and ??? values were read in this process. While it is 0, no
# config has any and writes skip re-resolving; a load compares it before and after.
_expressions_made = 0

_Part = Union[str, "tuple[str, str, str | None]"]  # text, or (kind, key path or name, default)


class _Expr:
    """A value with ``${...}`` in it, as written in a file (``text``) and parsed (``parts``)."""

    __slots__ = ("file", "line", "parts", "text")

    def __init__(self, text: str, parts: tuple[_Part, ...], file: str, line: int) -> None:
        self.text, self.parts, self.file, self.line = text, parts, file, line

    def __deepcopy__(self, memo: dict[int, Any]) -> _Expr:
        return self  # immutable

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Expr, (self.text, self.parts, self.file, self.line))


class _Required:
    """A ``???`` in a file: the key must be set before it is read."""

    __slots__ = ("file", "line")

    def __init__(self, file: str, line: int | None) -> None:
        self.file, self.line = file, line

    def __deepcopy__(self, memo: dict[int, Any]) -> _Required:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Required, (self.file, self.line))


_PENDING_TYPES: Final = (_Expr, _Required)
_ExprMap = dict[Any, _Expr | _Required]  # a node's _exprs (built once: casts run hot)


def _parse_dollars(text: str, source: str, line: int) -> str | _Expr:
    """Return ``text`` with ``$${`` unescaped, or an ``_Expr`` if it holds ``${...}``."""
    global _expressions_made
    whole = _WHOLE_REFERENCE.fullmatch(text)
    if whole is not None:  # most expressions are one reference: skip the general loop
        _expressions_made += 1
        return _Expr(text, (_parse_reference(whole.group(1), text, source, line),), source, line)
    parts: list[_Part] = []
    literal: list[str] = []
    position = 0
    for match in _DOLLAR.finditer(text):
        _refuse_stray_dollar(text[position : match.start()], text, source, line)
        literal.append(text[position : match.start()])
        if match.group(1) is None:
            literal.append("${")
        else:
            parts.append("".join(literal))
            literal = []
            parts.append(_parse_reference(match.group(1), text, source, line))
        position = match.end()
    _refuse_stray_dollar(text[position:], text, source, line)
    literal.append(text[position:])
    if not parts:
        return "".join(literal)
    parts.append("".join(literal))
    _expressions_made += 1
    return _Expr(text, tuple(part for part in parts if part != ""), source, line)


def _parse_reference(body: str, text: str, source: str, line: int) -> _Part:
    body = body.strip()
    if body.startswith(_ENV_PREFIX):
        name, comma, default = body[len(_ENV_PREFIX) :].partition(",")
        if name.strip():
            return ("env", name.strip(), default.strip() if comma else None)
    elif ":" not in body and body and all(body.split(".")):
        return ("key", body, None)
    raise ConfigError(
        f"{source}, line {line}: cannot read ${{{body}}} in {text!r}. Write ${{A.B}} for"
        " the value of key A.B, ${env:VAR} or ${env:VAR,default} for an environment"
        " variable, and $${ for a literal ${.",
        file=source,
        line=line,
    )


def _refuse_stray_dollar(segment: str, text: str, source: str, line: int) -> None:
    if "${" in segment:
        raise ConfigError(
            f"{source}, line {line}: {text!r} has a '${{' that is not closed (or is nested,"
            " which is not supported). Close it with '}', or write $${ for a literal ${.",
            file=source,
            line=line,
        )


def _construct_required(loader: _ConfigConstructor, node: yaml.Node) -> _Required:
    global _expressions_made
    _expressions_made += 1
    return _Required(loader.config_source, node.start_mark.line + 1)


def _resolved(cfg: _NodeT, made_before: int) -> _NodeT:
    """Resolve ``cfg`` after a load, if the load read any ``${...}`` or ``???``."""
    if _expressions_made != made_before:
        _resolve_tree(cfg, strict=True)
    return cfg


def _refresh(node: CfgNode) -> None:
    """Resolve again the expressions of the tree that holds ``node``, after a change."""
    root = _root_of(node)
    if root._holds_exprs:
        _resolve_tree(root, strict=False)


def _refresh_after_set(node: CfgNode, key: Any, value: Any) -> None:
    """Resolve again after ``node[key] = value`` the expressions that read that key.

    Those that read them are resolved again too; no other expression is.
    """
    root = _root_of(node)
    if not root._holds_exprs:
        return
    references = root._references
    if references is None or (isinstance(value, CfgNode) and value._holds_exprs):
        _resolve_tree(root, strict=False)  # new expressions come with the value
        return
    path = _join(_node_path(node), key)
    if any(_overlaps(path, read) for read in references.get(_first_name(path), ())):
        _resolve_dependants(root, path)


def _first_name(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _resolve_dependants(root: CfgNode, path: str) -> None:
    """Resolve again the expressions that read ``path``, and those reading them, and so on."""
    if root._dependants is None:
        object.__setattr__(root, "_dependants", _index_dependants(root))
    index = cast(dict[str, Any], root._dependants)
    entries: dict[tuple[int, Any], tuple[CfgNode, Any]] = {}
    changed, seen = [path], set()
    while changed:
        changed_path = changed.pop()
        if changed_path in seen:
            continue
        seen.add(changed_path)
        for read, entry_path, node, key in index.get(_first_name(changed_path), ()):
            if (id(node), key) not in entries and _overlaps(changed_path, read):
                entries[(id(node), key)] = (node, key)
                changed.append(entry_path)
    # An entry whose ${...} was set over by hand, or whose node left the tree, is skipped,
    # and the index is built again next time: it would keep such nodes alive.
    live = [
        (node, key)
        for node, key in entries.values()
        if node._exprs is not None and key in node._exprs and _root_of(node) is root
    ]
    if len(live) != len(entries):
        object.__setattr__(root, "_dependants", None)
    _resolve_entries(_Resolver(root), live, strict=False)


def _index_dependants(root: CfgNode) -> dict[str, list[tuple[str, str, CfgNode, Any]]]:
    index: dict[str, list[tuple[str, str, CfgNode, Any]]] = {}
    for node, node_path in _walk_nodes(root, ""):
        for key, expr in (node._exprs or {}).items():
            for part in expr.parts if type(expr) is _Expr else ():
                if not isinstance(part, str) and part[0] == "key":
                    entry = (part[1], _join(node_path, key), node, key)
                    index.setdefault(_first_name(part[1]), []).append(entry)
    return index


def _overlaps(path: str, read: str) -> bool:
    """Return whether changing ``path`` may change what reading key path ``read`` gives."""
    return path == read or read.startswith(f"{path}.") or path.startswith((f"{read}.", f"{read}["))


def _mark_holds_exprs(node: CfgNode | None) -> None:
    while node is not None and not node._holds_exprs:
        object.__setattr__(node, "_holds_exprs", True)
        node = node._parent() if node._parent is not None else None


def _root_of(node: CfgNode) -> CfgNode:
    seen: set[int] = set()
    while id(node) not in seen:
        seen.add(id(node))
        parent = node._parent() if node._parent is not None else None
        if parent is None or not _holds(parent, node._key, node):
            break
        node = parent
    return node


def _resolve_tree(root: CfgNode, strict: bool) -> None:
    """Set every ``${...}`` key of the tree to its value; leave ``???`` keys unset.

    A key that cannot be resolved now (it refers to a ``???``, or with ``strict``
    False to a key that is gone) is left unset, and reading it raises the reason.
    """
    entries: list[tuple[CfgNode, Any]] = []
    for node in _iter_nodes(root, take_pending=True):
        if node._exprs:
            entries.extend((node, key) for key in node._exprs)
    references: dict[str, list[str]] = {}
    for node, key in entries:
        expr = cast(_ExprMap, node._exprs)[key]
        for part in expr.parts if type(expr) is _Expr else ():
            if not isinstance(part, str) and part[0] == "key":
                references.setdefault(part[1].split(".")[0], []).append(part[1])
    object.__setattr__(root, "_references", references)
    object.__setattr__(root, "_dependants", None)
    _resolve_entries(_Resolver(root), entries, strict)


def _resolve_entries(resolver: _Resolver, entries: list[tuple[CfgNode, Any]], strict: bool) -> None:
    """Store the value of each ``(node, key)`` expression, or leave the key unset."""
    # The resolver reads _exprs first, so old values in the dict are never used.
    for node, key in entries:
        try:
            value = resolver.value_of(node, key)
        except MissingValueError:
            value = _MISSING
        except ConfigKeyError:
            if strict:
                raise
            value = _MISSING
        if value is not _MISSING:
            _store_in_place(node, key, value)
        elif dict.__contains__(node, key):
            _unset_in_place(node, key)


def _iter_nodes(root: CfgNode, take_pending: bool = False) -> list[CfgNode]:
    """Return the nodes of the tree below ``root`` (included) that hold expressions.

    Nodes without expressions in or below them are skipped, with all below them.
    With ``take_pending``, an expression or ``???`` found as a value (just loaded or
    merged, not resolved yet) is recorded in its node's ``_exprs`` on the way.
    """
    found: list[CfgNode] = []
    stack: list[Any] = [root]
    seen: set[int] = set()
    atomic, pending = _ATOMIC_TYPES, _PENDING_TYPES
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, CfgNode):
            if not value._holds_exprs:
                continue
            found.append(value)
            # One loop, no generator: this walk is most of resolving a loaded file.
            for key, item in dict.items(value):
                kind = type(item)
                if kind in atomic:
                    continue
                if kind in pending:
                    if take_pending:
                        _exprs_of(value)[key] = item
                else:
                    stack.append(item)
        elif type(value) is list or type(value) is tuple:
            stack.extend(item for item in value if type(item) not in _ATOMIC_TYPES)
    return found


def _walk_nodes(root: CfgNode, root_path: str) -> list[tuple[CfgNode, str]]:
    """Return every node of the tree below ``root`` (included) with its key path."""
    found: list[tuple[CfgNode, str]] = []
    stack: list[tuple[Any, str]] = [(root, root_path)]
    seen: set[int] = set()
    while stack:
        value, path = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, CfgNode):
            found.append((value, path))
            stack.extend(
                (item, _join(path, key))
                for key, item in dict.items(value)
                if type(item) not in _ATOMIC_TYPES
            )
        elif type(value) is list or type(value) is tuple:
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
    return found


def _exprs_of(node: CfgNode) -> dict[Any, _Expr | _Required]:
    if node._exprs is None:
        object.__setattr__(node, "_exprs", {})
        _mark_holds_exprs(node)
    return cast(_ExprMap, node._exprs)


def _copy_exprs(source: CfgNode, target: CfgNode) -> None:
    if source._exprs:
        object.__setattr__(target, "_exprs", dict(source._exprs))
        object.__setattr__(target, "_places", source._places and dict(source._places))
        _mark_holds_exprs(target)


def _unset_in_place(node: CfgNode, key: Any) -> None:
    """Remove the value of ``key``, which keeps its expression, remembering its place."""
    written = list(_as_written(node, cast(_ExprMap, node._exprs)))  # unset keys included
    index = written.index(key)
    _remember_place(node, key, (written[index - 1],) if index else ())
    _remove(node, key)


def _store_in_place(node: CfgNode, key: Any, value: Any) -> None:
    """Store as :func:`_store` does; a key that had no value goes back to its place."""
    places = node._places
    place = places.pop(key, None) if places else None
    if places is None or place is None or dict.__contains__(node, key):
        _store(node, key, value)  # a key there keeps its position
        return
    seen = {key}
    while place and not dict.__contains__(node, place[0]) and place[0] not in seen:
        seen.add(place[0])  # it follows a key without a value: go to the one before that
        place = places.get(place[0])
    keys = list(dict.keys(node))
    if place is None or (place and place[0] not in keys):
        index = len(keys)  # the key it followed is gone
    else:
        index = keys.index(place[0]) + 1 if place else 0
    moved = [(later, dict.pop(node, later)) for later in keys[index:]]
    _store(node, key, value)
    dict.update(node, moved)  # the __dict__ mirror does not move: it holds the same values


def _remember_place(node: CfgNode, key: Any, previous: tuple[Any, ...]) -> None:
    if node._places is None:
        object.__setattr__(node, "_places", {})
    cast(dict[Any, Any], node._places)[key] = previous


def _holding_parent(node: CfgNode) -> CfgNode | None:
    """Return the node that holds ``node`` now, or None for a root."""
    parent = node._parent() if node._parent is not None else None
    return parent if parent is not None and _holds(parent, node._key, node) else None


def _moves_between_configs(node: CfgNode, target: CfgNode) -> bool:
    """Return whether setting ``node``, which holds expressions, into ``target`` moves it."""
    return (
        node._holds_exprs
        and _holding_parent(node) is not None
        and _root_of(node) is not _root_of(target)
    )


def _detach(root: CfgNode) -> None:
    """Keep as plain values the ``${A.B}`` of a tree copied out of its config.

    Their key paths count from the top of the config the tree came from: in the
    copy, a config of its own, they would not resolve, or would find other keys.
    """
    for node in _iter_nodes(root):
        exprs = node._exprs
        if exprs:
            for key in [key for key, expr in exprs.items() if _reads_keys(expr)]:
                del exprs[key]
    object.__setattr__(root, "_references", None)
    object.__setattr__(root, "_dependants", None)


def _reads_keys(expr: _Expr | _Required) -> bool:
    return type(expr) is _Expr and any(
        not isinstance(part, str) and part[0] == "key" for part in expr.parts
    )


def _is_unset(node: CfgNode, key: Any) -> bool:
    return node._exprs is not None and key in node._exprs and not dict.__contains__(node, key)


def _read_unset(node: CfgNode, key: Any) -> Any:
    """Read a key that has an expression or ``???`` but no value: raise why, or resolve it."""
    expr = cast(_ExprMap, node._exprs)[key]
    if type(expr) is _Required:
        raise _missing_value_error(_join(_node_path(node), key), expr, None)
    return _Resolver(_root_of(node)).value_of(node, key)


class _Resolver:
    """Computes the values of ``${...}`` keys of one tree, each once, refusing cycles."""

    def __init__(self, root: CfgNode) -> None:
        self.root = root
        self.done: dict[tuple[int, Any], Any] = {}
        self.active: list[tuple[CfgNode, Any]] = []  # keys being resolved, in order

    def value_of(self, node: CfgNode, key: Any) -> Any:
        token = (id(node), key)
        done = self.done.get(token, _MISSING)
        if done is not _MISSING:
            return done
        expr = cast(_ExprMap, node._exprs)[key]
        if type(expr) is _Required:
            raise _missing_value_error(_join(_node_path(node), key), expr, None)
        tokens = [(id(active), active_key) for active, active_key in self.active]
        if tokens and token in tokens:
            path = _join(_node_path(node), key)
            chain = [
                _join(_node_path(active), active_key)
                for active, active_key in self.active[tokens.index(token) :]
            ]
            raise ConfigKeyError(
                f"{path!r} in {expr.file}, line {expr.line}: interpolations refer to each"
                f" other in a cycle: {' -> '.join([*chain, path])}. Break the cycle.",
                key=path,
                file=expr.file,
                line=expr.line,
            )
        if len(self.active) >= _MAX_REFERENCE_CHAIN:
            first_node, first_key = self.active[0]
            first = _join(_node_path(first_node), first_key)
            start = cast(_ExprMap, first_node._exprs)[first_key]
            raise ConfigKeyError(
                f"{first!r} in {start.file}, line {start.line} refers to a key that refers to"
                f" another, and so on through more than {_MAX_REFERENCE_CHAIN} keys (as far as"
                f" {_join(_node_path(node), key)!r}). Refer to the value itself, not down a chain.",
                key=first,
                file=start.file,
                line=start.line,
            )
        self.active.append((node, key))
        try:
            value = self._evaluate(cast(_Expr, expr), node, key)
        finally:
            self.active.pop()
        self.done[token] = value
        return value

    def _evaluate(self, expr: _Expr, node: CfgNode, key: Any) -> Any:
        first = expr.parts[0]
        if len(expr.parts) == 1 and type(first) is tuple and first[0] == "key":
            return self._lookup(first[1], expr, node, key)  # the common case, directly
        values = [
            part if isinstance(part, str) else self._part(part, expr, node, key)
            for part in expr.parts
        ]
        if len(values) == 1 and not isinstance(expr.parts[0], str):
            kind = expr.parts[0][0]
            return _parse_env_value(values[0]) if kind == "env" else values[0]
        return "".join(
            value if isinstance(value, str) else str(_to_plain(value)) for value in values
        )

    def _part(self, part: tuple[str, str, str | None], expr: _Expr, node: CfgNode, key: Any) -> Any:
        kind, name, default = part
        if kind == "env":
            value = os.environ.get(name, default)
            if value is None:
                path = _join(_node_path(node), key)
                raise ConfigKeyError(
                    f"{path!r} in {expr.file}, line {expr.line} is {expr.text!r}, but the"
                    f" environment variable {name} is not set. Set it, or give a default:"
                    f" ${{env:{name},default}}.",
                    key=path,
                    file=expr.file,
                    line=expr.line,
                )
            return value
        return self._lookup(name, expr, node, key)

    def _lookup(self, reference: str, expr: _Expr, node: CfgNode, key: Any) -> Any:
        value: Any = self.root
        names = reference.split(".")
        for depth, name in enumerate(names):
            if not isinstance(value, CfgNode):
                why = f"{'.'.join(names[:depth])!r} is not a node with keys"
                raise _bad_reference(expr, _join(_node_path(node), key), reference, why)
            if value._exprs is not None and name in value._exprs:
                try:
                    value = self.value_of(value, name)
                except MissingValueError as err:
                    path = _join(_node_path(node), key)
                    raise _missing_value_error(path, expr, err) from err
            elif dict.__contains__(value, name):
                value = dict.__getitem__(value, name)
            else:
                here = ".".join(names[:depth])
                where = f"{here!r} has" if here else "the config has"
                why = f"{where} no key {name!r}"
                raise _bad_reference(expr, _join(_node_path(node), key), reference, why)
        return self._snapshot(value)

    def _snapshot(self, value: Any) -> Any:
        """Return a copy of ``value`` with the expressions below it resolved, and no ``???``."""
        if type(value) in _ATOMIC_TYPES:
            return value
        if isinstance(value, CfgNode):
            new = _new_node(type(value))
            exprs = value._exprs or {}
            for key in [*dict.keys(value), *(key for key in exprs if key not in value)]:
                if key in exprs:
                    _store(new, key, self.value_of(value, key))  # already a snapshot
                else:
                    _store(new, key, self._snapshot(dict.__getitem__(value, key)))
            return new
        if type(value) is list or type(value) is tuple:
            return type(value)(self._snapshot(item) for item in value)
        return deepcopy(value)


def _parse_env_value(raw: str) -> Any:
    """Read an environment variable as YAML, like a command-line value (``"0.1"`` -> 0.1).

    An empty (or blank) value or default stays a string, as in OmegaConf: YAML would read
    it as null.
    """
    if not raw.strip():
        return raw
    try:
        value = _parse_yaml(raw, "<environment variable>", CfgNode, False)[0]
    except ConfigError:
        return raw
    return raw if type(value) in _PENDING_TYPES or isinstance(value, Mapping) else value


def _bad_reference(expr: _Expr, path: str, reference: str, why: str) -> ConfigKeyError:
    return ConfigKeyError(
        f"{path!r} in {expr.file}, line {expr.line} is {expr.text!r}, but {reference!r} does"
        f" not exist: {why}. References are key paths from the top of the config.",
        key=path,
        file=expr.file,
        line=expr.line,
    )


def _missing_value_error(
    path: str, mark: _Expr | _Required, cause: MissingValueError | None
) -> MissingValueError:
    if cause is None:
        where = f"{mark.file}, line {mark.line}" if mark.line is not None else mark.file
        return MissingValueError(
            f"{path!r} is ??? in {where}: it must be set before it is read. Set it in a"
            f" file, or with merge_from_list(['{path}=...']).",
            key=path,
            file=mark.file,
            line=mark.line,
        )
    return MissingValueError(
        f"{path!r} in {mark.file}, line {mark.line} refers to {cause.key!r}, which has no"
        f" value yet: {cause}",
        key=path,
        file=mark.file,
        line=mark.line,
    )


# -- Internals: dataclass schemas ----------------------------------------------------


def _require_dataclass(schema: Any) -> type:
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        raise ConfigTypeError(
            f"a schema is a dataclass (the class itself), got {_describe(schema)}. Decorate"
            " the class with @dataclasses.dataclass.",
            expected="dataclass",
            actual=type(schema).__name__,
        )
    return schema


def _node_from_dataclass(schema: type, node_class: type[CfgNode]) -> CfgNode:
    global _expressions_made
    node = _new_node(node_class)
    hints = typing.get_type_hints(schema)
    previous: tuple[Any, ...] = ()  # the field before, as _places holds it
    for field in dataclasses.fields(schema):
        annotation = hints.get(field.name, Any)
        value: Any = _MISSING
        if field.default is not dataclasses.MISSING:
            value = field.default
        elif field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        elif isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
            value = _node_from_dataclass(annotation, node_class)
        if value is _MISSING:
            _expressions_made += 1
            _exprs_of(node)[field.name] = _Required(f"dataclass {schema.__qualname__}", None)
            _remember_place(node, field.name, previous)
        else:
            _store(node, field.name, _convert(_plain_default(value), node_class, True))
        previous = (field.name,)
    return node


def _plain_default(value: Any) -> Any:
    """Return a default as a config holds it: an Enum member by name, dataclasses as dicts."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # a pathlib.Path is no YAML type; its text loads back
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain_default(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if type(value) in (list, tuple):
        return type(value)(_plain_default(item) for item in value)
    if isinstance(value, Mapping):
        return {key: _plain_default(item) for key, item in value.items()}
    return value


def _check_dataclass(node: Any, schema: type, path: str, problems: list[tuple[str, str]]) -> None:
    if not isinstance(node, Mapping):
        problems.append(
            (path, f"is {_describe(node)}, expected a mapping of {schema.__qualname__}")
        )
        return
    hints = typing.get_type_hints(schema)
    names = [field.name for field in dataclasses.fields(schema)]
    for name in names:
        key_path = _join(path, name)
        if isinstance(node, CfgNode) and _is_unset(node, name):
            problems.append((key_path, "has no value yet (???)"))
        elif name not in node:
            problems.append((key_path, f"is missing ({_type_name(hints.get(name, Any))})"))
        else:
            _check_value(node[name], hints.get(name, Any), key_path, problems)
    for key in node:
        if key not in names:
            close = _close_names(str(key), names)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            problems.append((_join(path, key), f"is not a field of {schema.__qualname__}{hint}"))


def _check_value(value: Any, annotation: Any, path: str, problems: list[tuple[str, str]]) -> None:
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        _check_dataclass(value, annotation, path, problems)
    elif not _matches(value, annotation, path, problems):
        problems.append((path, f"is {_describe(value)}, expected {_type_name(annotation)}"))


def _matches(value: Any, annotation: Any, path: str, problems: list[tuple[str, str]]) -> bool:
    """Return whether ``value`` fits ``annotation``; items of containers add their own problems."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if origin is Union or origin is types.UnionType:
        schemas = [option for option in args if _is_dataclass_type(option)]
        if isinstance(value, Mapping) and len(schemas) == 1:
            _check_dataclass(value, schemas[0], path, problems)  # its own problems, listed
            return True
        return any(_matches(value, option, path, []) for option in args)
    if origin is typing.Literal:
        return any(value == option and type(value) is type(option) for option in args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return isinstance(value, annotation) or value in annotation.__members__
    if isinstance(annotation, type) and issubclass(annotation, os.PathLike):
        return isinstance(value, (str, annotation))  # a path is held as its text
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        inner: list[tuple[str, str]] = []
        _check_dataclass(value, annotation, path, inner)
        return not inner
    if annotation is float:
        return type(value) in (int, float)
    if annotation in (int, str, bool):
        return type(value) is annotation
    if origin in (list, tuple) or annotation in (list, tuple):
        return _matches_sequence(value, origin or annotation, args, path, problems)
    if origin is dict or annotation is dict or origin is Mapping:
        if not isinstance(value, Mapping):
            return False
        key_type, item_type = args if args else (Any, Any)
        for key, item in value.items():
            if not _matches(key, key_type, path, []):
                problems.append((_join(path, key), f"key {key!r} is not {_type_name(key_type)}"))
            else:
                _check_value(item, item_type, _join(path, key), problems)
        return True
    return isinstance(annotation, type) and isinstance(value, annotation)


def _is_dataclass_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _matches_sequence(
    value: Any, kind: Any, args: tuple[Any, ...], path: str, problems: list[tuple[str, str]]
) -> bool:
    # A list may stand for a tuple and back, as in merge_from_file.
    if type(value) not in (list, tuple):
        return False
    if kind is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            return False
        item_types = list(args)
    else:
        item_types = [args[0] if args else Any] * len(value)
    for index, (item, item_type) in enumerate(zip(value, item_types, strict=True)):
        _check_value(item, item_type, f"{path}[{index}]", problems)
    return True


def _type_name(annotation: Any) -> str:
    if annotation is type(None) or annotation is None:
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


def _schema_error(node: CfgNode, schema: type, problems: list[tuple[str, str]]) -> SchemaError:
    lines = _source_lines(_root_of(node))
    shown = []
    for path, problem in problems:
        file, line = _nearest_line(lines, path)
        where = f" ({file}, line {line})" if file is not None else ""
        shown.append(f"{path!r}{where} {problem}")
    count = f"{len(shown)} problem{'s' if len(shown) > 1 else ''}"
    return SchemaError(
        f"the config does not match {schema.__qualname__} ({count}):\n  " + "\n  ".join(shown),
        problems=shown,
    )


def _nearest_line(
    lines: dict[str, tuple[str, int]], path: str
) -> tuple[str, int] | tuple[None, None]:
    """Return the file and line of ``path``, else of the closest key above it."""
    while path:
        if path in lines:
            return lines[path]
        path = re.sub(r"(\[\d+\]|\.?[^.\[]*)$", "", path, count=1)
    return None, None


def _source_lines(root: CfgNode) -> dict[str, tuple[str, int]]:
    """Return key path -> (file, line) from the files the config was read from (later wins)."""
    lines: dict[str, tuple[str, int]] = {}
    for name, text in root._sources:
        try:
            source_text = text if text is not None else _read_text(name, "utf-8")[0]
            graph = yaml.compose(source_text, Loader=yaml.SafeLoader)
        except (OSError, ConfigError, yaml.YAMLError):
            continue  # the file changed or went away since: no lines from it
        if graph is not None:
            lines.update(_key_lines(graph, name))
    return lines


# -- Internals: reading YAML ----------------------------------------------------

# Plain (unquoted) scalars that YAML reads as strings but that are Python
# literals: tuples "(224, 224)", exponent floats YAML 1.1 misses ("1e-3",
# "1.0e4") and None. Quoted scalars never match: they stay strings.
_LITERAL_TAG: Final = "tag:easycore,2020:python-literal"
_LITERAL_PATTERN: Final = re.compile(
    r"^(?:\(.*\)|None|[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+)$"
)
_LITERAL_FIRST_CHARS: Final = list("(N-+.0123456789")
_YAML_TAG_PREFIX: Final = "tag:yaml.org,2002:"
_PYTHON_TAG_PREFIX: Final = "tag:yaml.org,2002:python/"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
# Tags of the keys that flatten_mapping rewrites ("<<" and "=").
_FLATTEN_TAGS: Final = frozenset((_MERGE_TAG, "tag:yaml.org,2002:value"))
_STR_TAG: Final = "tag:yaml.org,2002:str"
_INT_TAG: Final = "tag:yaml.org,2002:int"
_FLOAT_TAG: Final = "tag:yaml.org,2002:float"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"
_UNSAFE_ENV: Final = "EASYCORE_ALLOW_UNSAFE_YAML"
# Aliases may add this many nodes to what the document spells out. Ordinary
# configs add a few thousand; a "billion laughs" document adds 10**9 from 1 KB.
_MAX_ALIAS_EXPANSION: Final = 1_000_000  # nodes
# Python converts ints of at most 4300 decimal digits to text (CVE-2020-10735), about
# 14,280 bits: a longer one (from hex or octal, which have no limit) would load but not dump.
_MAX_INT_BITS: Final = 14_000
# Plain scalars up to this long have their resolved tag cached, at most this many per
# loader class (a few hundred KB): enough for the repeated values of big configs.
_CACHED_SCALAR_LENGTH: Final = 40
_TAG_CACHE_SIZE: Final = 8192

_HAS_LIBYAML: Final = bool(getattr(yaml, "__with_libyaml__", False))
# Which backend loads and dumps: the C one when PyYAML has it. Tests switch
# this to check that both give the same results.
_use_libyaml = _HAS_LIBYAML


class _ConfigConstructor(SafeConstructor):
    """What our constructor functions read from the loader, set per load."""

    config_node_class: type[CfgNode]
    config_source: str


class _Loader(Protocol):
    """The loader methods and settings that :func:`_parse_yaml` uses."""

    config_node_class: type[CfgNode]
    config_source: str

    def get_single_node(self) -> yaml.Node | None: ...
    def construct_document(self, node: yaml.Node) -> Any: ...
    def dispose(self) -> None: ...


def _load_config(
    text: str, source: str, node_class: type[_NodeT], allow_unsafe: bool
) -> tuple[_NodeT, yaml.Node | None]:
    """Parse ``text``: return its top-level mapping as a ``node_class``, and its node graph."""
    data, graph = _parse_yaml(text, source, node_class, allow_unsafe)
    if data is None:
        return _new_node(node_class), None
    if isinstance(data, Mapping) and not isinstance(data, node_class):
        data = _convert(data, node_class, False)  # e.g. an unsafe-mode OrderedDict
    if not isinstance(data, node_class):
        line = graph.start_mark.line + 1 if graph is not None else None
        raise ConfigError(
            # Name the type only: quoting the value would show what a file that is no
            # config (a token, a key named as a __BASE__) holds to whoever reads the error.
            f"{source} must hold a mapping of keys to values at the top level, but line"
            f" {line} starts {_with_article(type(data).__name__)}. Put the values under keys.",
            file=source,
            line=line,
        )
    return data, graph


def _parse_yaml(
    text: str, source: str, node_class: type[CfgNode], allow_unsafe: bool
) -> tuple[Any, yaml.Node | None]:
    """Return the value of a one-document YAML text and its node graph."""
    unsafe = allow_unsafe or _unsafe_allowed_by_env()
    try:
        # The pure-Python reader checks the characters here, before parsing.
        loader = _LOADERS[(_use_libyaml, unsafe)](text)
    except yaml.reader.ReaderError as err:
        raise _unreadable_character_error(err, text, source) from err
    loader.config_node_class = node_class
    loader.config_source = source
    has_anchors = "&" in text  # without anchors there are no aliases to check
    try:
        graph = loader.get_single_node()
        if graph is None:
            return None, None
        if has_anchors:
            _check_aliases(graph, source)
        data = _build(cast(_ConfigConstructor, loader), graph)
    except yaml.MarkedYAMLError as err:
        raise _invalid_yaml_error(err, source) from err
    except yaml.reader.ReaderError as err:
        raise _unreadable_character_error(err, text, source) from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{source} is not valid YAML: {err}", file=source) from err
    except RecursionError as err:
        raise ConfigError(
            f"{source} is nested too deeply to load; flatten the config.", file=source
        ) from err
    finally:
        loader.dispose()
    return (_copy_tree(data) if has_anchors else data), graph


def _unsafe_allowed_by_env() -> bool:
    return os.environ.get(_UNSAFE_ENV, "").strip().lower() in ("1", "true", "yes")


def _check_aliases(root: yaml.Node, source: str) -> None:
    """Refuse recursive aliases and aliases that expand without bound.

    Counts the nodes of the fully expanded tree with one memoised walk over
    the graph, so the check itself costs what the document spells out.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    largest: yaml.Node | None = None
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            on_path.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if largest is None and sizes[id(node)] > _MAX_ALIAS_EXPANSION:
                largest = node
            continue
        if id(node) in sizes:
            continue
        if id(node) in on_path:
            line = node.start_mark.line + 1
            raise ConfigError(
                f"{source}, line {line}: an alias refers to a node that contains it, so the"
                " config would contain itself. Configs must be trees; remove the alias.",
                file=source,
                line=line,
            )
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    extra = sizes[id(root)] - len(sizes)
    if extra > _MAX_ALIAS_EXPANSION:
        line = (largest or root).start_mark.line + 1
        raise ConfigError(
            f"aliases in {source} expand to {extra:,} more nodes than the document holds"
            f" (limit {_MAX_ALIAS_EXPANSION:,}), starting at line {line}. This is the shape"
            " of a 'billion laughs' document; use fewer nested aliases.",
            file=source,
            line=line,
        )


def _node_kind(node: yaml.Node) -> str:
    return type(node).__name__.replace("Node", "").lower()  # "scalar", "sequence", "mapping"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _build(loader: _ConfigConstructor, node: yaml.Node) -> Any:
    """Construct the value of ``node``, taking the common tags without PyYAML's dispatch.

    Results equal ``loader.construct_object(node, deep=True)``, which handles
    every other tag; this path only saves time (most of a load's, in fact).
    """
    tag = node.tag
    kind = type(node)
    if kind is yaml.ScalarNode:
        if tag == _STR_TAG:
            text: str = node.value
            if "${" in text:
                return _parse_dollars(text, loader.config_source, node.start_mark.line + 1)
            return text
        try:
            return _build_scalar(loader, node)
        except ValueError as err:  # e.g. an int of more digits than Python converts
            if isinstance(err, ConfigError):
                raise
            problem = f"cannot read the {_node_kind(node)} {reprlib.repr(node.value)}: {err}"
            raise ConstructorError(None, None, problem, node.start_mark) from err
    if kind is yaml.MappingNode and tag == _MAP_TAG:
        return _construct_node(loader, node)
    if kind is yaml.SequenceNode and tag == _SEQ_TAG:
        return _build_list(loader, node)
    return loader.construct_object(node, deep=True)


def _build_list(loader: _ConfigConstructor, node: yaml.Node) -> list[Any]:
    made = _expressions_made
    items = [_build(loader, child) for child in node.value]
    if _expressions_made != made:
        for item, child in zip(items, node.value, strict=True):
            if type(item) in _PENDING_TYPES:
                raise _item_expression_error(loader.config_source, child.start_mark.line + 1)
    return items


def _item_expression_error(source: str, line: int) -> ConfigError:
    return ConfigError(
        f"{source}, line {line}: ${{...}} and ??? work in values of keys, not in list or"
        " tuple items. Give the item a key of its own, or write $${ for a literal ${.",
        file=source,
        line=line,
    )


def _build_scalar(loader: _ConfigConstructor, node: yaml.Node) -> Any:
    tag, value = node.tag, node.value
    if tag == _INT_TAG and value.isdigit() and (value[0] != "0" or value == "0"):
        return int(value)  # YAML 1.1 reads 017 as octal: leave that to PyYAML
    if tag == _FLOAT_TAG and "_" not in value and ":" not in value:
        try:
            return float(value)
        except ValueError:
            pass  # .inf, .nan
    result = loader.construct_object(node, deep=True)
    if type(result) is int and result.bit_length() > _MAX_INT_BITS:
        raise ValueError(
            f"an integer of {result.bit_length():,} bits could not be written back"
            f" (limit {_MAX_INT_BITS:,} bits); write it as a string"
        )
    return result


def _construct_node(loader: _ConfigConstructor, node: yaml.Node) -> CfgNode:
    """Build a ``CfgNode`` from a mapping node, refusing duplicate keys."""
    if not isinstance(node, yaml.MappingNode):
        raise ConstructorError(
            None, None, f"expected a mapping, found {_node_kind(node)}", node.start_mark
        )
    first_own = 0
    if not _FLATTEN_TAGS.isdisjoint([key_node.tag for key_node, _ in node.value]):
        own_pairs = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        loader.flatten_mapping(node)  # "<<: *base" pairs go first, so own keys win
        first_own = len(node.value) - own_pairs
    result = _new_node(loader.config_node_class)
    if first_own:
        _construct_pairs_checked(loader, node, result, first_own)
        return result
    # The common case, inlined (a load spends most of its time here): str keys and str
    # values skip _build, and duplicates are looked for only if the count says so.
    attributes = result.__dict__
    reserved = loader.config_node_class._reserved_names
    for key_node, value_node in node.value:
        key = key_node.value
        if key_node.tag != _STR_TAG or "${" in key:
            key = _build_key(loader, node, key_node)
        value = value_node.value
        if value_node.tag != _STR_TAG or type(value_node) is not yaml.ScalarNode or "${" in value:
            value = _build(loader, value_node)
        dict.__setitem__(result, key, value)
        if isinstance(key, str) and key not in reserved:
            attributes[key] = value
        if type(value) not in _ATOMIC_TYPES:
            _adopt(result, value, (key,))
            if type(value) in _PENDING_TYPES:
                _mark_holds_exprs(result)
    if len(result) != len(node.value):
        _construct_pairs_checked(loader, node, _new_node(loader.config_node_class), 0)
    return result


def _construct_pairs_checked(
    loader: _ConfigConstructor, node: yaml.MappingNode, result: CfgNode, first_own: int
) -> None:
    """Fill ``result`` from the pairs of ``node``, refusing duplicates from ``first_own`` on."""
    seen: dict[Any, yaml.Node] = {}
    for index, (key_node, value_node) in enumerate(node.value):
        key = _build_key(loader, node, key_node)
        if index >= first_own:
            if key in seen:
                raise _duplicate_key_error(loader.config_source, key, key_node, seen[key])
            seen[key] = key_node
        value = _build(loader, value_node)
        _store(result, key, value)
        if type(value) in _PENDING_TYPES:
            _mark_holds_exprs(result)


def _build_key(loader: _ConfigConstructor, node: yaml.Node, key_node: yaml.Node) -> Any:
    key = _build(loader, key_node)
    if type(key) in _PENDING_TYPES:  # keys are names, never expressions
        key = key_node.value.replace("$${", "${") if type(key) is _Expr else "???"
    try:
        hash(key)
    except TypeError as err:
        raise ConstructorError(
            "while building a mapping",
            node.start_mark,
            f"found a key that cannot be a dict key ({type(key).__name__})",
            key_node.start_mark,
        ) from err
    return key


def _construct_list(loader: _ConfigConstructor, node: yaml.Node) -> list[Any]:
    if not isinstance(node, yaml.SequenceNode):
        raise ConstructorError(
            None, None, f"expected a sequence, found {_node_kind(node)}", node.start_mark
        )
    return _build_list(loader, node)


def _construct_tuple(loader: _ConfigConstructor, node: yaml.Node) -> tuple[Any, ...]:
    return tuple(_construct_list(loader, node))


def _construct_literal(loader: _ConfigConstructor, node: yaml.Node) -> Any:
    text = loader.construct_scalar(cast(yaml.ScalarNode, node))
    if text == "None":
        return None
    try:
        value = float(text) if text[:1] != "(" else ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        # "(not, a, literal)" stays the string it is, with its ${...} as in any string.
        if "${" in text:
            return _parse_dollars(text, loader.config_source, node.start_mark.line + 1)
        return text
    if "${" in text:
        value = _unescape_items(value, loader.config_source, node.start_mark.line + 1)
    return _convert(value, loader.config_node_class, False)


def _unescape_items(value: Any, source: str, line: int) -> Any:
    """Return a literal's strings with ``$${`` unescaped; refuse a ``${...}`` in them.

    Items of a ``(a, b)`` tuple follow the rule of list items.
    """
    if type(value) is str:
        text = _parse_dollars(value, source, line)
        if type(text) is _Expr:
            raise _item_expression_error(source, line)
        return text
    if type(value) in (list, tuple):
        return type(value)(_unescape_items(item, source, line) for item in value)
    if type(value) is dict:
        return {key: _unescape_items(item, source, line) for key, item in value.items()}
    return value


def _construct_python_complex(loader: _ConfigConstructor, node: yaml.Node) -> complex:
    text = loader.construct_scalar(cast(yaml.ScalarNode, node))
    try:
        return complex(text)
    except ValueError as err:
        problem = f"{text!r} is not a complex number"
        raise ConstructorError(None, None, problem, node.start_mark) from err


def _construct_python_bytes(loader: _ConfigConstructor, node: yaml.Node) -> bytes:
    text = loader.construct_scalar(cast(yaml.ScalarNode, node))
    try:
        return base64.decodebytes(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as err:
        problem = "!!python/bytes holds invalid base64"
        raise ConstructorError(None, None, problem, node.start_mark) from err


def _refuse_python_tag(loader: _ConfigConstructor, suffix: str, node: yaml.Node) -> Any:
    tag = "!!python/" + suffix
    source, line = loader.config_source, node.start_mark.line + 1
    raise UnsafeYAMLError(
        f"refused the YAML tag {tag!r} in {source}, line {line}: it can run code or build"
        " arbitrary Python objects. If you trust this file, load it with allow_unsafe=True"
        f" (or set {_UNSAFE_ENV}=1).",
        tag=tag,
        file=source,
        line=line,
    )


def _configure_loader(loader_class: type[_ConfigConstructor], safe: bool) -> None:
    cast(Any, loader_class).tag_cache = {}
    ours: dict[str, Any] = {
        _YAML_TAG_PREFIX + "map": _construct_node,
        _YAML_TAG_PREFIX + "seq": _construct_list,
        _LITERAL_TAG: _construct_literal,
        _REQUIRED_TAG: _construct_required,
    }
    for tag, constructor in ours.items():
        loader_class.add_constructor(tag, constructor)
    cast(Any, loader_class).add_implicit_resolver(
        _LITERAL_TAG, _LITERAL_PATTERN, _LITERAL_FIRST_CHARS
    )
    cast(Any, loader_class).add_implicit_resolver(_REQUIRED_TAG, _REQUIRED_PATTERN, ["?"])
    if not safe:
        return
    # Tags the original (and PyYAML's default dumper) write, and that
    # build nothing but builtin values: harmless, so safe mode reads them.
    harmless: dict[str, Any] = {
        "tuple": _construct_tuple,
        "list": _construct_list,
        "dict": _construct_node,
        "str": SafeConstructor.construct_scalar,
        "unicode": SafeConstructor.construct_scalar,
        "bytes": _construct_python_bytes,
        "int": SafeConstructor.construct_yaml_int,
        "long": SafeConstructor.construct_yaml_int,
        "float": SafeConstructor.construct_yaml_float,
        "complex": _construct_python_complex,
        "bool": SafeConstructor.construct_yaml_bool,
        "none": SafeConstructor.construct_yaml_null,
    }
    for name, constructor in harmless.items():
        loader_class.add_constructor(_PYTHON_TAG_PREFIX + name, constructor)
    loader_class.add_multi_constructor(_PYTHON_TAG_PREFIX, _refuse_python_tag)


# PyYAML's resolution, which _CachedResolver wraps (untyped in types-PyYAML).
_RESOLVE_TAG: Final = cast(Callable[..., str], yaml.resolver.BaseResolver.resolve)


class _CachedResolver(yaml.resolver.Resolver):
    """PyYAML's tag resolution, with the tags of short plain scalars remembered.

    Resolving runs a regex per scalar in Python (a fifth of a load); configs
    repeat their short values (``true``, ``0.9``, ``4``), and with no path
    resolvers a plain scalar's tag depends on its text alone.
    """

    tag_cache: ClassVar[dict[str, str]]  # one per loader class, see _configure_loader

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # only path resolvers use it, and loaders here have none

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        resolve_tag = _RESOLVE_TAG
        if kind is not yaml.ScalarNode or not implicit[0] or len(value) > _CACHED_SCALAR_LENGTH:
            return resolve_tag(self, kind, value, implicit)
        tag = self.tag_cache.get(value)
        if tag is None:
            tag = resolve_tag(self, kind, value, implicit)
            if len(self.tag_cache) < _TAG_CACHE_SIZE:
                self.tag_cache[value] = tag
        return tag


class _PySafeLoader(_CachedResolver, yaml.SafeLoader, _ConfigConstructor):
    pass


class _PyUnsafeLoader(_CachedResolver, yaml.UnsafeLoader, _ConfigConstructor):
    pass


_configure_loader(_PySafeLoader, safe=True)
_configure_loader(_PyUnsafeLoader, safe=False)
# (use libyaml, unsafe) -> loader class; without libyaml both keys use Python.
_LOADERS: Final[dict[tuple[bool, bool], Callable[[str], _Loader]]] = {
    (False, False): _PySafeLoader,
    (False, True): _PyUnsafeLoader,
    (True, False): _PySafeLoader,
    (True, True): _PyUnsafeLoader,
}

if _HAS_LIBYAML:

    class _CSafeLoader(_CachedResolver, yaml.CSafeLoader, _ConfigConstructor):
        pass

    class _CUnsafeLoader(_CachedResolver, yaml.CUnsafeLoader, _ConfigConstructor):
        pass

    _configure_loader(_CSafeLoader, safe=True)
    _configure_loader(_CUnsafeLoader, safe=False)
    _LOADERS[(True, False)] = _CSafeLoader
    _LOADERS[(True, True)] = _CUnsafeLoader


# -- Internals: writing YAML ----------------------------------------------------


_PYTHON_TUPLE_TAG: Final = _PYTHON_TAG_PREFIX + "tuple"
_PYTHON_COMPLEX_TAG: Final = _PYTHON_TAG_PREFIX + "complex"  # loads safely, see _configure_loader
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class _SurrogateError(ValueError):
    """A string to write holds a lone surrogate; ``object`` is that string."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.object = text


_UNICODE_BREAKS: Final = frozenset("\x85\u2028\u2029")  # NEL, LINE and PARAGRAPH SEPARATOR


def _represent_node(dumper: Any, data: Mapping[Any, Any]) -> yaml.Node:
    if isinstance(data, CfgNode) and data._exprs:
        return cast(yaml.Node, dumper.represent_dict(_as_written(data, data._exprs)))
    return cast(yaml.Node, dumper.represent_dict(data))


def _as_written(node: CfgNode, exprs: _ExprMap) -> dict[Any, Any]:
    """Return the items of ``node`` with ``${...}`` and ``???`` as in the file, in order.

    Keys without a value go back to the place they had; if the key they followed is
    gone, to the end.
    """
    places = node._places or {}
    following: dict[Any, list[Any]] = {}  # (key,) or () -> the unset keys after it
    for key in exprs:
        if not dict.__contains__(node, key):
            following.setdefault(places.get(key, _MISSING), []).append(key)
    shown: dict[Any, Any] = {}
    stack = [(key, exprs[key]) for key in reversed(following.pop((), []))]
    items = iter(dict.items(node))
    while True:
        if not stack:
            item = next(items, None)
            if item is None:
                break
            stack.append((item[0], exprs.get(item[0], item[1])))
        key, value = stack.pop()
        shown[key] = value
        stack.extend((unset, exprs[unset]) for unset in reversed(following.pop((key,), [])))
    for keys in following.values():  # their place is gone
        shown.update((key, exprs[key]) for key in keys)
    return shown


def _represent_str(dumper: Any, data: str) -> yaml.Node:
    # A literal "${" is written "$${", so that it does not load as an interpolation.
    text = data.replace("${", "$${") if "${" in data else data
    return cast(yaml.Node, dumper.represent_str(text))


def _represent_expr(dumper: Any, data: _Expr) -> yaml.Node:
    return cast(yaml.Node, dumper.represent_str(data.text))


def _represent_required(dumper: Any, data: _Required) -> yaml.Node:
    return cast(yaml.Node, dumper.represent_scalar(_REQUIRED_TAG, "???"))


def _represent_complex(dumper: Any, data: complex) -> yaml.Node:
    return cast(yaml.Node, dumper.represent_scalar(_PYTHON_COMPLEX_TAG, repr(data).strip("()")))


def _represent_tuple(dumper: Any, data: tuple[Any, ...]) -> yaml.Node:
    if dumper.plain_tuples:
        text = _tuple_text(data)
        if text is not None:
            return cast(yaml.Node, dumper.represent_scalar(_LITERAL_TAG, text))
    return cast(yaml.Node, dumper.represent_sequence(_PYTHON_TUPLE_TAG, data))


def _tuple_text(data: tuple[Any, ...]) -> str | None:
    """Return ``repr(data)`` if it loads back as ``data`` from a plain block scalar."""
    plain = _to_plain(data)
    if not _is_literal(plain):
        return None
    text = repr(plain)
    # A plain scalar cannot hold ": " or " #", and non-ASCII may get quoted.
    if not text.isascii() or ": " in text or " #" in text:
        return None
    return text


def _is_literal(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return "${" not in value  # written $${ in a !!python/tuple, which reads it back
    if kind in (int, bool, type(None)):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list or kind is tuple:
        return all(_is_literal(item) for item in value)
    if kind is dict:
        return all(_is_literal(key) and _is_literal(item) for key, item in value.items())
    return False


def _configure_dumper(dumper_class: Any) -> None:
    dumper_class.add_representer(CfgNode, _represent_node)
    dumper_class.add_multi_representer(dict, _represent_node)
    dumper_class.add_representer(tuple, _represent_tuple)
    dumper_class.add_representer(complex, _represent_complex)
    dumper_class.add_representer(str, _represent_str)
    dumper_class.add_representer(_Expr, _represent_expr)
    dumper_class.add_representer(_Required, _represent_required)
    dumper_class.add_implicit_resolver(_REQUIRED_TAG, _REQUIRED_PATTERN, ["?"])
    # Strings that would load as literals must be quoted to stay strings.
    dumper_class.add_implicit_resolver(_LITERAL_TAG, _LITERAL_PATTERN, _LITERAL_FIRST_CHARS)


class _PySafeDumper(yaml.SafeDumper):
    plain_tuples: ClassVar[bool] = True

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a config file spells every value out: no "&id001" anchors

    def analyze_scalar(self, scalar: str) -> Any:
        if not scalar.isascii() and _SURROGATE.search(scalar):
            # libyaml cannot write (nor read) a lone surrogate: refuse it here too.
            raise _SurrogateError(scalar)
        analysis = super().analyze_scalar(scalar)
        if _UNICODE_BREAKS.intersection(scalar):
            # PyYAML's Python emitter writes these raw in single quotes, where
            # loading folds them away; libyaml escapes them in double quotes.
            analysis.allow_flow_plain = analysis.allow_block_plain = False
            analysis.allow_single_quoted = analysis.allow_block = False
        return analysis


class _PyTaggedTupleDumper(_PySafeDumper):
    plain_tuples = False


_configure_dumper(_PySafeDumper)
# (use libyaml, plain tuples) -> dumper class; without libyaml both use Python.
_DUMPERS: Final[dict[tuple[bool, bool], Any]] = {
    (False, True): _PySafeDumper,
    (False, False): _PyTaggedTupleDumper,
    (True, True): _PySafeDumper,
    (True, False): _PyTaggedTupleDumper,
}

if _HAS_LIBYAML:

    class _CSafeDumper(yaml.CSafeDumper):
        plain_tuples: ClassVar[bool] = True

        def ignore_aliases(self, data: Any) -> bool:
            return True

    class _CTaggedTupleDumper(_CSafeDumper):
        plain_tuples = False

    _configure_dumper(_CSafeDumper)
    _DUMPERS[(True, True)] = _CSafeDumper
    _DUMPERS[(True, False)] = _CTaggedTupleDumper


def _is_binary(stream: Any) -> bool:
    if isinstance(stream, io.TextIOBase):
        return False
    if isinstance(stream, (io.RawIOBase, io.BufferedIOBase)):
        return True
    mode = getattr(stream, "mode", "")
    return isinstance(mode, str) and "b" in mode


# -- Internals: files and __BASE__ ----------------------------------------------

_TEMP_NAME_TRIES: Final = 100  # random 32-bit names: a clash of 100 in a row means a bug


def _write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the whole new one.

    A symlink stays a link: the file it points to is replaced, as writing through
    it would. Errors name ``path``, not the temporary file.
    """
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file: os.open's 0o666 minus the umask, as open() would
    for _ in range(_TEMP_NAME_TRIES):
        tmp = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as err:  # no such folder, no permission, ...
            raise type(err)(err.errno, err.strerror, path) from None
    else:
        raise FileExistsError(errno.EEXIST, "could not create a unique temporary file", folder)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _read_text(file: _Source, encoding: str) -> tuple[str, str]:
    """Return the text of a path or file object, and its name for messages."""
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        try:
            with open(path, "rb") as stream:
                data = stream.read()
        except FileNotFoundError as err:
            raise FileNotFoundError(errno.ENOENT, "No such config file", path) from err
        return _decode(data, encoding, path), path
    name = getattr(file, "name", None)
    source = name if isinstance(name, str) else "<stream>"
    data = file.read()
    return (data if isinstance(data, str) else _decode(data, encoding, source)), source


def _decode(data: bytes, encoding: str, source: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{source}, line {line}: byte {data[err.start]:#04x} is not valid {encoding};"
            " pass the file's encoding with encoding=...",
            file=source,
            line=line,
        ) from err


def _open_tree(
    path: str,
    encoding: str,
    allow_unsafe: bool,
    node_class: type[_NodeT],
    *,
    base_root: str | os.PathLike[str] | None = None,
    locations: dict[str, tuple[str, int]] | None = None,
    files: set[str] | None = None,
    order: list[str] | None = None,
) -> _NodeT:
    """Open ``path`` merged over its ``__BASE__`` files.

    With ``locations``, the file and line of each key is recorded there; with
    ``files``, the real path of every file read.
    """
    tree = _BaseTree(encoding, allow_unsafe, node_class, base_root, locations is not None)
    cfg, lines = tree.open(path, ())
    if locations is not None:
        locations.update(lines)
    if files is not None:
        files.update(tree.opened)
    if order is not None:
        order.extend(tree.read_order)
    return cast(_NodeT, cfg)


class _BaseTree:
    """One open of a file and its bases, in which each file is read and merged once.

    Without the memo, files that name the same base twice (``[b.yaml, b.yaml]``)
    would read it 2**N times down a chain of N files.
    """

    def __init__(
        self,
        encoding: str,
        allow_unsafe: bool,
        node_class: type[CfgNode],
        base_root: str | os.PathLike[str] | None,
        want_lines: bool,
    ) -> None:
        self.encoding = encoding
        self.allow_unsafe = allow_unsafe
        self.node_class = node_class
        self.base_root = None if base_root is None else os.path.realpath(base_root)
        self.want_lines = want_lines
        # real path -> (the file merged over its bases, key path -> (file, line))
        self.opened: dict[str, tuple[CfgNode, dict[str, tuple[str, int]]]] = {}
        self.read_order: list[str] = []  # files as merged: bases before what includes them

    def open(self, path: str, chain: tuple[str, ...]) -> tuple[CfgNode, dict[str, tuple[str, int]]]:
        """Return the file merged over its bases; ``chain`` holds the files including it."""
        real = os.path.realpath(path)
        if real in chain:
            cycle = " -> ".join((*chain[chain.index(real) :], real))
            raise ConfigError(f"__BASE__ files include each other in a cycle: {cycle}", file=path)
        if real in self.opened:
            return self.opened[real]
        text, source = _read_text(path, self.encoding)
        cfg, graph = _load_config(text, source, self.node_class, self.allow_unsafe)
        lines: dict[str, tuple[str, int]] = {}
        # Not cfg.pop(): its ${...} must stay unresolved until every file is merged.
        bases = _remove(cfg, _BASE_KEY) if dict.__contains__(cfg, _BASE_KEY) else None
        if bases is None:
            merged = cfg
        else:
            merged = _new_node(self.node_class)
            for base in _base_paths(bases, source, text):
                base_path = _find_base(base, path, source, text)
                self._check_confined(base_path, source, text)
                base_cfg, base_lines = self.open(base_path, (*chain, real))
                _merge_loaded(merged, base_cfg)
                lines.update(base_lines)
            _merge_loaded(merged, cfg)
        if self.want_lines and graph is not None:
            lines.update(_key_lines(graph, source))
        self.opened[real] = (merged, lines)
        self.read_order.append(path)
        return merged, lines

    def _check_confined(self, base_path: str, source: str, text: str) -> None:
        if self.base_root is None:
            return
        real = os.path.realpath(base_path)
        try:
            inside = os.path.commonpath([self.base_root, real]) == self.base_root
        except ValueError:  # Windows: paths on two drives have no common path
            inside = False
        if not inside:
            line = _key_line(text, _BASE_KEY)
            raise ConfigError(
                f"{_BASE_KEY} of {source} (line {line}) names {base_path}, which is outside"
                f" base_root {self.base_root}. Move the base under it, or widen base_root.",
                key=_BASE_KEY,
                file=source,
                line=line,
            )


def _base_paths(bases: Any, source: str, text: str) -> list[str]:
    items = bases if isinstance(bases, (list, tuple)) else [bases]
    if not all(isinstance(item, str) and item for item in items):
        line = _key_line(text, _BASE_KEY)
        raise ConfigError(
            f"{_BASE_KEY} in {source}, line {line} must be a path or a list of paths,"
            f" got {reprlib.repr(bases)}.",
            key=_BASE_KEY,
            file=source,
            line=line,
        )
    return list(items)


def _find_base(base: str, including: str, source: str, text: str) -> str:
    """Return the path of a base: next to the including file first, then as given."""
    beside = os.path.join(os.path.dirname(including), os.path.expanduser(base))
    for candidate in (beside, os.path.expanduser(base)):
        if os.path.isfile(candidate):
            return candidate
    line = _key_line(text, _BASE_KEY)
    raise FileNotFoundError(
        errno.ENOENT,
        f"{_BASE_KEY} of {source} (line {line}) not found; looked for {beside} and {base}",
        base,
    )


def _key_line(text: str, key: str) -> int | None:
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _key_lines(graph: yaml.Node, source: str) -> dict[str, tuple[str, int]]:
    """Map the dotted path of every mapping key in ``graph`` to its file and line."""
    lines: dict[str, tuple[str, int]] = {}
    stack: list[tuple[yaml.Node, str]] = [(graph, "")]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, yaml.MappingNode):
            continue
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                key_path = _join(path, key_node.value)
                lines[key_path] = (source, key_node.start_mark.line + 1)
                stack.append((value_node, key_path))
    return lines


def _base_reference(base_path: str, save_path: str, relative: bool) -> str:
    if not relative:
        return os.path.abspath(base_path)
    try:
        save_dir = os.path.dirname(os.path.abspath(save_path))
        return os.path.relpath(os.path.abspath(base_path), save_dir)
    except ValueError:  # Windows: another drive has no relative path
        return os.path.abspath(base_path)


def _difference(
    cfg: Mapping[Any, Any], base: Mapping[Any, Any], path: str, lost: list[str]
) -> CfgNode:
    """Return what a file over ``base`` must hold to open as ``cfg``.

    Keys of ``base`` that ``cfg`` lacks cannot be written as missing: their paths go to
    ``lost``. A ``${...}`` or ``???`` of ``cfg`` is written as such unless ``base`` has
    the same one.
    """
    exprs = _exprs_or_empty(cfg)
    base_exprs = _exprs_or_empty(base)
    base_keys = [*base, *(key for key in base_exprs if key not in base)]  # ??? keys too
    lost.extend(_join(path, key) for key in base_keys if key not in cfg and key not in exprs)
    out = CfgNode()
    for key in [*cfg, *(key for key in exprs if key not in cfg)]:
        if key in exprs:
            if _expr_text(exprs[key]) != _expr_text(base_exprs.get(key)):
                _store(out, key, exprs[key])
            continue
        value, old = cfg[key], base.get(key, _MISSING)
        if key in base_exprs:
            old = _MISSING  # the base computes it: write the value cfg holds
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            inner = _difference(value, old, _join(path, key), lost)
            if inner:
                _store(out, key, inner)
        elif old is _MISSING or not _same(value, old):
            _store(out, key, _convert(value, CfgNode, True))
    return out


def _exprs_or_empty(node: Mapping[Any, Any]) -> _ExprMap:
    return node._exprs or {} if isinstance(node, CfgNode) else {}


def _expr_text(expr: _Expr | _Required | None) -> str | None:
    return expr.text if type(expr) is _Expr else None if expr is None else "???"


def _report_lost_keys(lost: list[str], base_file: str, strict: bool) -> None:
    names = ", ".join(repr(key) for key in lost)
    if strict:
        raise ConfigKeyError(
            f"cannot save relative to {base_file}: it has {names}, which cfg lacks, and a file"
            " over a base cannot delete keys. Save without base_cfg_path, or keep the keys.",
            key=lost[0],
        )
    warnings.warn(
        f"saving relative to {base_file}, which has {names}: cfg lacks them, and a file over"
        " a base cannot delete keys, so they will come back from the base when the file is"
        " opened. Pass strict=True to refuse this instead.",
        UserWarning,
        stacklevel=3,
    )


def _refuse_overwriting_base(save_path: str, base_path: str, chain: set[str]) -> None:
    if os.path.realpath(save_path) in chain:
        raise ConfigError(
            f"cannot save to {save_path}: it is {base_path} or one of its __BASE__ files, and"
            " writing it would destroy the base the saved file refers to. Save elsewhere.",
            file=save_path,
        )


def _same(left: Any, right: Any) -> bool:
    """Equal and of the same types all the way down (1 and 1.0 differ in a file)."""
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    if type(left) is not type(right):
        return False
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


# -- Internals: messages --------------------------------------------------------


def _restored_error(
    cls: type[ConfigError], args: tuple[Any, ...], state: dict[str, Any]
) -> ConfigError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


def _require_mapping(value: object, caller: str) -> None:
    if not isinstance(value, Mapping):
        kind = type(value).__name__
        raise ConfigTypeError(
            f"{caller} takes a mapping (a dict or a CfgNode), got {_describe(value)}.",
            expected="Mapping",
            actual=kind,
        )


def _describe(value: Any) -> str:
    return f"{_with_article(type(value).__name__)} ({reprlib.repr(value)})"


def _with_article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _suggestion(node: CfgNode, key: Any, parent_path: str) -> str:
    names = [str(name) for name in node]
    close = _close_names(str(key), names)
    if close:
        options = " or ".join(repr(_join(parent_path, name)) for name in close)
        return f" Did you mean {options}?"
    if names:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        return f" Keys here: {shown}."
    return " The node is empty."


def _close_names(wanted: str, names: list[str]) -> list[str]:
    """Return up to 3 names like ``wanted``: similar spelling, or one holds the other's words."""
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
    words = set(wanted.lower().split("_"))
    for name in names:
        name_words = set(name.lower().split("_"))
        if name not in close and (words <= name_words or name_words <= words):
            close.append(name)  # "LR" -> "BASE_LR", "BASE_LR_X" -> "BASE_LR"
    return close[:3]


# Members of yacs's CfgNode that are spelled otherwise here -> what to write instead.
_YACS_SPELLINGS: Final = {
    "clone": "cfg.copy()",
    "defrost": "cfg.freeze(False)",
    "immutable": "cfg.freeze() or cfg.freeze(False)",
    "merge_from_other_cfg": "cfg.merge(other)",
    "load_cfg": "CfgNode.load(text) or CfgNode.open(file)",
    "set_new_allowed": "cfg.merge(other), which adds keys (merge_from_file and"
    " merge_from_list accept only existing keys)",
    "is_new_allowed": "cfg.merge(other), which adds keys (merge_from_file and"
    " merge_from_list accept only existing keys)",
    "key_is_deprecated": "cfg.register_deprecated_key(key); merges then skip it",
    "key_is_renamed": "cfg.register_renamed_key(old, new); merges then name the new key",
    "raise_key_rename_error": "cfg.register_renamed_key(old, new); merges then name the new key",
}


def _yacs_spelling_error(node: CfgNode, name: str) -> ConfigAttributeError:
    path = _join(_node_path(node), name)
    return ConfigAttributeError(
        f"unknown key {path!r}. For yacs's {name}(), use {_YACS_SPELLINGS[name]}.",
        key=path,
    )


def _dump_call_error(cfg: object) -> ConfigTypeError:
    given = "no config" if cfg is None else _describe(cfg)
    return ConfigTypeError(
        f"CfgNode.dump() writes the config it is given as its first argument, got {given}."
        " It is a class method: write CfgNode.dump(cfg) or CfgNode.dump(cfg, stream) (yacs's"
        " cfg.dump() is CfgNode.dump(cfg) here), or cfg.save(path) for a file.",
        expected="Mapping",
        actual=type(cfg).__name__,
    )


def _missing_key_error(
    node: CfgNode, key: Any, error_class: type[ConfigKeyError]
) -> ConfigKeyError:
    parent_path = _node_path(node)
    path = _join(parent_path, key)
    error = error_class(f"unknown key {path!r}.", key=path)
    error._hint = lambda: _suggestion(node, key, parent_path)
    return error


def _unknown_key_error(node: CfgNode, key: Any, path: str, origin: _Origin) -> ConfigKeyError:
    file, line = origin.locate(path)
    parent_path = path.rpartition(".")[0] if "." in path else ""
    return ConfigKeyError(
        f"unknown key {path!r}{origin.describe(path)}.{_suggestion(node, key, parent_path)}"
        " New keys must first exist in the base config.",
        key=path,
        file=file,
        line=line,
    )


def _frozen_error(node: CfgNode, key: Any, action: str) -> FrozenConfigError:
    node_path = _node_path(node)
    if key is _NO_KEY:
        what = repr(node_path) if node_path else "the root node"
        path = node_path
    else:
        path = _join(node_path, key)
        what = repr(path)
    return FrozenConfigError(
        f"cannot {action} {what}: the config is frozen. Call freeze(False) on it first.",
        key=path,
    )


def _duplicate_key_error(source: str, key: Any, node: yaml.Node, first: yaml.Node) -> ConfigError:
    line, first_line = node.start_mark.line + 1, first.start_mark.line + 1
    return ConfigError(
        f"duplicate key {key!r} in {source}, line {line} (first at line {first_line});"
        " a later value would silently replace the first. Keep one.",
        key=str(key),
        file=source,
        line=line,
    )


def _invalid_yaml_error(err: yaml.MarkedYAMLError, source: str) -> ConfigError:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else None
    where = f"{source}, line {line}, column {mark.column + 1}" if mark is not None else source
    context = f" ({err.context})" if err.context else ""
    return ConfigError(f"invalid YAML in {where}: {err.problem}{context}", file=source, line=line)


def _unreadable_character_error(
    err: yaml.reader.ReaderError, text: str, source: str
) -> ConfigError:
    line = text.count("\n", 0, err.position) + 1
    code = err.character if isinstance(err.character, int) else ord(err.character)
    return ConfigError(
        f"{source}, line {line}: character {chr(code)!r} (U+{code:04X}) cannot appear in"
        " YAML; remove it, or write it as an escape in a double-quoted string.",
        file=source,
        line=line,
    )


def _unrepresentable_error(cfg: Any, err: yaml.representer.RepresenterError) -> ConfigTypeError:
    bad = err.args[1] if len(err.args) > 1 else None
    path = _find_path(cfg, bad, "") or "?"
    kind = type(bad).__name__
    return ConfigTypeError(
        f"cannot write {path!r} as YAML: {_describe(bad)} is not a YAML type. Convert it to"
        " str, int, float, bool, None, a list, a tuple or a dict first.",
        key=path,
        expected="a YAML type",
        actual=kind,
    )


def _surrogate_error(cfg: Any, text: Any) -> ConfigTypeError:
    path = _find_path(cfg, text, "") or "a key"
    return ConfigTypeError(
        f"cannot write {path!r} as YAML: {reprlib.repr(text)} holds a lone surrogate, which is"
        " not valid Unicode (it often comes from bytes decoded with errors='surrogateescape')."
        " Decode the bytes properly, or store them as bytes.",
        key=path,
        expected="valid Unicode text",
        actual="str with a lone surrogate",
    )


def _find_path(value: Any, target: Any, path: str) -> str | None:
    """Return the key path at which ``target`` (by identity) sits in ``value``."""
    if value is target:
        return path
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _find_path(item, target, _join(path, key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_path(item, target, f"{path}[{index}]")
            if found is not None:
                return found
    return None
