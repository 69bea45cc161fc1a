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

- atomic: bytes go to a unique temporary file next to the target, which is renamed
  into place only once its size matches Content-Length (and ``sha256`` when given);
  a cut or failed transfer leaves nothing under the target name;
- shared: threads and processes asking for the same URL wait on one ``file_lock``,
  and all but the first find the finished file;
- retried: connection errors, cut transfers and 5xx answers are retried with backoff;
  4xx answers fail at once, with the status in the message.

Environment variables:

- ``EASYCORE_CACHE``: the cache directory (default ``~/.easycore/cache``).
- ``REQUESTS_CA_BUNDLE``: read by requests; the CA bundle that https downloads trust.

The module is self-contained (it needs requests, tqdm and filelock; fsspec only for
``FsspecPathHandler``): copy this file into a project as ``easycore_path.py`` to vendor it.
"""

# SPDX-License-Identifier: MIT

from __future__ import annotations

import contextlib
import difflib
import errno
import ftplib
import hashlib
import importlib
import logging
import os
import re
import shutil
import threading
import time
import urllib.parse
import uuid
import warnings
from typing import IO, TYPE_CHECKING, Any, Callable, ClassVar, Final, Iterator, List

import filelock
import requests
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
    "UnsupportedOperationError",
    "download_file",
    "file_lock",
]

_logger = logging.getLogger(__name__)

_CHUNK_SIZE: Final = 1 << 20  # 1 MiB: large enough that Python overhead per chunk is noise
_CONNECT_TIMEOUT: Final = 10.0  # seconds to open a connection before it counts as failed
_READ_TIMEOUT: Final = 60.0  # seconds of silence from the server before a read fails
_ATTEMPTS: Final = 4  # tries per download; connection errors, cut transfers and 5xx retry
_BACKOFF: Final = 0.5  # seconds before the first retry, doubled before each next one
_LOCK_TIMEOUT: Final = 30 * 60.0  # seconds: the reference promises a 30 minute wait
_MAX_REDIRECTS: Final = 16  # RedirectPathHandler hops before we call it a loop


# -- Errors --------------------------------------------------------------------


class PathError(Exception):
    """Base class of the errors raised by ``easycore_path``."""


class UnknownProtocolError(PathError, ValueError):
    """No registered handler supports the ``protocol://`` of a path (also a ``ValueError``).

    Attributes:
        path: The path that was given.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.path))


class PrefixConflictError(PathError, ValueError):
    """Another handler is registered for the prefix (also a ``ValueError``).

    Attributes:
        prefix: The prefix that is taken (``""`` for the fallback of plain paths).
    """

    def __init__(self, message: str, prefix: str) -> None:
        super().__init__(message)
        self.prefix = prefix

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.prefix))


