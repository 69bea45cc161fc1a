"""One ``PathManager`` for local paths and URLs, with downloads that never serve a broken file.

``PathManager`` sends each path to the ``PathHandler`` registered for its longest
matching prefix. ``http://``, ``https://`` and ``ftp://`` go to ``HTTPURLHandler``,
which downloads a file once into a cache and from then on serves the local copy;
paths without a registered prefix are local paths, handled by ``NativePathHandler``.
``RedirectPathHandler`` maps a prefix of your own onto another one::

    from easycore_path import PathManager, RedirectPathHandler

    PathManager.register(RedirectPathHandler("weights://", "https://example.org/models/"))
    with PathManager.open("weights://resnet50.pth", "rb") as f:  # downloaded once, then cached
        header = f.read(16)

Every download (``download_file``, and ``get_local_path`` of a URL) is:

- faithful: the file holds the bytes the server sent, never decoded on the way;
- atomic and durable: bytes go to a hidden partial file, fsynced and renamed into
  place only once its size matches Content-Length (and its hash ``checksum``); a cut
  or failed transfer, a full disk or a power loss leaves nothing under the target name;
- shared: threads and processes asking for the same URL wait on one ``file_lock``,
  and all but the first find the finished file; locks and partial files stay in a
  hidden ``.easycore-locks`` folder, under names that never collide with yours;
- retried and resumed: ``_is_retryable`` decides, in one place, which failures get
  another attempt (cut transfers, timeouts, connection errors, 408, 429, 5xx); an
  attempt continues a cut transfer with HTTP Range (FTP REST) where the server allows it.

Environment variables:

- ``EASYCORE_CACHE``: the cache directory (default ``~/.easycore/cache``).
- ``EASYCORE_OFFLINE``: ``1`` makes no request at all; only files already there are
  returned.
- ``REQUESTS_CA_BUNDLE``, ``NETRC``: read by requests; the CA bundle that https
  downloads trust, and the netrc file with credentials (default ``~/.netrc``).

The module is self-contained (it needs requests with urllib3 2.2 or later, tqdm and
filelock 4.3 or later; fsspec only for ``FsspecPathHandler``): copy this file into a
project as ``easycore_path.py`` to vendor it.
"""

# SPDX-License-Identifier: MIT
# Copyright (c) 2026 the easycore developers

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import datetime
import difflib
import email.utils
import errno
import ftplib
import gzip
import hashlib
import importlib
import io
import json
import logging
import lzma
import os
import re
import shutil
import socket
import stat
import tarfile
import threading
import time
import urllib.parse
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import (
    IO,
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
)

import filelock
import requests
import requests.adapters
import urllib3
from tqdm import tqdm

if TYPE_CHECKING:
    from types import ModuleType

__version__ = "0.1.0"

__all__ = [
    "ChecksumMismatchError",
    "DownloadError",
    "FsspecPathHandler",
    "HTTPURLHandler",
    "LockTimeoutError",
    "NativePathHandler",
    "PathError",
    "PathHandler",
    "PathManager",
    "PrefixConflictError",
    "RedirectLoopError",
    "RedirectPathHandler",
    "RemoteFileNotFoundError",
    "TruncatedDownloadError",
    "UnknownProtocolError",
    "UnsafeArchiveError",
    "UnsupportedOperationError",
    "download_file",
    "file_lock",
]

_logger = logging.getLogger(__name__)

_CHUNK_SIZE: Final = 1 << 20  # 1 MiB: large enough that Python overhead per chunk is noise
_CONNECT_TIMEOUT: Final = 10.0  # seconds to open a connection before it counts as failed
_READ_TIMEOUT: Final = 60.0  # seconds of silence from the server before a read fails
# Seconds one attempt may take in all: a server dripping a byte a minute never trips the
# read timeout. An hour moves 3.6 GB at 1 MB/s; a resumable download goes on at the next try.
_ATTEMPT_TIMEOUT: Final = 60 * 60.0
_ATTEMPTS: Final = 4  # tries per URL; see _is_retryable for which failures are retried
_BACKOFF: Final = 0.5  # seconds before the first retry, doubled before each next one
_RETRY_AFTER_CAP: Final = 120.0  # seconds: the longest Retry-After (429, 503) we wait
_LOCK_TIMEOUT: Final = 30 * 60.0  # seconds: the original promises a 30 minute wait


# -- Errors --------------------------------------------------------------------


class PathError(Exception):
    """Base class of the errors raised by ``easycore_path``."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__, so every attribute a subclass sets travels.
        return (_restored_error, (type(self), self.args, self.__dict__))


class UnknownProtocolError(PathError, ValueError):
    """No registered handler supports the ``protocol://`` of a path (also a ``ValueError``).

    Attributes:
        path: The path that was given.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class PrefixConflictError(PathError, ValueError):
    """Another handler is registered for the prefix (also a ``ValueError``).

    Attributes:
        prefix: The prefix that is taken (``""`` for the fallback of plain paths).
    """

    def __init__(self, message: str, prefix: str) -> None:
        super().__init__(message)
        self.prefix = prefix


class RedirectLoopError(PathError, ValueError):
    """Redirects lead back to where they started (also a ``ValueError``).

    Attributes:
        path: The path whose redirects loop.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedOperationError(PathError, NotImplementedError):
    """The handler cannot do this operation (also a ``NotImplementedError``).

    Attributes:
        path: The path the operation was asked for.
        operation: The method name, such as ``"listdir"``.
    """

    def __init__(self, message: str, path: str, operation: str) -> None:
        super().__init__(message)
        self.path = path
        self.operation = operation


class DownloadError(PathError, OSError):
    """A download failed and nothing was saved under the target name (also an ``OSError``).

    Attributes:
        url: The URL that failed.
        status: The HTTP status or FTP reply code when the server answered, else ``None``.
    """

    # The wait a 429 or 503 answer asked for (Retry-After); read by the retry loop only.
    _retry_after: float | None = None

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class RemoteFileNotFoundError(DownloadError, FileNotFoundError):
    """The server says the URL does not exist: HTTP 404 or 410, FTP 550.

    Also a ``FileNotFoundError``, like a missing local file.
    """


class TruncatedDownloadError(DownloadError):
    """The transfer ended before all announced bytes arrived.

    Attributes:
        received: Bytes that arrived.
        expected: Bytes announced (Content-Length, FTP SIZE), ``None`` if unknown.
    """

    def __init__(self, message: str, url: str, received: int, expected: int | None) -> None:
        super().__init__(message, url)
        self.received = received
        self.expected = expected


class ChecksumMismatchError(DownloadError):
    """A file's hash is not the one asked for with ``checksum=`` (or ``sha256=``).

    Attributes:
        path: The file checked: the existing file, or the target of the download.
        expected: The hash asked for (lower-case hex).
        actual: The hash found.
    """

    def __init__(self, message: str, url: str, path: str, expected: str, actual: str) -> None:
        super().__init__(message, url)
        self.path = path
        self.expected = expected
        self.actual = actual


class UnsafeArchiveError(PathError, ValueError):
    """An archive entry would be extracted outside its folder (also a ``ValueError``).

    ``../`` in a name, an absolute name, a link pointing out, or a device node.

    Attributes:
        path: The archive.
        member: The name of the refused entry.
    """

    def __init__(self, message: str, path: str, member: str) -> None:
        super().__init__(message)
        self.path = path
        self.member = member


class LockTimeoutError(PathError, TimeoutError):
    """A ``file_lock`` was not acquired in time (also a ``TimeoutError``).

    Attributes:
        lock_file: The lock file (in the hidden ``.easycore-locks`` folder beside the path).
        timeout: Seconds waited.
    """

    def __init__(self, message: str, lock_file: str, timeout: float) -> None:
        super().__init__(message)
        self.lock_file = lock_file
        self.timeout = timeout


# -- Public API: PathManager ---------------------------------------------------


class PathManager:
    """Route path operations to the handler registered for the path's prefix.

    All methods are static. The handler whose prefix is the longest match wins; a path
    that matches no prefix and has no ``protocol://`` is a local path. Every method
    accepts ``str`` or ``os.PathLike`` paths.

    Example::

        with PathManager.open("/tmp/notes.txt", "w", encoding="utf-8") as f:
            f.write("hello")
        local = PathManager.get_local_path("https://example.org/model.pth")  # cached
    """

    _handlers: ClassVar[dict[str, PathHandler]] = {}
    _ordered: ClassVar[tuple[tuple[str, PathHandler], ...]] = ()  # longest prefix first
    _fallback: ClassVar[PathHandler | None] = None
    _register_lock: ClassVar[threading.Lock] = threading.Lock()

    @staticmethod
    def register(handler: PathHandler, override: bool = False) -> None:
        """Register ``handler`` for each prefix of its ``get_supported_prefixes()``.

        A handler with no prefixes becomes the fallback for paths that no prefix claims
        (``NativePathHandler`` is that fallback by default).

        Args:
            handler: The handler to register.
            override: Replace the handlers already registered for these prefixes.

        Raises:
            PrefixConflictError: A prefix is taken and ``override`` is False.
            TypeError: ``handler`` is not a ``PathHandler``, or its prefixes are one str.
        """
        if not isinstance(handler, PathHandler):
            raise TypeError(
                f"PathManager.register() takes a PathHandler instance, got "
                f"{type(handler).__name__}; subclass PathHandler and pass an instance."
            )
        prefixes = _prefixes_of(handler)
        with PathManager._register_lock:
            if not prefixes:
                PathManager._set_fallback(handler, override)
                return
            handlers = dict(PathManager._handlers)
            for prefix in prefixes:
                _check_prefix_free(prefix, handlers.get(prefix), handler, override)
                handlers[prefix] = handler
            ordered = sorted(handlers.items(), key=lambda item: len(item[0]), reverse=True)
            PathManager._handlers = handlers
            PathManager._ordered = tuple(ordered)

    @staticmethod
    def open(path: str | os.PathLike[str], mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open a stream to ``path``, like the built-in ``open``.

        Args:
            path: A local path or a URI of a registered handler.
            mode: The mode, as for ``open``; defaults to ``"r"``.
            **kwargs: Passed on to the handler, e.g. ``encoding`` for local files.

        Returns:
            A file-like object.
        """
        path = _normalized(path)
        return PathManager._handler_for(path).open(path, mode, **kwargs)

    @staticmethod
    def copy(
        src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str], overwrite: bool = False
    ) -> bool:
        """Copy ``src_path`` to ``dst_path``, across handlers if need be.

        The source is made local with its handler's ``get_local_path`` (a URL is
        downloaded to the cache) and handed to the destination handler's
        ``copy_from_local``.

        Args:
            src_path: A local path or URI to copy from.
            dst_path: The file path or URI to copy to (not a directory to copy into).
            overwrite: Replace an existing destination.

        Returns:
            True on success; False (with a logged warning) when the destination exists
            and ``overwrite`` is False.

        Raises:
            IsADirectoryError: ``dst_path`` is a directory.
        """
        src, dst = _normalized(src_path), _normalized(dst_path)
        src_handler = PathManager._handler_for(src)
        dst_handler = PathManager._handler_for(dst)
        # Checked before a possibly long download; copy_from_local checks again.
        if _ask(dst_handler.isdir, dst):
            raise _is_a_directory(dst, "copy to it; give the destination file's full path")
        if not overwrite and _ask(dst_handler.exists, dst):
            _warn_not_overwritten(dst)
            return False
        local_path = src_handler.get_local_path(src)
        # A custom handler written for the original may return None: that is success too.
        return dst_handler.copy_from_local(local_path, dst, overwrite=overwrite) is not False

    @staticmethod
    def copy_from_local(
        local_path: str | os.PathLike[str],
        dst_path: str | os.PathLike[str],
        overwrite: bool = False,
    ) -> bool:
        """Copy the local file ``local_path`` to ``dst_path``.

        This is the interface for custom handlers; prefer :meth:`copy`.

        Args:
            local_path: A local file.
            dst_path: A local path or URI to copy to.
            overwrite: Replace an existing destination.

        Returns:
            True on success; False (with a logged warning) when the destination exists
            and ``overwrite`` is False.
        """
        dst = _normalized(dst_path)
        handler = PathManager._handler_for(dst)
        return handler.copy_from_local(os.fspath(local_path), dst, overwrite=overwrite) is not False

    @staticmethod
    def get_local_path(path: str | os.PathLike[str]) -> str:
        """Return a local file path for ``path``, usable with ``open`` and ``os.path``.

        A remote resource is downloaded to the cache first (once).

        Args:
            path: A local path or a URI of a registered handler.

        Returns:
            A path on the local file system.
        """
        path = _normalized(path)
        return PathManager._handler_for(path).get_local_path(path)

    @staticmethod
    def exists(path: str | os.PathLike[str]) -> bool:
        """Return whether there is a resource at ``path``, like ``os.path.exists``."""
        path = _normalized(path)
        return PathManager._handler_for(path).exists(path)

    @staticmethod
    def isfile(path: str | os.PathLike[str]) -> bool:
        """Return whether ``path`` is a file, like ``os.path.isfile``."""
        path = _normalized(path)
        return PathManager._handler_for(path).isfile(path)

    @staticmethod
    def isdir(path: str | os.PathLike[str]) -> bool:
        """Return whether ``path`` is a directory, like ``os.path.isdir``."""
        path = _normalized(path)
        return PathManager._handler_for(path).isdir(path)

    @staticmethod
    def listdir(path: str | os.PathLike[str]) -> list[str]:
        """Return the names in the directory ``path``, sorted, like ``os.listdir``."""
        path = _normalized(path)
        return PathManager._handler_for(path).listdir(path)

    @staticmethod
    def makedirs(path: str | os.PathLike[str]) -> None:
        """Create the directory ``path`` and its parents, like ``os.makedirs(exist_ok=True)``."""
        path = _normalized(path)
        PathManager._handler_for(path).makedirs(path)

    @staticmethod
    def remove(path: str | os.PathLike[str]) -> None:
        """Remove the file ``path``, like ``os.remove``; a directory raises IsADirectoryError."""
        path = _normalized(path)
        PathManager._handler_for(path).remove(path)

    @staticmethod
    def removedirs(path: str | os.PathLike[str]) -> None:
        """Remove the empty directory ``path`` and its empty parents, like ``os.removedirs``.

        Never deletes anything recursively: a directory that is not empty raises ``OSError``.
        """
        path = _normalized(path)
        PathManager._handler_for(path).removedirs(path)

    # -- Internals ---------------------------------------------------------------

    @staticmethod
    def _handler_for(path: str) -> PathHandler:
        for prefix, handler in PathManager._ordered:
            if path.startswith(prefix):
                return handler
        scheme = _SCHEME.match(path)
        if scheme is not None or PathManager._fallback is None:
            raise _unknown_protocol(path, scheme.group(0) if scheme else "", PathManager._handlers)
        return PathManager._fallback

    @staticmethod
    def _set_fallback(handler: PathHandler, override: bool) -> None:
        current = PathManager._fallback
        if current is not None and current is not handler and not override:
            raise PrefixConflictError(
                f"{type(current).__name__} already handles paths without a registered "
                f"prefix; to replace it with {type(handler).__name__}, pass override=True: "
                f"PathManager.register(handler, override=True).",
                "",
            )
        PathManager._fallback = handler