class RedirectLoopError(PathError, ValueError):
    """Redirects lead back to where they started (also a ``ValueError``).

    Attributes:
        path: The path whose redirects loop.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.path))


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

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.path, self.operation))


class DownloadError(PathError, OSError):
    """A download failed and nothing was saved under the target name (also an ``OSError``).

    Attributes:
        url: The URL that failed.
        status: The HTTP status or FTP reply code when the server answered, else ``None``.
    """

    # Set on instances worth another try (connection errors, cut transfers, 5xx); read by
    # the retry loop only, so it need not survive pickling.
    _retryable: bool = False

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.url, self.status))


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

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.url, self.received, self.expected))


class ChecksumMismatchError(DownloadError):
    """A file's sha256 is not the one asked for with ``sha256=``.

    Attributes:
        path: The file checked: the existing file, or the target of the download.
        expected: The sha256 asked for (lower-case hex).
        actual: The sha256 found.
    """

    def __init__(self, message: str, url: str, path: str, expected: str, actual: str) -> None:
        super().__init__(message, url)
        self.path = path
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.args[0], self.url, self.path, self.expected, self.actual)
        return (type(self), args)


class LockTimeoutError(PathError, TimeoutError):
    """A ``file_lock`` was not acquired in time (also a ``TimeoutError``).

    Attributes:
        lock_file: The lock file (the locked path plus ``".lock"``).
        timeout: Seconds waited.
    """

    def __init__(self, message: str, lock_file: str, timeout: float) -> None:
        super().__init__(message)
        self.lock_file = lock_file
        self.timeout = timeout

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.lock_file, self.timeout))


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
        path = os.fspath(path)
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
        src, dst = os.fspath(src_path), os.fspath(dst_path)
        src_handler = PathManager._handler_for(src)
        dst_handler = PathManager._handler_for(dst)
        # Checked before a possibly long download; copy_from_local checks again.
        if _ask(dst_handler.isdir, dst):
            raise _is_a_directory(dst, "copy to it; give the destination file's full path")
        if not overwrite and _ask(dst_handler.exists, dst):
            _warn_not_overwritten(dst)
            return False
        local_path = src_handler.get_local_path(src)
        # A custom handler written to the reference may return None: that is success too.
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
        dst = os.fspath(dst_path)
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
        path = os.fspath(path)
        return PathManager._handler_for(path).get_local_path(path)

    @staticmethod
    def exists(path: str | os.PathLike[str]) -> bool:
        """Return whether there is a resource at ``path``, like ``os.path.exists``."""
        path = os.fspath(path)
        return PathManager._handler_for(path).exists(path)

    @staticmethod
    def isfile(path: str | os.PathLike[str]) -> bool:
        """Return whether ``path`` is a file, like ``os.path.isfile``."""
        path = os.fspath(path)
        return PathManager._handler_for(path).isfile(path)

    @staticmethod
    def isdir(path: str | os.PathLike[str]) -> bool:
        """Return whether ``path`` is a directory, like ``os.path.isdir``."""
        path = os.fspath(path)
        return PathManager._handler_for(path).isdir(path)

    @staticmethod
    def listdir(path: str | os.PathLike[str]) -> List[str]:
        """Return the names in the directory ``path``, sorted, like ``os.listdir``."""
        path = os.fspath(path)
        return PathManager._handler_for(path).listdir(path)

    @staticmethod
    def makedirs(path: str | os.PathLike[str]) -> None:
        """Create the directory ``path`` and its parents, like ``os.makedirs(exist_ok=True)``."""
        path = os.fspath(path)
        PathManager._handler_for(path).makedirs(path)

    @staticmethod
    def remove(path: str | os.PathLike[str]) -> None:
        """Remove the file ``path``, like ``os.remove``; a directory raises IsADirectoryError."""
        path = os.fspath(path)
        PathManager._handler_for(path).remove(path)

    @staticmethod
    def removedirs(path: str | os.PathLike[str]) -> None:
        """Remove the empty directory ``path`` and its empty parents, like ``os.removedirs``.

        Never deletes anything recursively: a directory that is not empty raises ``OSError``.
        """
        path = os.fspath(path)
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
        # The reference's tutorial spells it get_support_prefixes; keep such handlers working.
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

    def get_supported_prefixes(self) -> List[str]:
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

    def listdir(self, path: str) -> List[str]:
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

    def get_supported_prefixes(self) -> List[str]:
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

    def listdir(self, path: str) -> List[str]:
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
    """

    _progress: bool = True  # a class default, so subclasses that skip __init__ still work

    def __init__(self, progress: bool = True) -> None:
        self._progress = progress

    def get_supported_prefixes(self) -> List[str]:
        """Return ``["http://", "https://", "ftp://"]``."""
        return ["http://", "https://", "ftp://"]

    def get_local_path(self, path: str) -> str:
        """Download ``path`` into the cache unless it is there; return the cached file.

        Raises:
            RemoteFileNotFoundError: The server says the URL does not exist.
            TruncatedDownloadError: The transfer was cut (after retries).
            DownloadError: Any other failure, with the URL and the reason.
        """
        return _download(path, self._cache_path(path), self._progress, sha256=None)

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

        HTTP asks with a HEAD request (a GET when HEAD is refused), FTP with SIZE.

        Raises:
            DownloadError: The server could not be reached or gave an answer that is
                neither "exists" nor "not found" (such as 403 or 500).
        """
        if os.path.isfile(self._cache_path(path)):
            return True
        return _remote_exists(path)

    def isfile(self, path: str) -> bool:
        """Return ``exists(path)``: a URL names a file."""
        return self.exists(path)

    def isdir(self, path: str) -> bool:
        """Return False: a URL names a file, never a directory."""
        return False

    def listdir(self, path: str) -> List[str]:
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

    def get_supported_prefixes(self) -> List[str]:
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

    def listdir(self, path: str) -> List[str]:
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
        for _ in range(_MAX_REDIRECTS):
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
        chain = " -> ".join(repr(step) for step in [*seen, current][: _MAX_REDIRECTS + 2])
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

    def get_supported_prefixes(self) -> List[str]:
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

    def listdir(self, path: str) -> List[str]:
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

    The lock file is ``path + ".lock"`` (its directory is created). Once entered, no
    other thread or process holds the same lock. The lock is an OS lock (``flock`` on
    POSIX), released by the OS when its holder dies, so a killed process never leaves
    a lock that blocks others. The thread that holds the lock may enter it again without
    waiting (so ``download_file`` of ``path`` inside the block works); it is released
    when the outermost block ends.

    Example::

        with file_lock(filename):
            if not os.path.isfile(filename):
                create_file(filename)

    Args:
        path: The path to lock.
        timeout: Seconds to wait before giving up; 30 minutes by default.

    Raises:
        LockTimeoutError: Someone else held the lock for all of ``timeout``.
    """
    lock_file = f"{os.fspath(path)}.lock"
    held = _locks_held_by_this_thread()
    key = os.path.realpath(lock_file)
    if key in held:  # a second flock of ours would wait on the first: for 30 minutes
        yield
        return
    parent = os.path.dirname(lock_file)
    if parent:
        os.makedirs(parent, exist_ok=True)
    lock = filelock.FileLock(lock_file, timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout as err:
        raise LockTimeoutError(
            f"could not lock {path!r} within {timeout:g} s: another thread or process holds "
            f"{lock_file!r}. Wait for it to finish; if none is running, delete that file.",
            lock_file,
            timeout,
        ) from err
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
) -> str:
    """Download ``url`` into the directory ``dir`` and return the file's path.

    An existing file is never overwritten: its path is returned at once (after checking
    ``sha256``, when given). Otherwise the bytes go to a temporary file next to the
    target, renamed into place only when its size matches Content-Length and its
    sha256 matches ``sha256``; callers in other threads or processes wait for that one
    download instead of starting their own (on the lock file ``<target>.lock``, which
    stays next to the file).

    Args:
        url: An http, https or ftp URL.
        dir: Target directory, created if missing.
        filename: Name to save as; defaults to the last part of the URL path.
        progress: Show a tqdm progress bar.
        sha256: Expected SHA-256 of the file, as hex.

    Returns:
        The path of the downloaded file, or of the file already there.

    Raises:
        RemoteFileNotFoundError: The server says the URL does not exist (HTTP 404).
        TruncatedDownloadError: Fewer bytes arrived than announced (after retries).
        ChecksumMismatchError: The file's sha256 is not ``sha256``.
        DownloadError: Any other failure, with the URL and the reason.
        ValueError: No file name can be taken from the URL, or ``filename`` has a
            directory part.
    """
    name = _checked_filename(filename if filename is not None else _url_basename(url), url)
    expected = _checked_sha256(sha256)
    os.makedirs(dir, exist_ok=True)
    return _download(url, os.path.join(dir, name), progress, expected)