# -- Public API: handlers ------------------------------------------------------


class PathHandler:
    """Base class of the handlers that ``PathManager`` routes paths to.

    A subclass returns its prefixes from ``get_supported_prefixes`` and overrides the
    operations it supports; the others raise ``UnsupportedOperationError``. Handlers
    call ``self.get_cache_dir(protocol)`` positionally, so a subclass may override it
    with a required ``protocol`` argument.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The original's tutorial spells it get_support_prefixes; keep such handlers working.
        if "get_support_prefixes" in vars(cls) and "get_supported_prefixes" not in vars(cls):
            warnings.warn(
                f"{cls.__qualname__} defines get_support_prefixes(), the old spelling: "
                f"rename it get_supported_prefixes(). It is used for now.",
                DeprecationWarning,
                stacklevel=2,
            )
            cls.get_supported_prefixes = _call_legacy_prefixes  # type: ignore[method-assign]

    def get_cache_dir(self, protocol: str | None = None) -> str:
        """Return the cache directory, ``<base-cache-dir>/<protocol>``.

        The base is ``$EASYCORE_CACHE`` if set, otherwise ``~/.easycore/cache``.

        Args:
            protocol: A protocol such as ``"http"``; None returns the base directory.

        Returns:
            The directory (not created here).
        """
        cache_dir = os.path.expanduser(os.environ.get("EASYCORE_CACHE") or "~/.easycore/cache")
        if protocol is not None:
            cache_dir = os.path.join(cache_dir, protocol)
        return cache_dir

    def get_supported_prefixes(self) -> list[str]:
        """Return the URI prefixes this handler supports, such as ``["s3://"]``."""
        raise UnsupportedOperationError(
            f"{type(self).__name__} must override get_supported_prefixes() to return the "
            f"prefixes it handles, such as ['s3://'].",
            "",
            "get_supported_prefixes",
        )

    def get_local_path(self, path: str) -> str:
        """Return a local file path for ``path``, usable with ``open`` and ``os.path``."""
        raise self._unsupported("get_local_path", path)

    def open(self, path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open a stream to ``path``, like the built-in ``open``."""
        raise self._unsupported("open", path)

    def exists(self, path: str) -> bool:
        """Return whether there is a resource at ``path``."""
        raise self._unsupported("exists", path)

    def isfile(self, path: str) -> bool:
        """Return whether ``path`` is a file."""
        raise self._unsupported("isfile", path)

    def isdir(self, path: str) -> bool:
        """Return whether ``path`` is a directory."""
        raise self._unsupported("isdir", path)

    def listdir(self, path: str) -> list[str]:
        """Return the names in the directory ``path``."""
        raise self._unsupported("listdir", path)

    def makedirs(self, path: str) -> None:
        """Create the directory ``path`` and its parents; an existing one is fine."""
        raise self._unsupported("makedirs", path)

    def remove(self, path: str) -> None:
        """Remove the file (not directory) ``path``."""
        raise self._unsupported("remove", path)

    def removedirs(self, path: str) -> None:
        """Remove the empty directory ``path`` and its empty parents."""
        raise self._unsupported("removedirs", path)

    def copy_from_local(self, local_path: str, dst_path: str, overwrite: bool = False) -> bool:
        """Copy the local file ``local_path`` to ``dst_path``; True on success."""
        raise self._unsupported("copy_from_local", dst_path)

    def _unsupported(self, operation: str, path: str, why: str = "") -> UnsupportedOperationError:
        reason = f": {why}" if why else ""
        return UnsupportedOperationError(
            f"{type(self).__name__} cannot {operation}() {path!r}{reason}.", path, operation
        )


class NativePathHandler(PathHandler):
    """Handle local paths with the standard library.

    It has no prefix: it is the fallback for every path that no other handler claims
    and that has no ``protocol://``, so plain, relative and Windows paths (``C:\\data``)
    all land here.
    """

    def get_supported_prefixes(self) -> list[str]:
        """Return ``[]``: this handler is the fallback for paths without a prefix."""
        return []

    def get_local_path(self, path: str) -> str:
        """Return ``path`` itself: it is already local."""
        return path

    def open(self, path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open ``path`` with the built-in ``open`` (``encoding`` and friends pass through)."""
        return open(path, mode, **kwargs)

    def exists(self, path: str) -> bool:
        """Return ``os.path.exists(path)``."""
        return os.path.exists(path)

    def isfile(self, path: str) -> bool:
        """Return ``os.path.isfile(path)``."""
        return os.path.isfile(path)

    def isdir(self, path: str) -> bool:
        """Return ``os.path.isdir(path)``."""
        return os.path.isdir(path)

    def listdir(self, path: str) -> list[str]:
        """Return ``os.listdir(path)``, sorted so results do not depend on the file system."""
        return sorted(os.listdir(path))

    def makedirs(self, path: str) -> None:
        """Run ``os.makedirs(path, exist_ok=True)``."""
        os.makedirs(path, exist_ok=True)

    def remove(self, path: str) -> None:
        """Remove the file ``path``.

        Raises:
            IsADirectoryError: ``path`` is a directory (use ``removedirs``); a symlink
                to a directory is removed, as ``os.remove`` does.
            FileNotFoundError: Nothing is at ``path``.
        """
        if os.path.isdir(path) and not os.path.islink(path):
            raise _is_a_directory(path, "remove() deletes files only; use removedirs()")
        os.remove(path)

    def removedirs(self, path: str) -> None:
        """Run ``os.removedirs(path)``: the empty leaf, then each parent left empty."""
        os.removedirs(path)

    def copy_from_local(self, local_path: str, dst_path: str, overwrite: bool = False) -> bool:
        """Copy ``local_path`` to the file ``dst_path``, creating its parent directories.

        The copy is written next to the destination and renamed into place, so a
        failed copy never leaves a partial destination file.

        Returns:
            True on success; False (with a logged warning) when ``dst_path`` exists
            and ``overwrite`` is False.

        Raises:
            IsADirectoryError: ``local_path`` or ``dst_path`` is a directory.
            FileNotFoundError: ``local_path`` does not exist.
        """
        if os.path.isdir(local_path):
            raise _is_a_directory(local_path, "copy() copies files only")
        if os.path.isdir(dst_path):
            raise _is_a_directory(dst_path, "copy to it; give the destination file's full path")
        if not overwrite and os.path.exists(dst_path):
            _warn_not_overwritten(dst_path)
            return False
        parent = os.path.dirname(dst_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        tmp_path = _temp_path_for(dst_path)
        try:
            shutil.copyfile(local_path, tmp_path)
            os.replace(tmp_path, dst_path)
        finally:
            _remove_quietly(tmp_path)
        return True


class HTTPURLHandler(PathHandler):
    """Download http, https and ftp URLs once into the cache, then serve the local copy.

    The cache file of a URL is ``get_cache_dir(protocol)/<host>/<path dirs>/<digest>/<name>``,
    where ``<digest>`` hashes host, path and query, so two URLs never share a file and no
    URL can write outside the cache. The copy is reused as long as it exists; delete it
    to download again.

    URLs name files: ``isdir`` is always False, and ``listdir``, ``makedirs``, ``remove``,
    ``removedirs`` and ``copy_from_local`` (upload) raise ``UnsupportedOperationError``.

    Args:
        progress: Show a tqdm progress bar while downloading.
        headers: Extra HTTP headers for every request (downloads and ``exists``), such
            as ``{"Authorization": "Bearer ..."}`` for a private weight store.
        allow_insecure_redirects: Follow redirects from https to plain http (downloads
            and ``exists``).
    """

    # Class defaults, so subclasses that skip __init__ still work.
    _progress: bool = True
    _headers: Mapping[str, str] = {}
    _allow_insecure_redirects: bool = False

    def __init__(
        self,
        progress: bool = True,
        *,
        headers: Mapping[str, str] | None = None,
        allow_insecure_redirects: bool = False,
    ) -> None:
        self._progress = progress
        self._headers = dict(headers or {})
        self._allow_insecure_redirects = allow_insecure_redirects

    def get_supported_prefixes(self) -> list[str]:
        """Return ``["http://", "https://", "ftp://"]``."""
        return ["http://", "https://", "ftp://"]

    def get_local_path(self, path: str) -> str:
        """Download ``path`` into the cache unless it is there; return the cached file.

        Raises:
            RemoteFileNotFoundError: The server says the URL does not exist.
            TruncatedDownloadError: The transfer was cut (after retries).
            DownloadError: Any other failure, with the URL and the reason.
        """
        target = self._cache_path(path)
        job = _Job(
            urls=(path,),
            target=target,
            progress=self._progress,
            headers=self._headers,
            allow_insecure_redirects=self._allow_insecure_redirects,
        )
        return _download(job)

    def open(self, path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open the cached copy of ``path`` for reading (downloading it first if needed).

        Raises:
            UnsupportedOperationError: ``mode`` writes; URLs are read-only here.
        """
        if any(flag in mode for flag in "wax+"):
            raise self._unsupported("open", path, f"mode {mode!r} writes, and URLs are read-only")
        return open(self.get_local_path(path), mode, **kwargs)

    def exists(self, path: str) -> bool:
        """Return whether the URL exists: True if cached, else ask the server.

        HTTP asks with a HEAD request (a GET when HEAD is refused), FTP with SIZE. A
        server that stalls or drips its answer is cut off after ``download_file``'s
        default ``attempt_timeout`` (1 hour).

        Raises:
            DownloadError: The server could not be reached, gave no answer in time, or
                gave one that is neither "exists" nor "not found" (such as 403 or 500),
                or ``EASYCORE_OFFLINE`` is set and the URL is not cached.
        """
        if os.path.isfile(self._cache_path(path)):
            return True
        return _remote_exists(path, self._headers, self._allow_insecure_redirects)

    def isfile(self, path: str) -> bool:
        """Return ``exists(path)``: a URL names a file."""
        return self.exists(path)

    def isdir(self, path: str) -> bool:
        """Return False: a URL names a file, never a directory."""
        return False

    def listdir(self, path: str) -> list[str]:
        """Raise ``UnsupportedOperationError``: HTTP has no directory listing."""
        raise self._unsupported("listdir", path, "URLs have no directory listing")

    def makedirs(self, path: str) -> None:
        """Raise ``UnsupportedOperationError``: URLs are read-only here."""
        raise self._unsupported("makedirs", path, "URLs are read-only")

    def remove(self, path: str) -> None:
        """Raise ``UnsupportedOperationError``; delete ``get_local_path(path)`` to drop the copy."""
        raise self._unsupported(
            "remove", path, "URLs are read-only; to drop the cached copy, remove get_local_path()"
        )

    def removedirs(self, path: str) -> None:
        """Raise ``UnsupportedOperationError``: URLs are read-only here."""
        raise self._unsupported("removedirs", path, "URLs are read-only")

    def copy_from_local(self, local_path: str, dst_path: str, overwrite: bool = False) -> bool:
        """Raise ``UnsupportedOperationError``: uploading is not supported."""
        raise self._unsupported("copy_from_local", dst_path, "uploading is not supported")

    def _cache_path(self, url: str) -> str:
        protocol = url.partition("://")[0].lower()
        return os.path.join(self.get_cache_dir(protocol), _cache_key(url))


class RedirectPathHandler(PathHandler):
    """Redirect paths that start with ``new_prefix`` to ``old_prefix``.

    Every operation replaces the prefix and hands the new path back to ``PathManager``,
    so the target may be local, remote or another redirect.

    Example::

        PathManager.register(RedirectPathHandler("easycore://", "http://xxx.com/download/"))
        # "easycore://yyy/zzz.txt" now reads "http://xxx.com/download/yyy/zzz.txt"

    Args:
        new_prefix: The prefix you use, such as ``"dataset://MNIST/"``.
        old_prefix: What it stands for, such as ``"/data/MNIST/"`` or a URL.
    """

    def __init__(self, new_prefix: str, old_prefix: str) -> None:
        self.new_prefix = new_prefix
        self.old_prefix = old_prefix

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.new_prefix!r}, {self.old_prefix!r})"

    def get_supported_prefixes(self) -> list[str]:
        """Return ``[new_prefix]``."""
        return [self.new_prefix]

    def redirect(self, path: str) -> str:
        """Return ``path`` with ``new_prefix`` replaced by ``old_prefix``.

        Exactly the prefix is replaced, once; the rest of the path is kept as it is.

        Raises:
            ValueError: ``path`` does not start with ``new_prefix``.
        """
        if not path.startswith(self.new_prefix):
            raise ValueError(
                f"{self!r} cannot redirect {path!r}: it does not start with {self.new_prefix!r}."
            )
        return self.old_prefix + path[len(self.new_prefix) :]

    def get_local_path(self, path: str) -> str:
        """Return ``PathManager.get_local_path`` of the redirected path."""
        return PathManager.get_local_path(self._target(path))

    def open(self, path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Return ``PathManager.open`` of the redirected path."""
        return PathManager.open(self._target(path), mode, **kwargs)

    def exists(self, path: str) -> bool:
        """Return ``PathManager.exists`` of the redirected path."""
        return PathManager.exists(self._target(path))

    def isfile(self, path: str) -> bool:
        """Return ``PathManager.isfile`` of the redirected path."""
        return PathManager.isfile(self._target(path))

    def isdir(self, path: str) -> bool:
        """Return ``PathManager.isdir`` of the redirected path."""
        return PathManager.isdir(self._target(path))

    def listdir(self, path: str) -> list[str]:
        """Return ``PathManager.listdir`` of the redirected path."""
        return PathManager.listdir(self._target(path))

    def makedirs(self, path: str) -> None:
        """Run ``PathManager.makedirs`` on the redirected path."""
        PathManager.makedirs(self._target(path))

    def remove(self, path: str) -> None:
        """Run ``PathManager.remove`` on the redirected path."""
        PathManager.remove(self._target(path))

    def removedirs(self, path: str) -> None:
        """Run ``PathManager.removedirs`` on the redirected path."""
        PathManager.removedirs(self._target(path))

    def copy_from_local(self, local_path: str, dst_path: str, overwrite: bool = False) -> bool:
        """Return ``PathManager.copy_from_local`` to the redirected path."""
        return PathManager.copy_from_local(local_path, self._target(dst_path), overwrite)

    def _target(self, path: str) -> str:
        """Redirect ``path`` once, after checking that its chain of redirects ends."""
        target = self.redirect(path)
        seen = [path, target]
        current = target
        # A chain that does not loop visits each registered prefix at most once.
        hops = len(PathManager._handlers) + 1
        for _ in range(hops):
            try:
                handler = PathManager._handler_for(current)
            except UnknownProtocolError as err:
                raise UnknownProtocolError(
                    f"{err} ({path!r} was redirected to {current!r}; check the old_prefix "
                    f"of the RedirectPathHandler for {self.new_prefix!r}.)",
                    path,
                ) from err
            if not isinstance(handler, RedirectPathHandler):
                return target
            current = handler.redirect(current)
            if current in seen:
                break
            seen.append(current)
        chain = " -> ".join(repr(step) for step in [*seen, current][: hops + 2])
        raise RedirectLoopError(
            f"redirects of {path!r} never reach a non-redirect handler: {chain}. Change "
            f"the old_prefix of one of these RedirectPathHandlers.",
            path,
        )


class FsspecPathHandler(PathHandler):
    """Serve one fsspec protocol (``s3://``, ``gcs://``, ``memory://``...) through PathManager.

    Needs ``pip install 'easycore-path[fsspec]'`` and the protocol's own package (s3fs,
    gcsfs...). It is not registered by default::

        PathManager.register(FsspecPathHandler("s3", anon=True))
        with PathManager.open("s3://bucket/key.txt") as f:
            text = f.read()

    ``open`` streams through fsspec; ``get_local_path`` downloads once into
    ``get_cache_dir(protocol)`` (atomic and locked, like URLs), and the copy is reused.

    Args:
        protocol: The fsspec protocol, such as ``"s3"``; the prefix is ``protocol + "://"``.
        **storage_options: Passed to ``fsspec.filesystem`` (credentials, endpoint_url...).
    """

    def __init__(self, protocol: str, **storage_options: Any) -> None:
        self.protocol = protocol
        self.storage_options = storage_options
        self._filesystem: Any = None  # made on first use: creating one may need credentials

    def get_supported_prefixes(self) -> list[str]:
        """Return ``[protocol + "://"]``."""
        return [f"{self.protocol}://"]

    def get_local_path(self, path: str) -> str:
        """Download ``path`` into the cache unless it is there; return the cached file.

        Raises:
            FileNotFoundError: Nothing is at ``path``.
            TruncatedDownloadError: The copy's size differs from the remote size.
        """
        target = os.path.join(self.get_cache_dir(self.protocol), _cache_key(path))
        _create_once(target, lambda tmp_path: self._fetch(path, tmp_path))
        return target

    def open(self, path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open ``path`` with fsspec (text modes take ``encoding`` as usual)."""
        stream: IO[Any] = self._fs().open(path, mode, **kwargs)
        return stream

    def exists(self, path: str) -> bool:
        """Return ``fs.exists(path)``."""
        return bool(self._fs().exists(path))

    def isfile(self, path: str) -> bool:
        """Return ``fs.isfile(path)``."""
        return bool(self._fs().isfile(path))

    def isdir(self, path: str) -> bool:
        """Return ``fs.isdir(path)``."""
        return bool(self._fs().isdir(path))

    def listdir(self, path: str) -> list[str]:
        """Return the sorted names (not full paths) in the directory ``path``."""
        entries = self._fs().ls(path, detail=False)
        return sorted(str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries)

    def makedirs(self, path: str) -> None:
        """Run ``fs.makedirs(path, exist_ok=True)``."""
        self._fs().makedirs(path, exist_ok=True)

    def remove(self, path: str) -> None:
        """Remove the file ``path``.

        Raises:
            IsADirectoryError: ``path`` is a directory.
            FileNotFoundError: Nothing is at ``path``.
        """
        fs = self._fs()
        if fs.isdir(path):
            raise _is_a_directory(path, "remove() deletes files only; use removedirs()")
        if not fs.exists(path):
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        fs.rm_file(path)

    def removedirs(self, path: str) -> None:
        """Remove the empty directory ``path``, then each parent left empty, like ``os.removedirs``.

        Raises:
            OSError: ``path`` is not an empty directory (nothing is removed then).
        """
        fs = self._fs()
        fs.rmdir(path)
        scheme = f"{self.protocol}://"
        parents = path[len(scheme) :] if path.startswith(scheme) else path
        parts = parents.strip("/").split("/")[:-1]
        while parts:
            parent = scheme + "/".join(parts)
            try:  # like os.removedirs: the first parent that cannot go ends the walk
                if fs.ls(parent, detail=False):
                    return
                fs.rmdir(parent)
            except OSError:
                return
            parts.pop()

    def copy_from_local(self, local_path: str, dst_path: str, overwrite: bool = False) -> bool:
        """Upload the local file ``local_path`` to ``dst_path``.

        Returns:
            True on success; False (with a logged warning) when ``dst_path`` exists
            and ``overwrite`` is False.
        """
        if os.path.isdir(local_path):
            raise _is_a_directory(local_path, "copy() copies files only")
        fs = self._fs()
        if not overwrite and fs.exists(dst_path):
            _warn_not_overwritten(dst_path)
            return False
        fs.put_file(local_path, dst_path)
        return True

    def _fs(self) -> Any:
        if self._filesystem is None:
            fsspec = _require("fsspec", "fsspec")
            self._filesystem = fsspec.filesystem(self.protocol, **self.storage_options)
        return self._filesystem

    def _fetch(self, path: str, tmp_path: str) -> None:
        fs = self._fs()
        if fs.isdir(path):
            raise _is_a_directory(path, "get_local_path() fetches files only")
        expected = int(fs.size(path))
        fs.get_file(path, tmp_path)
        received = os.path.getsize(tmp_path)
        if received != expected:
            raise TruncatedDownloadError(
                f"{path} stopped at {received} of {expected} bytes. Nothing was saved; "
                f"call again to retry.",
                path,
                received,
                expected,
            )


# -- Public API: locks and downloads -------------------------------------------


@contextlib.contextmanager
def file_lock(path: str, *, timeout: float = _LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an inter-process lock on ``path`` while the ``with`` block runs.

    The lock file lives in the hidden folder ``.easycore-locks`` next to ``path`` (created
    if missing), under a name made from ``path``'s name and its hash, so it can never be
    one of your files (``Pipfile`` and ``Pipfile.lock`` stay yours) and any name the file
    system takes can be locked. Once entered, no other thread or process holds the same
    lock. The lock is an OS lock (``flock`` on POSIX), released by the OS when its holder
    dies, so a killed process never leaves a lock that blocks others. Where the file
    system refuses ``flock`` (ENOSYS on some Lustre mounts, ENOLCK on NFS without lockd,
    EOPNOTSUPP on some FUSE mounts) the lock is a soft lock file instead: it records its
    holder (pid, host, process start) and is taken over once that holder is dead. The
    thread that holds the lock may enter it again without waiting (so ``download_file``
    of ``path`` inside the block works); it is released when the outermost block ends.

    Example::

        with file_lock(filename):
            if not os.path.isfile(filename):
                create_file(filename)

    Args:
        path: The path to lock.
        timeout: Seconds to wait before giving up; 30 minutes by default.

    Raises:
        LockTimeoutError: Someone else held the lock for all of ``timeout``.
        PermissionError: The lock folder cannot be created or written (a read-only
            folder); the message names it and the fix. Other failures of that folder (not
            a directory, a read-only file system) are raised the same way, each as its
            own ``OSError`` subclass.
    """
    lock_file = _lock_file_for(os.fspath(path))
    held = _locks_held_by_this_thread()
    key = os.path.realpath(lock_file)
    if key in held:  # a second flock of ours would wait on the first: for 30 minutes
        yield
        return
    lock = _acquired_lock(os.fspath(path), lock_file, timeout)
    held.add(key)
    try:
        yield
    finally:
        held.discard(key)
        lock.release()


def download_file(
    url: str,
    dir: str,
    filename: str | None = None,
    progress: bool = True,
    *,
    sha256: str | None = None,
    checksum: str | None = None,
    headers: Mapping[str, str] | None = None,
    mirrors: Sequence[str] = (),
    unpack: bool = False,
    refresh: str = "never",
    allow_insecure_redirects: bool = False,
    attempt_timeout: float = _ATTEMPT_TIMEOUT,
) -> str:
    """Download ``url`` into the directory ``dir`` and return the file's path.

    The file on disk holds the bytes the server sent (a ``.tar.gz`` served with
    ``Content-Encoding: gzip`` stays compressed). They go to a hidden partial file, are
    checked against Content-Length and ``checksum``, written to disk (fsync) and only
    then renamed to the final name, so a failure or a power loss never leaves a broken
    file there. Callers in other threads or processes wait for that one download
    instead of starting their own. An interrupted transfer continues where it stopped
    (HTTP Range, FTP REST) when the server allows it, within this call's retries and in a later
    call after a crash. With ``EASYCORE_OFFLINE=1`` no request is made: the file must
    be there already.

    Example::

        path = download_file("https://example.org/data.tar.gz", "data", unpack=True,
                             checksum="sha256:9f86d08...")

    Args:
        url: An http, https or ftp URL (the scheme in any case).
        dir: Target directory, created if missing.
        filename: Name to save as; defaults to the last part of the URL path.
        progress: Show a tqdm progress bar.
        sha256: Expected SHA-256 of the file, as hex (same as ``checksum="sha256:..."``).
        checksum: Expected hash as ``"<algorithm>:<hex>"``, with md5, sha1, sha256 or
            sha512. A file already there is checked too.
        headers: Extra HTTP headers, such as ``{"Authorization": "Bearer ..."}``; they
            win over credentials from ``~/.netrc`` and are not sent to another host
            after a redirect.
        mirrors: Other URLs of the same file, tried in order when ``url`` fails.
        unpack: Extract a zip or tar (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz) archive
            once into the folder ``<file>.unpacked`` next to it and return that
            folder; a single .gz, .bz2 or .xz file is decompressed next to it and that
            file's path returned. An archive that ``refresh`` replaced is extracted
            again.
        refresh: ``"never"`` (default) returns a file already there as it is;
            ``"if-changed"`` asks the server (with its ETag or Last-Modified; over FTP
            its SIZE and MDTM) and replaces the file, atomically, only when it changed.
        allow_insecure_redirects: Follow a redirect from https to plain http.
        attempt_timeout: Seconds one attempt may take in all, headers and body (1
            hour by default), so a server that stalls or drips cannot hold the
            download and its lock forever; a server with Range support resumes at the
            next attempt.

    Returns:
        The path of the downloaded file, or of the file already there; with
        ``unpack=True``, the path of what was extracted.

    Raises:
        RemoteFileNotFoundError: The server says the URL does not exist (HTTP 404).
        TruncatedDownloadError: Fewer bytes arrived than announced (after retries).
        ChecksumMismatchError: The file's hash is not the expected one.
        UnsafeArchiveError: ``unpack=True`` and an archive entry would land outside
            its folder (``../``, an absolute path, a link out, a device).
        DownloadError: Any other failure (disk full, offline and not cached, a
            refused redirect...), with the URL and the reason; nothing partial is kept.
        ValueError: No file name can be taken from the URL, ``filename`` has a
            directory part, or an argument is malformed.
    """
    name = _checked_filename(filename if filename is not None else _url_basename(url), url)
    job = _Job(
        urls=(url, *mirrors),
        target=os.path.join(dir, name),
        progress=progress,
        checksum=_checked_checksum(sha256, checksum),
        headers=dict(headers or {}),
        refresh=_checked_refresh(refresh),
        allow_insecure_redirects=allow_insecure_redirects,
        attempt_timeout=attempt_timeout,
    )
    path = _download(job)
    return _unpacked(url, path) if unpack else path


# -- Internals: dispatch and messages ------------------------------------------


def _restored_error(
    cls: type[PathError], args: tuple[Any, ...], state: dict[str, Any]
) -> PathError:
    """Rebuild a pickled error: its class, its args, and every attribute it carried."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


# A "protocol://" start. Two letters at least, so that "C://data" stays a Windows path.
_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")


def _normalized(path: str | os.PathLike[str]) -> str:
    """Return ``path`` as a str, with its ``protocol://`` in lower case (RFC 3986)."""
    path = os.fspath(path)
    scheme = _SCHEME.match(path)
    if scheme is None:
        return path
    return scheme.group(0).lower() + path[scheme.end() :]


def _prefixes_of(handler: PathHandler) -> list[str]:
    prefixes: Any = handler.get_supported_prefixes()  # a user's handler may return anything
    if isinstance(prefixes, str):  # its characters would register "/" and take every path
        raise TypeError(
            f"{type(handler).__name__}.get_supported_prefixes() returned the str {prefixes!r}; "
            f"return a list: [{prefixes!r}]."
        )
    return list(dict.fromkeys(prefixes))


def _check_prefix_free(
    prefix: str, existing: PathHandler | None, handler: PathHandler, override: bool
) -> None:
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(
            f"{type(handler).__name__}.get_supported_prefixes() returned {prefix!r}; "
            f"prefixes are non-empty strings such as 's3://'."
        )
    if existing is not None and existing is not handler and not override:
        raise PrefixConflictError(
            f"prefix {prefix!r} is already handled by {type(existing).__name__}; to "
            f"replace it with {type(handler).__name__}, pass override=True: "
            f"PathManager.register(handler, override=True).",
            prefix,
        )


def _unknown_protocol(path: str, scheme: str, handlers: dict[str, PathHandler]) -> Exception:
    prefixes = sorted(handlers)
    close = difflib.get_close_matches(scheme, prefixes, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownProtocolError(
        f"no handler for {path!r}: {scheme or 'plain paths'!r} is not a registered prefix "
        f"(registered: {', '.join(prefixes) or 'none'}).{hint} Register a PathHandler for "
        f"it with PathManager.register().",
        path,
    )


def _call_legacy_prefixes(self: Any) -> list[str]:
    """``get_supported_prefixes`` of a handler that only defines ``get_support_prefixes``."""
    return list(self.get_support_prefixes())


def _ask(question: Callable[[str], bool], path: str) -> bool:
    """Return ``question(path)``, or False from a handler that cannot answer it."""
    try:
        return question(path)
    except NotImplementedError:  # a custom handler may implement copy_from_local alone
        return False


def _is_a_directory(path: str, why: str) -> IsADirectoryError:
    return IsADirectoryError(errno.EISDIR, f"is a directory: {why}", path)


def _warn_not_overwritten(path: str) -> None:
    _logger.warning(f"not copying to {path!r}: it exists; pass overwrite=True to replace it")


def _require(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        hint = f"pip install 'easycore-path[{extra}]'"
        raise ImportError(f"{module!r} is needed here: {hint}") from err


# -- Internals: cache keys and file names --------------------------------------

_UNSAFE_CHARS: Final = re.compile(r"[^A-Za-z0-9._-]")
_WINDOWS_DEVICES: Final = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)]
)
_MAX_NAME: Final = 100  # characters per path component, well below every file system's limit
_MAX_DEPTH: Final = 16  # directories kept from a URL path; the digest keeps keys unique


def _cache_key(url: str) -> str:
    """Return where ``url`` is cached, relative to its protocol's cache directory.

    The key is ``<host>/<dirs...>/<digest>/<name>``: host, directories and name are made
    safe (only ``[A-Za-z0-9._-]``, never ``.`` or ``..``), and ``<digest>`` hashes host,
    path and query, so distinct URLs never share a key and no key leaves the directory.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as err:  # such as an unclosed "[" of an IPv6 host
        raise ValueError(f"{url!r} is not a valid URL: {err}.") from err
    host = parts.netloc.rpartition("@")[2].lower()  # credentials never reach the disk
    segments = _resolve_dot_segments(urllib.parse.unquote(s) for s in parts.path.split("/"))
    name = _safe_name(segments.pop()) if segments else "index"
    dirs = [_safe_name(segment) for segment in segments[:_MAX_DEPTH]]
    identity = f"{parts.scheme.lower()}://{host}{parts.path}?{parts.query}"
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return os.path.join(_safe_name(host), *dirs, digest, name)


def _resolve_dot_segments(segments: Iterator[str]) -> list[str]:
    # After unquoting, so that %2e%2e is resolved too rather than reaching the disk.
    resolved: list[str] = []
    for segment in segments:
        if segment == "..":
            if resolved:
                resolved.pop()
        elif segment not in ("", "."):
            resolved.append(segment)
    return resolved


def _safe_name(text: str) -> str:
    name = _UNSAFE_CHARS.sub("_", text)
    if not name.strip("."):  # "", "." and ".." mean "here" and "up"
        name = "_" * max(1, len(name))
    if name.split(".")[0].upper() in _WINDOWS_DEVICES:
        name = f"_{name}"
    if len(name) > _MAX_NAME:
        stem, ext = os.path.splitext(name)
        ext = ext[:16]
        name = stem[: _MAX_NAME - len(ext)] + ext
    return name


def _url_basename(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def _checked_filename(name: str, url: str) -> str:
    separators = {"/", "\\", "\0", os.sep, os.altsep or "/"}
    if name in ("", ".", "..") or any(sep in name for sep in separators):
        raise ValueError(
            f"cannot save {url!r} as {name!r}: a file name must not be empty, '.', '..' or "
            f"hold a path separator. Pass filename='model.pth' (a bare name)."
        )
    return name


def _checked_checksum(sha256: str | None, checksum: str | None) -> tuple[str, str] | None:
    """Return ``(algorithm, lower-case hex)`` from ``sha256=`` or ``checksum=``, or None."""
    if sha256 is not None and checksum is not None:
        raise ValueError(
            f"sha256={sha256!r} and checksum={checksum!r} were both given; pass only "
            f"checksum='sha256:...'."
        )
    if sha256 is not None:
        algorithm, colon, digest = "sha256", ":", sha256
        argument = f"sha256={sha256!r}"
    elif checksum is not None:
        algorithm, colon, digest = checksum.partition(":")
        algorithm, argument = algorithm.lower(), f"checksum={checksum!r}"
    else:
        return None
    if algorithm not in _CHECKSUM_ALGORITHMS or not colon:
        raise ValueError(
            f"{argument} is not '<algorithm>:<hex>' with one of "
            f"{', '.join(_CHECKSUM_ALGORITHMS)}, such as 'sha256:9f86d08...'."
        )
    length = hashlib.new(algorithm).digest_size * 2
    if not re.fullmatch(rf"[0-9a-fA-F]{{{length}}}", digest):
        raise ValueError(
            f"{argument} is not a {_CHECKSUM_ALGORITHMS[algorithm]} hex digest ({length} "
            f"hex digits)."
        )
    return algorithm, digest.lower()


def _checked_refresh(refresh: str) -> bool:
    if refresh not in ("never", "if-changed"):
        raise ValueError(f"refresh={refresh!r}: expected 'never' or 'if-changed'.")
    return refresh == "if-changed"


# -- Internals: atomic, locked creation ----------------------------------------

_WORK_DIR: Final = ".easycore-locks"  # hidden, beside a locked path: its lock, partial files


_thread_state: Final = threading.local()


def _locks_held_by_this_thread() -> set[str]:
    """Return the (real) lock file paths that ``file_lock`` holds for the calling thread."""
    # Keyed by pid: a child forked inside a lock block inherits this thread's state but
    # not the lock, so it must wait like anyone else.
    state: tuple[int, set[str]] | None = getattr(_thread_state, "held_locks", None)
    if state is None or state[0] != os.getpid():
        state = _thread_state.held_locks = (os.getpid(), set())
    return state[1]


def _work_stem(path: str) -> str:
    """Return where files about ``path`` live (lock, partial file), minus their suffix.

    A short readable part and a hash of the whole name: never a user's file name, and
    always short enough, whatever the length of ``path``'s own name.
    """
    head, tail = os.path.split(os.path.abspath(path))
    digest = hashlib.sha256(tail.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(head, _WORK_DIR, f"{_safe_name(tail)[:40]}-{digest}")


def _lock_file_for(path: str) -> str:
    return f"{_work_stem(path)}.lock"


# What flock answers where the file system keeps no locks: NFS without lockd (ENOLCK),
# some FUSE mounts (EOPNOTSUPP, and ENOTSUP where it differs). filelock falls back to a
# soft lock by itself on ENOSYS only.
_NO_FLOCK_ERRNOS: Final = frozenset(
    {errno.ENOLCK, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
)


def _acquired_lock(path: str, lock_file: str, timeout: float) -> filelock.BaseFileLock:
    """Return the lock on ``path`` in ``lock_file``, acquired; a soft lock where flock fails.

    Every process locking one folder sees the same file system, so all of them take the
    same kind of lock. The soft lock has its own file: the failed flock left ``lock_file``.
    """
    folder = os.path.dirname(lock_file)
    lock: filelock.BaseFileLock = filelock.FileLock(lock_file, timeout=timeout)
    try:
        os.makedirs(folder, exist_ok=True)
        try:
            lock.acquire()
        except OSError as err:  # filelock.Timeout too: it has no errno
            if err.errno not in _NO_FLOCK_ERRNOS:
                raise
            lock = filelock.SoftFileLock(f"{lock_file}.soft", timeout=timeout)
            lock.acquire()
    except filelock.Timeout as err:
        raise _lock_timeout(path, lock, timeout) from err
    except OSError as err:
        raise _unusable_lock_folder(path, folder, err) from err
    return lock


def _lock_timeout(path: str, lock: filelock.BaseFileLock, timeout: float) -> LockTimeoutError:
    if isinstance(lock, filelock.SoftFileLock):
        # Its holder's death is seen on its own host only (pid and start time).
        advice = (
            "It is a soft lock (this file system refuses flock), taken over once its holder "
            "is dead; a holder on another host cannot be seen dead from here: if the process "
            "the file names there is gone, delete the file."
        )
    else:
        advice = (
            "Its holder releases it when it ends or dies, even if killed. The lock file "
            "stays; leave it in place."
        )
    return LockTimeoutError(
        f"could not lock {path!r} within {timeout:g} s: another thread or process holds "
        f"{lock.lock_file!r}. Wait for it, or pass a longer timeout=. {advice}",
        lock.lock_file,
        timeout,
    )


def _unusable_lock_folder(path: str, folder: str, err: OSError) -> OSError:
    """Return ``err`` again, as its own type, with a message naming the folder and the fix."""
    reason = err.strerror or str(err)
    return OSError(
        err.errno,
        f"cannot lock {path!r}: its lock folder {folder!r} cannot be created or written "
        f"({reason}). Make the folder next to it writable, or keep the file in a folder you "
        f"may write to (for PathManager's cache, set EASYCORE_CACHE to one)",
        folder,
    )


def _create_once(target: str, create: Callable[[str], None]) -> bool:
    """Make ``target`` with ``create(tmp_path)`` unless it exists; return whether we made it.

    ``create`` writes a temporary path next to ``target`` that is renamed into place
    only if ``create`` returns; callers racing for one target wait on its ``file_lock``.
    """
    if os.path.isfile(target):  # only complete files ever get this name: no lock needed
        return False
    if os.path.isdir(target):
        raise _is_a_directory(target, "a download cannot be saved under this name")
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with file_lock(target):
        if os.path.isfile(target):  # another caller made it while we waited
            return False
        tmp_path = _temp_path_for(target)
        try:
            create(tmp_path)
            os.replace(tmp_path, target)
        finally:
            _remove_quietly(tmp_path)
    return True


def _temp_path_for(target: str) -> str:
    # Same directory, so os.replace is an atomic rename; a unique name, so racing or
    # crashed writers never share one; short, so it fits wherever the target's name fits.
    return os.path.join(os.path.dirname(target), f".easycore-{uuid.uuid4().hex[:16]}.tmp")


def _hidden_temp_path_for(target: str) -> str:
    """Return a unique temporary path in the work folder beside ``target``."""
    return f"{_work_stem(target)}-{uuid.uuid4().hex[:16]}.tmp"


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _sync_directory(path: str) -> None:
    """Flush ``path``'s directory entries to disk, so a rename in it survives a power loss."""
    if not _CAN_SYNC_DIRECTORIES:
        return
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Windows cannot open a directory to fsync it (NTFS journals the rename itself).
_CAN_SYNC_DIRECTORIES: Final = os.name == "posix"
# Starting writeback early needs posix_fadvise (Linux, BSD; not macOS or Windows).
_CAN_START_WRITEBACK: Final = hasattr(os, "posix_fadvise")
_WRITEBACK_WINDOW: Final = 32 << 20  # 32 MiB: large writes for the disk, a short final fsync


# -- Internals: downloading ----------------------------------------------------

# The hashes checksum= takes, with the names messages give them.
_CHECKSUM_ALGORITHMS: Final = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha512": "SHA-512",
}