# -- Internals: dispatch and messages ------------------------------------------

# A "protocol://" start. Two letters at least, so that "C://data" stays a Windows path.
_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")


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


def _call_legacy_prefixes(self: Any) -> List[str]:
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


def _checked_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ValueError(f"sha256={sha256!r} is not a SHA-256 hex digest (64 hex digits).")
    return sha256.lower()


# -- Internals: atomic, locked creation ----------------------------------------


_thread_state: Final = threading.local()


def _locks_held_by_this_thread() -> set[str]:
    """Return the (real) lock file paths that ``file_lock`` holds for the calling thread."""
    # Keyed by pid: a child forked inside a lock block inherits this thread's state but
    # not the lock, so it must wait like anyone else.
    state: tuple[int, set[str]] | None = getattr(_thread_state, "held_locks", None)
    if state is None or state[0] != os.getpid():
        state = _thread_state.held_locks = (os.getpid(), set())
    return state[1]


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
    # crashed writers never share one.
    head, tail = os.path.split(target)
    return os.path.join(head, f".{tail}.{uuid.uuid4().hex[:12]}.part")


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


# -- Internals: downloading ----------------------------------------------------


def _download(url: str, target: str, progress: bool, sha256: str | None) -> str:
    """Return ``target``, downloading ``url`` there first unless it exists."""
    created = _create_once(
        target, lambda tmp_path: _fetch_with_retries(url, tmp_path, target, progress, sha256)
    )
    if sha256 is not None and not created:  # a file we did not check ourselves
        _check_existing_sha256(url, target, sha256)
    return target