@dataclasses.dataclass(frozen=True)
class _Job:
    """What one ``download_file`` call (or cache fill) asks for."""

    urls: tuple[str, ...]  # the URL, then its mirrors
    target: str
    progress: bool
    checksum: tuple[str, str] | None = None  # (algorithm, hex)
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    refresh: bool = False
    allow_insecure_redirects: bool = False
    attempt_timeout: float = _ATTEMPT_TIMEOUT


def _download(job: _Job) -> str:
    """Return ``job.target``, downloading it first unless it exists (or refreshing it)."""
    target = job.target
    if os.path.isdir(target):
        raise _is_a_directory(target, "a download cannot be saved under this name")
    try:
        if _is_offline():
            _check_cached_for_offline(job)
        elif not os.path.isfile(target) or job.refresh:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            with file_lock(target):
                # Another caller may have made it while we waited.
                must_fetch = job.refresh or not os.path.isfile(target)
                if must_fetch and _fetch_from_any(job):
                    return target  # checked as it arrived
        if job.checksum is not None:  # a file we did not check ourselves
            _check_existing_checksum(job.urls[0], target, job.checksum)
    except PathError:
        raise
    except OSError as err:  # our own folder: unwritable, full, gone
        raise _local_failure(job.urls[0], target, err) from err
    return target


def _is_offline() -> bool:
    return os.environ.get("EASYCORE_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _check_cached_for_offline(job: _Job) -> None:
    if not os.path.isfile(job.target):
        raise DownloadError(
            f"{job.urls[0]} is not cached at {job.target} and EASYCORE_OFFLINE is set, so "
            f"it was not downloaded. Unset EASYCORE_OFFLINE, or copy the file there.",
            job.urls[0],
        )


def _fetch_from_any(job: _Job) -> bool:
    """Download ``job.target`` from its URL or, when that fails, from each mirror in turn.

    Returns False when a refresh found the file current (nothing was downloaded).
    """
    failures: list[DownloadError] = []
    for url in job.urls:
        partial = _PartialFile(job.target, url)
        try:
            return _fetch_with_retries(url, job, partial)
        except OSError as err:
            partial.discard()
            if not isinstance(err, DownloadError):  # our disk, not the server: stop here
                raise _local_failure(url, job.target, err) from err
            failures.append(err)
            if url != job.urls[-1]:
                _logger.warning(f"{err} Trying the next mirror.")
    last = failures[-1]
    if len(failures) > 1:
        reasons = "; ".join(str(failure) for failure in failures[:-1])
        last.args = (f"{last.args[0]} The URLs tried before failed too: {reasons}",)
    raise last


def _fetch_with_retries(url: str, job: _Job, partial: _PartialFile) -> bool:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _fetch(url, job, partial)
        except DownloadError as err:
            if not _is_retryable(err) or attempt == _ATTEMPTS:
                if attempt > 1:  # say so, instead of hiding the retries in the log
                    err.args = (f"{err.args[0]} (gave up after {attempt} attempts)",)
                raise
            delay = _retry_delay(err, attempt)
            _logger.warning(f"{err} Retrying in {delay:g} s (attempt {attempt + 1}).")
            time.sleep(delay)
    raise AssertionError("the last attempt returns or raises")


def _is_retryable(error: DownloadError) -> bool:
    """Return whether another attempt at the same URL may succeed: the retry policy."""
    if isinstance(error, TruncatedDownloadError):  # cut, stalled, or past its deadline
        return True
    if isinstance(error, ChecksumMismatchError):  # the server will send the same bytes
        return False
    if error.status is not None:
        if error.url[:6].lower() == "ftp://":
            return 400 <= error.status < 500  # FTP 4yz replies are the transient ones
        return error.status >= 500 or error.status in (408, 429)
    cause = error.__cause__
    if isinstance(cause, requests.exceptions.SSLError):  # a bad certificate stays bad
        return False
    return isinstance(cause, _TRANSIENT_ERRORS)


# Failures of the network, not of the request: a new connection may well succeed.
# (A disk full, a bad port or a refused redirect are not among them.)
_TRANSIENT_ERRORS: Final = (
    requests.ConnectionError,
    requests.Timeout,
    urllib3.exceptions.HTTPError,
    ftplib.error_temp,
    ftplib.error_reply,
    EOFError,
    ConnectionError,
    TimeoutError,
)


def _retry_delay(error: DownloadError, attempt: int) -> float:
    """Return seconds to wait before attempt ``attempt + 1``: Retry-After, else backoff."""
    if error._retry_after is not None:
        return min(error._retry_after, _RETRY_AFTER_CAP)
    return float(_BACKOFF * 2 ** (attempt - 1))


def _fetch(url: str, job: _Job, partial: _PartialFile) -> bool:
    """Make one attempt to download ``url`` into ``partial``; on success, rename it into place.

    Returns False when a refresh found the file current (nothing was downloaded).
    """
    label = os.path.basename(job.target)
    deadline = time.monotonic() + job.attempt_timeout
    with _Sink(url, partial.path, label, job.progress, job.checksum, deadline=deadline) as sink:
        fetch = _fetch_ftp if url[:6].lower() == "ftp://" else _fetch_http
        if not fetch(url, job, partial, sink):
            return False
        _check_size(url, sink)
        sink.finish()
    if job.checksum is not None and sink.hexdigest() != job.checksum[1]:
        algorithm, expected = job.checksum
        raise ChecksumMismatchError(
            f"{url} has {algorithm} {sink.hexdigest()}, expected {expected} ({sink.received} "
            f"bytes arrived). Nothing was saved: check the expected hash and the URL.",
            url,
            job.target,
            expected,
            sink.hexdigest(),
        )
    partial.commit(job.target)
    return True


class _Sink:
    """Where a fetcher writes a body: the partial file, a byte count, a hash, a progress bar.

    It also keeps the attempt's deadline (``time.monotonic()``), checked as bytes come in,
    so a server that drips never holds the download: the read timeouts cannot see that.
    """

    def __init__(
        self,
        url: str,
        path: str,
        label: str,
        progress: bool,
        checksum: tuple[str, str] | None,
        *,
        deadline: float,
    ) -> None:
        self.received = 0
        self.expected: int | None = None
        self._url = url
        self._path = path
        self._label = label
        self._progress = progress
        self._digest = None if checksum is None else hashlib.new(checksum[0])
        self._file: IO[bytes] | None = None
        self._bar: tqdm[Any] | None = None
        self._written_back = 0  # bytes already handed to the disk
        self.deadline = deadline

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._file is not None:
            self._file.close()

    def begin(self, expected: int | None, offset: int = 0) -> None:
        """Open the partial file at ``offset`` (0: from scratch), note the total size."""
        self.expected = expected
        try:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            # Open across calls (begin, write, finish); __exit__ closes it.
            file = self._file = open(self._path, "r+b" if offset else "wb")  # noqa: SIM115
            file.truncate(offset)
            if offset and self._digest is not None:  # the bytes kept count towards the hash
                for chunk in iter(lambda: file.read(_CHUNK_SIZE), b""):
                    self._digest.update(chunk)
            file.seek(offset)
        except OSError as err:
            raise _local_failure(self._url, self._path, err) from err
        self.received = self._written_back = offset
        self._bar = tqdm(
            total=expected,
            initial=offset,
            desc=self._label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not self._progress,
        )

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the file and account for it."""
        assert self._file is not None, "begin() opens the file"
        try:
            self._file.write(chunk)
        except OSError as err:  # disk full, file size limit, quota
            raise _local_failure(self._url, self._path, err) from err
        self.received += len(chunk)
        if self._digest is not None:
            self._digest.update(chunk)
        if self._bar is not None:
            self._bar.update(len(chunk))
        if _CAN_START_WRITEBACK and self.received - self._written_back >= _WRITEBACK_WINDOW:
            self._start_writeback()
        if time.monotonic() > self.deadline:
            raise _truncated(self._url, self, _PAST_DEADLINE)

    def _start_writeback(self) -> None:
        # Hand the bytes written so far to the disk now, while the network keeps going,
        # so that the fsync at the end waits for one window rather than the whole file.
        # On Linux, DONTNEED starts writeback of dirty pages and keeps them cached.
        assert self._file is not None
        self._file.flush()
        start, length = self._written_back, self.received - self._written_back
        os.posix_fadvise(self._file.fileno(), start, length, os.POSIX_FADV_DONTNEED)
        self._written_back = self.received

    def finish(self) -> None:
        """Flush the file to disk: only then may it take the final name."""
        assert self._file is not None, "begin() opens the file"
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as err:
            raise _local_failure(self._url, self._path, err) from err

    def hexdigest(self) -> str:
        """Return the hash of all the bytes written (hashing must have been asked for)."""
        return self._digest.hexdigest() if self._digest is not None else ""


class _PartialFile:
    """The hidden partial file of a download, and what lets a later attempt resume it.

    It sits in the target's work folder with a JSON note of the URL and the validators of
    the version it holds (HTTP: ETag, Last-Modified; FTP: SIZE, MDTM). Only the holder of
    the target's lock touches it, so one found there was left by a holder that is gone:
    it may be resumed (HTTP Range with If-Range, FTP REST) when the server still has the
    same version.
    """

    def __init__(self, target: str, url: str) -> None:
        stem = _work_stem(target)
        self.path = f"{stem}.part"
        self._note = f"{stem}.part.json"
        self._final_note = f"{stem}.json"  # the validators of the file under the final name
        self._url = url
        self._validators: dict[str, str] = {}  # of the bytes a resume continues
        self.offset = 0

    def request_headers(self, refresh_of: str | None) -> dict[str, str]:
        """Return the headers that resume the partial file, or revalidate ``refresh_of``."""
        self.offset = 0
        validators = _read_note(self._note, self._url)
        if validators and os.path.isfile(self.path):
            etag = validators.get("etag", "")
            # If-Range takes a strong ETag only (RFC 9110 13.1.5); else the date.
            strong = etag and not etag.startswith("W/")
            if_range = etag if strong else validators.get("last_modified", "")
            size = os.path.getsize(self.path)
            if if_range and size:
                self.offset, self._validators = size, validators
                return {"Range": f"bytes={size}-", "If-Range": if_range}
        if refresh_of is not None and os.path.isfile(refresh_of):
            cached = _read_note(self._final_note, self._url) or {}
            conditions = {"If-None-Match": cached.get("etag", "")}
            conditions["If-Modified-Since"] = cached.get("last_modified", "")
            return {name: value for name, value in conditions.items() if value}
        return {}

    def is_same_version(self, response: requests.Response) -> bool:
        """Return whether ``response`` is of the version the partial file holds.

        A server that ignores If-Range answers 206 even for a changed file; its ETag or
        Last-Modified then tells.
        """
        for header, key in (("ETag", "etag"), ("Last-Modified", "last_modified")):
            seen, noted = response.headers.get(header, ""), self._validators.get(key, "")
            if seen and noted:
                return seen == noted
        return True

    def start(self, response: requests.Response) -> int:
        """Return the offset the body of ``response`` starts at, and note its validators.

        A 206 continues the partial file (``_resumes_at`` checked its range); any other
        answer is the whole file.
        """
        if response.status_code == 206 and self.offset:
            return self.offset
        self.offset = 0
        self.note_version(
            {
                "etag": response.headers.get("ETag", ""),
                "last_modified": response.headers.get("Last-Modified", ""),
            }
        )
        return 0

    def ftp_offset(self, version: Mapping[str, str]) -> int:
        """Return where an FTP transfer of ``version`` may resume the partial file (0: not).

        ``version`` holds the file's SIZE and MDTM. Only when both are known and equal to
        what was noted when the partial file began are its bytes of the same version:
        otherwise the transfer starts again, so no file mixes two versions.
        """
        if not _is_known_version(_read_note(self._note, self._url), version):
            return 0
        size = os.path.getsize(self.path) if os.path.isfile(self.path) else 0
        return size if size < int(version["size"]) else 0

    def has_current(self, target: str, version: Mapping[str, str]) -> bool:
        """Return whether ``target`` is there and holds ``version`` of an FTP file."""
        noted = _read_note(self._final_note, self._url)
        return os.path.isfile(target) and _is_known_version(noted, version)

    def note_version(self, version: Mapping[str, str]) -> None:
        """Note the validators of the version the partial file is about to hold."""
        _write_json(self._note, {"url": self._url, **version})

    def commit(self, target: str) -> None:
        """Rename the (fsynced) partial file to ``target`` and make the rename durable."""
        os.replace(self.path, target)
        os.replace(self._note, self._final_note)
        _sync_directory(os.path.dirname(target))

    def discard(self) -> None:
        """Remove the partial file and its note."""
        self.offset, self._validators = 0, {}
        _remove_quietly(self.path)
        _remove_quietly(self._note)


def _read_note(path: str, url: str) -> dict[str, str] | None:
    """Return the validators noted at ``path`` if they are about ``url``, else None."""
    try:
        with open(path, encoding="utf-8") as file:
            note = json.load(file)
    except (OSError, ValueError):  # missing, or cut by a crash: as good as missing
        return None
    return note if isinstance(note, dict) and note.get("url") == url else None


def _is_known_version(noted: Mapping[str, str] | None, version: Mapping[str, str]) -> bool:
    """Return whether ``version`` (all of its validators known) is the one ``noted``."""
    if noted is None or not all(version.values()):
        return False
    return all(noted.get(key) == value for key, value in version.items())


def _write_json(path: str, note: dict[str, str]) -> None:
    tmp_path = _temp_path_for(path)
    with open(tmp_path, "w", encoding="utf-8") as file:
        json.dump(note, file)
    os.replace(tmp_path, path)


def _check_size(url: str, sink: _Sink) -> None:
    if sink.expected is None or sink.received == sink.expected:
        return
    if sink.received < sink.expected:
        raise _truncated(url, sink, "the transfer ended early")
    raise DownloadError(
        f"{url} sent {sink.received} bytes but announced {sink.expected}. Nothing was "
        f"saved; check the URL, or ask the server's owner to fix its size.",
        url,
    )


def _truncated(url: str, sink: _Sink, reason: str) -> TruncatedDownloadError:
    expected = "an unknown number of" if sink.expected is None else f"{sink.expected}"
    return TruncatedDownloadError(
        f"{url} stopped at {sink.received} of {expected} bytes ({reason}). Nothing was "
        f"saved; call again to retry.",
        url,
        sink.received,
        sink.expected,
    )


def _local_failure(url: str, path: str, err: OSError) -> DownloadError:
    cause = err.__cause__
    if isinstance(cause, OSError) and cause.errno == err.errno and err.filename:
        # file_lock's advice around the system's error: name the folder, advise once
        path, err = err.filename, cause
    reason = err.strerror or str(err)
    unwritable = " Pick a folder you may write to (for PathManager's cache, set EASYCORE_CACHE)"
    hint = {
        errno.ENOSPC: " Free some disk space",
        errno.EFBIG: " The file is over the size limit of this process or file system",
        errno.EDQUOT: " The disk quota is used up",
        errno.EACCES: unwritable,
        errno.EPERM: unwritable,
        errno.EROFS: unwritable,
        errno.ENOTDIR: unwritable,
    }.get(err.errno or 0, " Check the folder")
    return DownloadError(
        f"{url} could not be saved at {path}: {reason} (errno {err.errno}). Nothing was "
        f"saved.{hint}, then call again.",
        url,
    )


def _check_existing_checksum(url: str, path: str, checksum: tuple[str, str]) -> None:
    algorithm, expected = checksum
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise ChecksumMismatchError(
            f"{path} exists with {algorithm} {digest.hexdigest()}, expected {expected} for "
            f"{url}. It was left alone: delete it to download {url} again.",
            url,
            path,
            expected,
            digest.hexdigest(),
        )


def _remote_exists(url: str, headers: Mapping[str, str], allow_insecure_redirects: bool) -> bool:
    if _is_offline():
        raise DownloadError(
            f"cannot ask whether {url} exists: EASYCORE_OFFLINE is set and it is not "
            f"cached. Unset EASYCORE_OFFLINE to ask the server.",
            url,
        )
    if url[:6].lower() == "ftp://":
        return _ftp_exists(url)
    return _http_exists(url, headers, allow_insecure_redirects)


def _unanswered(url: str) -> DownloadError:
    return DownloadError(
        f"{url} did not say whether it exists within {_ATTEMPT_TIMEOUT:g} s: the server "
        f"stalls or drips its answer, so the connection was shut. Call again later.",
        url,
    )


# -- Internals: HTTP -----------------------------------------------------------

# identity: ask for the bytes as published. We read the raw stream anyway, so a server
# that compresses regardless (Content-Encoding: gzip on a .tar.gz) is saved as sent.
_HEADERS: Final = {"Accept-Encoding": "identity", "User-Agent": f"easycore-path/{__version__}"}


def _fetch_http(url: str, job: _Job, partial: _PartialFile, sink: _Sink) -> bool:
    """Download ``url`` into ``sink``; return False when a refresh finds the file current."""
    headers = partial.request_headers(job.target if job.refresh else None)
    with _HTTPSession(job.allow_insecure_redirects, list(job.headers)) as session:
        with session.cut_at(sink.deadline):
            try:
                response = _get(session, url, {**job.headers, **headers})
            except DownloadError as err:
                if session.was_cut:  # the watchdog's cut, not the server's
                    raise _truncated(url, sink, _PAST_DEADLINE) from err
                raise
        if session.was_cut:
            response.close()
            raise _truncated(url, sink, _PAST_DEADLINE)
        with response, session.cut_at(sink.deadline):
            if response.status_code == 304:
                return False
            if partial.offset and not _resumes_at(response, partial):
                # 416, another range than asked, or another version: ask for all of it
                partial.discard()
                return _fetch_http(url, job, partial, sink)
            _check_status(url, response)
            if response.status_code == 206 and not partial.offset:
                raise DownloadError(
                    f"{url} answered 206 (a part of the file) to a request for all of it. "
                    f"Nothing was saved: the server is misconfigured.",
                    url,
                    206,
                )
            offset = partial.start(response)
            sink.begin(_announced_size(response, offset), offset)
            try:
                _copy_body(url, response, sink)
            except TruncatedDownloadError as err:
                if session.was_cut:  # the watchdog's cut, not the server's
                    raise _truncated(url, sink, _PAST_DEADLINE) from err
                raise
    return True


class _HTTPSession(requests.Session):
    """A requests session that refuses redirects from https to http unless allowed.

    The caller's own headers (``private_headers``) are dropped when a redirect leads to
    another host, as requests does for Authorization only: a token sent as
    ``PRIVATE-TOKEN`` or ``X-Api-Key`` is as secret.

    Its sockets, direct or through a proxy (HTTP_PROXY, HTTPS_PROXY), are watched:
    ``cut_at(deadline)`` shuts them down at the deadline, so a server that drips its
    headers a byte at a time (each within the read timeout) cannot hold a request forever.
    """

    def __init__(self, allow_insecure_redirects: bool, private_headers: Sequence[str] = ()) -> None:
        super().__init__()
        self.headers.update(_HEADERS)
        self._allow_insecure_redirects = allow_insecure_redirects
        self._private_headers = tuple(private_headers)
        self._sockets: list[socket.socket] = []
        self.was_cut = False
        for prefix in ("http://", "https://"):
            self.mount(prefix, _WatchedAdapter(self._sockets))

    def cut_at(self, deadline: float) -> contextlib.AbstractContextManager[None]:
        """Shut this session's sockets down if the block is still running at ``deadline``."""
        return _cut_at(deadline, self._cut)

    def _cut(self) -> None:
        self.was_cut = True
        for sock in list(self._sockets):
            _shut_down(sock)

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """Drop the caller's headers on a redirect to another host, then let requests go on."""
        old_url, new_url = response.request.url or "", prepared_request.url or ""
        if self.should_strip_auth(old_url, new_url):  # type: ignore[no-untyped-call]
            for name in self._private_headers:
                prepared_request.headers.pop(name, None)
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """Return where ``resp`` redirects to, refusing a step down from https to http."""
        location = super().get_redirect_target(resp)
        if location is None or self._allow_insecure_redirects:
            return location
        source = resp.url
        target = urllib.parse.urljoin(source, location)
        if source[:8].lower() == "https://" and target[:7].lower() == "http://":
            raise DownloadError(
                f"{source} redirects to {target}, which is plain http: the file could be "
                f"read or changed on the way, so it was not downloaded. Use an https URL, "
                f"or pass allow_insecure_redirects=True if you trust the network.",
                source,
                resp.status_code,
            )
        return location


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections list their socket in ``sockets``, proxied ones too.

    requests makes one urllib3 manager for direct connections and one per proxy; each
    gets the watched pool classes, so a proxy cannot hide a dripping server's socket.
    """

    def __init__(self, sockets: list[socket.socket]) -> None:
        self._sockets = sockets  # before super().__init__(): it calls init_poolmanager
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager, self._sockets)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        is_new = proxy not in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if is_new:
            _watch_pools(manager, self._sockets)
        return manager


def _watch_pools(manager: urllib3.PoolManager, sockets: list[socket.socket]) -> None:
    """Make ``manager``'s pools (direct, proxy or SOCKS ones) list their sockets."""
    manager.pool_classes_by_scheme = {
        scheme: _watched_pool(pool, sockets)
        for scheme, pool in manager.pool_classes_by_scheme.items()
    }


def _watched_pool(pool: type[Any], sockets: list[socket.socket]) -> type[Any]:
    """Return a subclass of the urllib3 ``pool`` whose connections list their socket."""

    class WatchedConnection(pool.ConnectionCls):  # type: ignore[misc,name-defined]
        def connect(self) -> None:
            super().connect()
            sockets.append(self.sock)

    class WatchedPool(pool):  # type: ignore[misc]
        ConnectionCls = WatchedConnection

    return WatchedPool


@contextlib.contextmanager
def _cut_at(deadline: float | None, cut: Callable[[], None]) -> Iterator[None]:
    """Call ``cut`` (from a watchdog thread) if the block still runs at ``deadline``.

    ``deadline`` is a ``time.monotonic()`` time; None: no deadline.
    """
    if deadline is None:
        yield
        return
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


def _shut_down(sock: socket.socket | None) -> None:
    """Shut ``sock`` down, so that a read blocked on it returns at once."""
    if sock is not None:
        with contextlib.suppress(OSError):  # closed already
            sock.shutdown(socket.SHUT_RDWR)


def _get(session: requests.Session, url: str, headers: dict[str, str]) -> requests.Response:
    try:
        return session.get(
            url,
            stream=True,
            timeout=(_CONNECT_TIMEOUT, _READ_TIMEOUT),
            headers=headers,
            auth=_auth_for(headers),
        )
    except requests.RequestException as err:
        raise _request_error(url, err) from err


def _auth_for(headers: Mapping[str, str]) -> Callable[..., Any] | None:
    """Return the ``auth=`` for requests: an explicit Authorization wins over ~/.netrc."""
    has_authorization = any(name.lower() == "authorization" for name in headers)
    return _keep_request_as_is if has_authorization else None  # requests would replace it


def _keep_request_as_is(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def _copy_body(url: str, response: requests.Response, sink: _Sink) -> None:
    # Raw bytes, never decoded; read1 returns what has arrived, so no byte that arrived
    # before a failure is lost and the sink checks the deadline while a server drips.
    raw = response.raw
    try:
        while True:
            chunk = raw.read1(_CHUNK_SIZE, decode_content=False)
            if not chunk:
                return
            sink.write(chunk)
    except (urllib3.exceptions.HTTPError, requests.RequestException) as err:
        timed_out = isinstance(err, (urllib3.exceptions.TimeoutError, requests.Timeout))
        reason = "the server went silent: read timed out" if timed_out else "connection broke"
        raise _truncated(url, sink, reason) from err


_PAST_DEADLINE: Final = (
    "the attempt ran past attempt_timeout; give a server this slow more time with "
    "download_file(..., attempt_timeout=seconds)"
)


def _announced_size(response: requests.Response, offset: int) -> int | None:
    """Return the size of the whole file as the response announces it, None if unknown."""
    if offset:
        return _content_range(response)[2]
    try:
        length = int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None
    return length if length >= 0 else None


def _content_range(response: requests.Response) -> tuple[int, int, int | None]:
    """Return (first byte, last byte, total or None) of a 206 answer's Content-Range."""
    found = re.fullmatch(
        r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", response.headers.get("Content-Range", "")
    )
    if found is None:
        return (-1, -1, None)
    first, last, total = found.groups()
    return int(first), int(last), None if total == "*" else int(total)


def _resumes_at(response: requests.Response, partial: _PartialFile) -> bool:
    """Return whether ``response`` is usable for a request of bytes ``partial.offset``-."""
    if response.status_code == 206:
        starts_at_offset = _content_range(response)[0] == partial.offset
        return starts_at_offset and partial.is_same_version(response)
    return response.status_code != 416  # a 200 is the whole file: fine too


def _check_status(url: str, response: requests.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    answer = f"the server answered {status} {response.reason or ''}".rstrip()
    if status in (404, 410):
        raise RemoteFileNotFoundError(f"{url} does not exist: {answer}.", url, status)
    hint = {
        401: " The file needs credentials: pass headers= or add the host to ~/.netrc.",
        403: " The server refuses access: is the file private?",
        429: " The server asks to slow down.",
    }.get(status, "")
    error = DownloadError(
        f"{url} could not be downloaded: {answer}.{hint} Nothing was saved.", url, status
    )
    if status in (429, 503):
        error._retry_after = _retry_after_seconds(response.headers.get("Retry-After", ""))
    raise error


def _retry_after_seconds(value: str) -> float | None:
    """Return the wait a Retry-After header asks for (seconds or an HTTP date), or None."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _request_error(url: str, err: requests.RequestException) -> DownloadError:
    if isinstance(err, requests.exceptions.SSLError):
        return DownloadError(
            f"{url}: the TLS connection failed ({err}). If the server's certificate comes "
            f"from a private CA, point REQUESTS_CA_BUNDLE at that CA's certificate.",
            url,
        )
    if isinstance(err, (requests.ConnectionError, requests.Timeout)):
        return DownloadError(
            f"could not reach {url}: {err}. Nothing was saved; call again to retry.", url
        )
    return DownloadError(f"cannot download {url}: {err}.", url)


def _http_exists(url: str, headers: Mapping[str, str], allow_insecure_redirects: bool) -> bool:
    timeout = (_CONNECT_TIMEOUT, _READ_TIMEOUT)
    # The download's session and headers: the same credentials, the same redirect rules.
    asked = dict(headers)
    auth = _auth_for(asked)
    deadline = time.monotonic() + _ATTEMPT_TIMEOUT
    session = _HTTPSession(allow_insecure_redirects, list(asked))
    try:
        with session, session.cut_at(deadline):
            response = session.head(
                url, allow_redirects=True, timeout=timeout, headers=asked, auth=auth
            )
            if response.status_code in (405, 501):  # HEAD refused: ask with a GET, no body
                response = session.get(url, stream=True, timeout=timeout, headers=asked, auth=auth)
                response.close()
    except requests.RequestException as err:
        if session.was_cut:
            raise _unanswered(url) from err
        raise _request_error(url, err) from err
    if response.status_code in (404, 410):
        return False
    _check_status(url, response)
    return True


# -- Internals: FTP ------------------------------------------------------------


@contextlib.contextmanager
def _ftp_session(url: str, deadline: float | None = None) -> Iterator[tuple[ftplib.FTP, str]]:
    """Yield a logged-in binary-mode FTP connection and the file's path on the server.

    At ``deadline`` (``time.monotonic()``; None: never) the control connection is shut,
    so a server that drips its replies (an endless multi-line banner, say) within the
    read timeout cannot hold the session, its QUIT included.
    """
    parts = urllib.parse.urlsplit(url)
    # RFC 1738: the URL path is relative to the login directory.
    remote_path = urllib.parse.unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    user = urllib.parse.unquote(parts.username or "anonymous")
    password = urllib.parse.unquote(parts.password or "anonymous@")
    ftp = ftplib.FTP(timeout=_READ_TIMEOUT)
    with _cut_at(deadline, lambda: _shut_down(ftp.sock)), ftp:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(user, password)
        ftp.voidcmd("TYPE I")
        yield ftp, remote_path


def _fetch_ftp(url: str, job: _Job, partial: _PartialFile, sink: _Sink) -> bool:
    """Download ``url`` into ``sink``, resuming ``partial`` with REST where that is safe.

    Returns False when a refresh finds the file current (nothing was downloaded).
    """
    try:
        with _ftp_session(url, sink.deadline) as (ftp, remote_path):
            size = _ftp_size(ftp, remote_path)
            version = {"size": "" if size is None else str(size)}
            version["modified"] = _ftp_modified(ftp, remote_path)
            if job.refresh and partial.has_current(job.target, version):
                return False
            offset = partial.ftp_offset(version)
            if offset and not _ftp_restarts_at(ftp, offset):
                offset = 0
            if not offset:
                partial.note_version(version)
            sink.begin(size, offset)
            ftp.retrbinary(
                f"RETR {remote_path}", sink.write, blocksize=_CHUNK_SIZE, rest=offset or None
            )
    except ftplib.error_perm as err:
        raise _ftp_refusal(url, err) from err
    except (ftplib.Error, OSError, EOFError, ValueError) as err:
        if isinstance(err, DownloadError):  # the sink's: the local disk failed, or too late
            raise
        if time.monotonic() >= sink.deadline:  # the watchdog shut the connection
            raise _truncated(url, sink, _PAST_DEADLINE) from err
        if sink.received:
            raise _truncated(url, sink, f"connection broke: {err}") from err
        raise DownloadError(f"could not fetch {url}: {err!r}. Nothing was saved.", url) from err
    return True


def _ftp_size(ftp: ftplib.FTP, remote_path: str) -> int | None:
    try:
        size = ftp.size(remote_path)
    except ftplib.error_perm as err:
        if _ftp_code(err) == 550:
            raise  # no such file: the caller reports it
        return None  # SIZE not supported: the transfer goes unchecked
    return size


def _ftp_modified(ftp: ftplib.FTP, remote_path: str) -> str:
    """Return the file's modification time (MDTM), or "" when the server does not say."""
    try:
        reply = ftp.sendcmd(f"MDTM {remote_path}")
    except ftplib.error_perm:  # MDTM not supported: no resume, the transfer starts over
        return ""
    return reply[4:].strip() if reply[:3] == "213" else ""


def _ftp_restarts_at(ftp: ftplib.FTP, offset: int) -> bool:
    """Return whether the server takes ``REST offset`` (RETR then sends it again)."""
    try:
        ftp.sendcmd(f"REST {offset}")
    except ftplib.error_perm:  # 502: REST not implemented
        return False
    return True


def _ftp_exists(url: str) -> bool:
    deadline = time.monotonic() + _ATTEMPT_TIMEOUT
    try:
        with _ftp_session(url, deadline) as (ftp, remote_path):
            ftp.size(remote_path)
    except ftplib.error_perm as err:
        if _ftp_code(err) == 550:
            return False
        raise _ftp_refusal(url, err) from err
    except (ftplib.Error, OSError, EOFError, ValueError) as err:
        if time.monotonic() >= deadline:  # the watchdog shut the connection
            raise _unanswered(url) from err
        raise DownloadError(f"could not ask {url} whether it exists: {err!r}.", url) from err
    return True


def _ftp_refusal(url: str, err: ftplib.error_perm) -> DownloadError:
    code = _ftp_code(err)
    if code == 550:
        return RemoteFileNotFoundError(
            f"{url} does not exist: the server answered {err}.", url, code
        )
    return DownloadError(f"{url} could not be downloaded: the server answered {err}.", url, code)


def _ftp_code(err: ftplib.Error) -> int | None:
    text = str(err)
    return int(text[:3]) if text[:3].isdigit() else None


# -- Internals: unpacking ------------------------------------------------------

_UNPACKED_SUFFIX: Final = ".unpacked"
_DECOMPRESSORS: Final[dict[str, Callable[[str], io.BufferedIOBase]]] = {
    ".gz": gzip.GzipFile,
    ".bz2": bz2.BZ2File,
    ".xz": lzma.LZMAFile,
}
# Python 3.12 (and the 3.8-3.11 security releases) check tar members themselves too;
# we check them first either way, so what is refused does not depend on the version.
_TAR_FILTER: Final[dict[str, Any]] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _unpacked(url: str, archive: str) -> str:
    """Extract ``archive`` (once per version of it, atomically, under its lock); return it.

    A note in the work folder records which version of the archive (size, mtime, inode)
    was extracted, so an archive that ``refresh="if-changed"`` replaced is extracted
    again rather than served stale.
    """
    try:
        kind = _archive_kind(archive)
    except _DAMAGED_ARCHIVE_ERRORS as err:  # looking inside may read a damaged stream
        raise _damaged_archive(url, archive, err) from err
    # A folder for an archive; a compressed file loses its suffix (data.csv.gz: data.csv).
    is_archive = kind in ("zip", "tar")
    destination = f"{archive}{_UNPACKED_SUFFIX}" if is_archive else archive[: -len(kind)]
    note = f"{_work_stem(destination)}.unpacked.json"
    if _is_unpacked(archive, destination, note):
        return destination
    with file_lock(archive):
        if _is_unpacked(archive, destination, note):  # done by another caller meanwhile
            return destination
        # In the work folder (same file system, so the rename is atomic): even a killed
        # extraction leaves nothing among your files.
        tmp_path = _hidden_temp_path_for(destination)
        try:
            if kind == "zip":
                _extract_zip(archive, tmp_path)
            elif kind == "tar":
                _extract_tar(archive, tmp_path)
            else:
                _decompress(archive, tmp_path, kind)
            _put_in_place(tmp_path, destination)
            _write_json(note, {"archive": _archive_version(archive)})
        except _DAMAGED_ARCHIVE_ERRORS as err:
            raise _damaged_archive(url, archive, err) from err
        except OSError as err:
            if isinstance(err, PathError):
                raise
            raise _local_failure(url, destination, err) from err
        finally:
            if os.path.isdir(tmp_path):
                shutil.rmtree(tmp_path)
            _remove_quietly(tmp_path)
    return destination


# What a damaged archive raises while it is read (a bad gzip stream is an OSError too).
_DAMAGED_ARCHIVE_ERRORS: Final = (
    zipfile.BadZipFile,
    tarfile.TarError,
    gzip.BadGzipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
)


def _damaged_archive(url: str, archive: str, err: Exception) -> DownloadError:
    return DownloadError(
        f"{url} was saved at {archive}, but it cannot be unpacked: {err}. The archive is "
        f"damaged or not what its name says; nothing was extracted. Delete it to download "
        f"it again.",
        url,
    )


def _archive_version(archive: str) -> str:
    info = os.stat(archive)
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"


def _is_unpacked(archive: str, destination: str, note: str) -> bool:
    """Return whether ``destination`` holds what this version of ``archive`` holds."""
    if not os.path.lexists(destination):
        return False
    try:
        with open(note, encoding="utf-8") as file:
            unpacked = json.load(file)["archive"]
    except FileNotFoundError:  # there before us (by hand, or an older version): kept
        return True
    except (OSError, ValueError, KeyError, TypeError):  # a note cut by a crash
        return False
    return bool(unpacked == _archive_version(archive))


def _put_in_place(tmp_path: str, destination: str) -> None:
    """Rename ``tmp_path`` to ``destination``; a folder there (an older unpack) is replaced."""
    if not os.path.isdir(destination) or os.path.islink(destination):
        os.replace(tmp_path, destination)
        return
    old = _hidden_temp_path_for(destination)
    os.replace(destination, old)
    try:
        os.replace(tmp_path, destination)
    except OSError:
        os.replace(old, destination)
        raise
    shutil.rmtree(old)


def _archive_kind(archive: str) -> str:
    """Return "zip", "tar", or the suffix of a single compressed file."""
    if zipfile.is_zipfile(archive):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    suffix = os.path.splitext(archive)[1].lower()
    if suffix in _DECOMPRESSORS and len(os.path.basename(archive)) > len(suffix):
        return suffix
    raise ValueError(
        f"cannot unpack {archive}: it is neither a zip nor a tar archive, nor a .gz, .bz2 "
        f"or .xz file. Call download_file without unpack=True."
    )


def _extract_zip(archive: str, folder: str) -> None:
    with zipfile.ZipFile(archive) as zip_file:
        members = zip_file.infolist()
        links: dict[str, str] = {}
        for member in members:
            _check_member_path(archive, member.filename, folder)
            if _is_zip_link(member):
                links[member.filename] = zip_file.read(member).decode("utf-8")
                _check_link(archive, member.filename, links[member.filename], folder)
        names = [(member.filename, member.filename) for member in members]
        _check_not_through_links(archive, names, links, whole=False)
        files = [(m.filename, m.filename) for m in members if not _is_zip_link(m)]
        _check_not_through_links(archive, files, links, whole=True)
        os.makedirs(folder)
        for member in members:
            path = os.path.join(folder, member.filename)
            if _is_zip_link(member):
                continue  # made last, so that nothing is written through a link
            if member.is_dir():
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with zip_file.open(member) as source, open(path, "wb") as file:
                    shutil.copyfileobj(source, file, _CHUNK_SIZE)
        for name, link_target in links.items():
            path = os.path.join(folder, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(link_target, path)
        _check_links_resolve_inside(archive, links, folder)


def _is_zip_link(member: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(member.external_attr >> 16)


def _extract_tar(archive: str, folder: str) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        links: dict[str, str] = {}
        for member in members:
            _check_member_path(archive, member.name, folder)
            if member.isdev() or member.isfifo():
                raise _unsafe_member(archive, member.name, "it is a device or a pipe")
            if member.issym():
                _check_link(archive, member.name, member.linkname, folder)
                links[member.name] = member.linkname
            elif member.islnk():  # a hard link names another member, from the root
                target = os.path.join(folder, member.linkname)
                if os.path.isabs(member.linkname) or not _is_inside(folder, target):
                    why = f"it is a hard link to {member.linkname!r}, out of the folder"
                    raise _unsafe_member(archive, member.name, why)
        names = [(member.name, member.name) for member in members]
        _check_not_through_links(archive, names, links, whole=False)
        files = [(member.name, member.name) for member in members if not member.issym()]
        files += [(member.name, member.linkname) for member in members if member.islnk()]
        _check_not_through_links(archive, files, links, whole=True)
        os.makedirs(folder)
        # Symbolic links last, so that nothing is written through one.
        ordered = sorted(members, key=lambda member: member.issym())
        tar.extractall(folder, members=ordered, **_TAR_FILTER)
        _check_links_resolve_inside(archive, links, folder)


def _decompress(archive: str, path: str, suffix: str) -> None:
    with _DECOMPRESSORS[suffix](archive) as source, open(path, "wb") as file:
        shutil.copyfileobj(source, file, _CHUNK_SIZE)
        file.flush()
        os.fsync(file.fileno())


def _check_member_path(archive: str, name: str, folder: str) -> None:
    if name.startswith(("/", "\\")) or os.path.isabs(name) or os.path.splitdrive(name)[0]:
        raise _unsafe_member(archive, name, "it is an absolute path")
    if not _is_inside(folder, os.path.join(folder, name)):
        raise _unsafe_member(archive, name, "it climbs out of the folder with '..'")


def _check_link(archive: str, name: str, link_target: str, folder: str) -> None:
    resolved = os.path.join(folder, os.path.dirname(name), link_target)
    if os.path.isabs(link_target) or not _is_inside(folder, resolved):
        raise _unsafe_member(archive, name, f"it is a link to {link_target!r}, out of the folder")


def _check_not_through_links(
    archive: str, paths: Sequence[tuple[str, str]], links: Mapping[str, str], *, whole: bool
) -> None:
    """Refuse each ``(entry, path)`` whose path goes through a link entry (or is one, if ``whole``).

    The link would take it wherever it points: ``a -> .`` then ``a/b -> ..`` passes each
    check on its own, yet ``a/b/x`` lands beside the folder.
    """
    link_names = {os.path.normpath(name) for name in links}
    for entry, path in paths:
        parts = path.replace("\\", "/").split("/")
        for depth in range(1, len(parts) + 1 if whole else len(parts)):
            prefix = "/".join(parts[:depth])
            if os.path.normpath(prefix) in link_names:
                raise _unsafe_member(archive, entry, f"it goes through the link entry {prefix!r}")


def _check_links_resolve_inside(archive: str, links: Mapping[str, str], folder: str) -> None:
    """Refuse links that, followed through the links made before them, end outside."""
    root = os.path.realpath(folder)
    for name, link_target in links.items():
        if not _is_inside(root, os.path.realpath(os.path.join(folder, name))):
            why = f"it is a link to {link_target!r}, which leads out through other links"
            raise _unsafe_member(archive, name, why)


def _is_inside(folder: str, path: str) -> bool:
    root, path = os.path.normpath(folder), os.path.normpath(path)
    return path == root or path.startswith(root + os.sep)


def _unsafe_member(archive: str, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"refusing to unpack {archive}: entry {member!r} would land outside the folder "
        f"it is unpacked into ({why}). Nothing was extracted; the archive was kept.",
        archive,
        member,
    )


# -- Default handlers ----------------------------------------------------------

PathManager.register(NativePathHandler())
PathManager.register(HTTPURLHandler())