def _fetch_with_retries(
    url: str, tmp_path: str, target: str, progress: bool, sha256: str | None
) -> None:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            _fetch(url, tmp_path, target, progress, sha256)
            return
        except DownloadError as err:
            if not err._retryable or attempt == _ATTEMPTS:
                if attempt > 1:  # say so, instead of hiding the retries in the log
                    err.args = (f"{err.args[0]} (gave up after {attempt} attempts)",)
                raise
            delay = _BACKOFF * 2 ** (attempt - 1)
            _logger.warning(f"{err} Retrying in {delay:g} s (attempt {attempt + 1}).")
            time.sleep(delay)


def _fetch(url: str, tmp_path: str, target: str, progress: bool, sha256: str | None) -> None:
    """Make one attempt to download ``url`` into ``tmp_path`` (bound for ``target``)."""
    fetch = _fetch_ftp if url[:6].lower() == "ftp://" else _fetch_http
    label = os.path.basename(target)
    with open(tmp_path, "wb") as file, _Sink(file, label, progress, sha256 is not None) as sink:
        fetch(url, sink)
    _check_size(url, sink)
    if sha256 is not None and sink.hexdigest() != sha256:
        raise ChecksumMismatchError(
            f"{url} has sha256 {sink.hexdigest()}, expected {sha256} ({sink.received} bytes "
            f"arrived). Nothing was saved: check the expected hash and the URL.",
            url,
            target,
            sha256,
            sink.hexdigest(),
        )


class _Sink:
    """Where a fetcher writes a body: the file, a byte count, a sha256 and a progress bar."""

    def __init__(self, file: IO[bytes], label: str, progress: bool, hashed: bool) -> None:
        self.received = 0
        self.expected: int | None = None
        self._file = file
        self._label = label
        self._progress = progress
        self._digest = hashlib.sha256() if hashed else None
        self._bar: tqdm[Any] | None = None

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def begin(self, expected: int | None) -> None:
        """Note the announced size (None if unknown) and start the progress bar."""
        self.expected = expected
        self._bar = tqdm(
            total=expected,
            desc=self._label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not self._progress,
        )

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the file and account for it."""
        self._file.write(chunk)
        self.received += len(chunk)
        if self._digest is not None:
            self._digest.update(chunk)
        if self._bar is not None:
            self._bar.update(len(chunk))

    def hexdigest(self) -> str:
        """Return the sha256 of what was written (hashing must have been asked for)."""
        return self._digest.hexdigest() if self._digest is not None else ""


def _check_size(url: str, sink: _Sink) -> None:
    if sink.expected is None or sink.received == sink.expected:
        return
    if sink.received < sink.expected:
        raise _truncated(url, sink, "the transfer ended early")
    error = DownloadError(
        f"{url} sent {sink.received} bytes but announced {sink.expected}. Nothing was "
        f"saved; call again to retry.",
        url,
    )
    error._retryable = True
    raise error


def _truncated(
    url: str, sink: _Sink, reason: str, received: int | None = None
) -> TruncatedDownloadError:
    received = sink.received if received is None else received
    expected = "an unknown number of" if sink.expected is None else f"{sink.expected}"
    error = TruncatedDownloadError(
        f"{url} stopped at {received} of {expected} bytes ({reason}). Nothing was "
        f"saved; call again to retry.",
        url,
        received,
        sink.expected,
    )
    error._retryable = True
    return error


def _check_existing_sha256(url: str, path: str, sha256: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise ChecksumMismatchError(
            f"{path} exists with sha256 {digest.hexdigest()}, expected {sha256} for {url}. "
            f"It was left alone: delete it to download {url} again.",
            url,
            path,
            sha256,
            digest.hexdigest(),
        )


def _remote_exists(url: str) -> bool:
    if url[:6].lower() == "ftp://":
        return _ftp_exists(url)
    return _http_exists(url)


# -- Internals: HTTP -----------------------------------------------------------

# identity: we compare the bytes we write with Content-Length, which counts encoded bytes.
_HEADERS: Final = {"Accept-Encoding": "identity", "User-Agent": f"easycore-path/{__version__}"}


def _fetch_http(url: str, sink: _Sink) -> None:
    try:
        response = requests.get(
            url, stream=True, timeout=(_CONNECT_TIMEOUT, _READ_TIMEOUT), headers=_HEADERS
        )
    except requests.RequestException as err:
        raise _request_error(url, err) from err
    with response:
        _check_status(url, response)
        sink.begin(_content_length(response))
        try:
            for chunk in response.iter_content(_CHUNK_SIZE):
                sink.write(chunk)
        except requests.RequestException as err:
            # The wire count: urllib3 drops the bytes of a read that ends in an error.
            arrived = max(sink.received, int(response.raw.tell()))
            timed_out = "timed out" in str(err).lower()
            reason = "the server went silent: read timed out" if timed_out else "connection broke"
            raise _truncated(url, sink, reason, arrived) from err


def _content_length(response: requests.Response) -> int | None:
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None  # decoded bytes differ from the wire's; urllib3 checks the wire itself
    try:
        length = int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None
    return length if length >= 0 else None


def _check_status(url: str, response: requests.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    answer = f"the server answered {status} {response.reason or ''}".rstrip()
    if status in (404, 410):
        raise RemoteFileNotFoundError(f"{url} does not exist: {answer}.", url, status)
    hint = {
        401: " The file needs credentials.",
        403: " The server refuses access: is the file private?",
        429: " The server asks to slow down.",
    }.get(status, "")
    error = DownloadError(
        f"{url} could not be downloaded: {answer}.{hint} Nothing was saved.", url, status
    )
    error._retryable = status >= 500 or status in (408, 429)
    raise error


def _request_error(url: str, err: requests.RequestException) -> DownloadError:
    if isinstance(err, requests.exceptions.SSLError):
        return DownloadError(
            f"{url}: the TLS connection failed ({err}). If the server's certificate comes "
            f"from a private CA, point REQUESTS_CA_BUNDLE at that CA's certificate.",
            url,
        )
    if isinstance(err, (requests.ConnectionError, requests.Timeout)):
        error = DownloadError(
            f"could not reach {url}: {err}. Nothing was saved; call again to retry.", url
        )
        error._retryable = True
        return error
    return DownloadError(f"cannot download {url}: {err}.", url)


def _http_exists(url: str) -> bool:
    timeout = (_CONNECT_TIMEOUT, _READ_TIMEOUT)
    try:
        response = requests.head(url, allow_redirects=True, timeout=timeout, headers=_HEADERS)
        if response.status_code in (405, 501):  # HEAD refused: ask with a GET, read no body
            with requests.get(url, stream=True, timeout=timeout, headers=_HEADERS) as response:
                pass
    except requests.RequestException as err:
        raise _request_error(url, err) from err
    if response.status_code in (404, 410):
        return False
    _check_status(url, response)
    return True


# -- Internals: FTP ------------------------------------------------------------


@contextlib.contextmanager
def _ftp_session(url: str) -> Iterator[tuple[ftplib.FTP, str]]:
    """Yield a logged-in binary-mode FTP connection and the file's path on the server."""
    parts = urllib.parse.urlsplit(url)
    # RFC 1738: the URL path is relative to the login directory.
    remote_path = urllib.parse.unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    user = urllib.parse.unquote(parts.username or "anonymous")
    password = urllib.parse.unquote(parts.password or "anonymous@")
    with ftplib.FTP(timeout=_READ_TIMEOUT) as ftp:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(user, password)
        ftp.voidcmd("TYPE I")
        yield ftp, remote_path


def _fetch_ftp(url: str, sink: _Sink) -> None:
    try:
        with _ftp_session(url) as (ftp, remote_path):
            sink.begin(_ftp_size(ftp, remote_path))
            ftp.retrbinary(f"RETR {remote_path}", sink.write, blocksize=_CHUNK_SIZE)
    except ftplib.error_perm as err:
        raise _ftp_refusal(url, err) from err
    except (ftplib.Error, OSError, EOFError, ValueError) as err:
        if sink.received:
            raise _truncated(url, sink, f"connection broke: {err}") from err
        error = DownloadError(f"could not fetch {url}: {err!r}. Nothing was saved.", url)
        error._retryable = not isinstance(err, ValueError)  # a bad port will stay bad
        raise error from err


def _ftp_size(ftp: ftplib.FTP, remote_path: str) -> int | None:
    try:
        size = ftp.size(remote_path)
    except ftplib.error_perm as err:
        if _ftp_code(err) == 550:
            raise  # no such file: the caller reports it
        return None  # SIZE not supported: the transfer goes unchecked
    return size


def _ftp_exists(url: str) -> bool:
    try:
        with _ftp_session(url) as (ftp, remote_path):
            ftp.size(remote_path)
    except ftplib.error_perm as err:
        if _ftp_code(err) == 550:
            return False
        raise _ftp_refusal(url, err) from err
    except (ftplib.Error, OSError, EOFError, ValueError) as err:
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


# -- Default handlers ----------------------------------------------------------

PathManager.register(NativePathHandler())
PathManager.register(HTTPURLHandler())
