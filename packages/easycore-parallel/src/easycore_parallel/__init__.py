"""Producer/consumer runners on processes that batch by themselves and never hang.

Subclass ``UnorderedRunner`` or ``OrderedRunner``, override some of the six
static hooks, and call the runner with any iterable. Producers (one per device) run
``producer_work`` on each item; the consumer runs in the calling thread and folds the
results with ``consumer_work``; ``__call__`` returns what ``consumer_end`` returns::

    from easycore_parallel import UnorderedRunner

    class SumOfSquares(UnorderedRunner):
        @staticmethod
        def producer_work(device, cfg, data):
            return data * data

        @staticmethod
        def consumer_init(cfg):
            cfg.sum = 0

        @staticmethod
        def consumer_work(cfg, data):
            cfg.sum += data

        @staticmethod
        def consumer_end(cfg):
            return cfg.sum

    if __name__ == "__main__":
        with SumOfSquares(devices=2) as runner:
            print(runner(range(100)))  # 328350

For a plain function, ``imap(fn, items)`` is the same engine as an iterator of results
(``sum(imap(square, range(100)))``); ``runner.imap(items)`` streams a runner's
``producer_work`` results the same way.

Who sends what (``backend="process"``; one duplex pipe per producer)::

    caller's thread (the consumer)                 producer process (one per device)
    ------------------------------                 ---------------------------------
    data_iter -> batch of items --- pickled batch ---> reader thread -> inbox
       (at most queue_scale x devices                   worker: producer_work(item) ...
        batches in flight)                                     |
    consumer_work(cfg, result) <--- results + seconds ---------+
    wait() on every pipe and every process sentinel, so a dead producer is seen at once

With ``backend="ray"`` each producer is a Ray actor (one per device, here or on a
cluster) and the pipes become actor calls carrying the same batches, pickled with Ray's
cloudpickle; the caller waits on their results and on one never-ending call per actor,
which fails the moment that actor dies.

Batches grow from one item until a batch holds about 5 ms of producer work (or 4 MiB),
from the per-item time the producers measure; a mutable result is captured (copied or
pickled) the moment ``producer_work`` returns it, so a reused buffer is never aliased.
Errors come back to the caller with their own type and the producer's traceback (naming
the device) as ``__cause__``. Runner classes defined where producers cannot import them
(a notebook, ``python -c``) travel by value with cloudpickle, this module's one
dependency; a copy of this file works without it, by name only.

Long runs: ``item_timeout`` replaces a producer stuck on one item (its reader thread
stamps the item at work into shared memory, and the caller reads the stamps while it
waits), ``on_error="skip"`` leaves failed items out (``runner.failures``),
``max_restarts`` replaces dead producers and runs their batches again one item at a
time, and ``max_items_per_producer`` recycles producers.

Seams: easycore-torch subclasses the runners through these private names, and no
others (its tests fail on any other). They hold within a release, and easycore-torch
requires the exact release it was built with; any other private name may change::

    BaseRunner._min_batch_seconds      class attribute: least seconds of work per batch
    BaseRunner._devices                the device strings, one per producer (read only)
    BaseRunner._choose_start_method()  the start method for the devices (or None)
    BaseRunner._get_context()          the multiprocessing context of a start method
    BaseRunner._prepare_transport()    per activation: the pickler of batches and results
    BaseRunner._producer_options()     picklable options of one producer, per activation
    BaseRunner._setup_producer()       prepares a producer before producer_init
    _run_imap()                        imap() on a subclass's runner classes
    _has_native_threads()              whether a fork now could hang the child
    _OUT_OF_BAND                       bytes the message in flight moves beside the pipe

Environment variables: none.
"""

# SPDX-License-Identifier: MIT

from __future__ import annotations

import abc
import collections.abc
import contextlib
import copy
import ctypes
import dataclasses
import difflib
import functools
import importlib
import io
import itertools
import marshal
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import operator
import os
import pickle
import queue
import reprlib
import signal
import sys
import threading
import time
import traceback
import types
import warnings
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from multiprocessing.reduction import ForkingPickler
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    NamedTuple,
    NoReturn,
    Protocol,
)

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext
    from multiprocessing.process import BaseProcess

__version__ = "0.1.0"

__all__ = [
    "BaseRunner",
    "ItemFailure",
    "ItemTimeoutError",
    "NotPicklableError",
    "OrderedRunner",
    "ProducerDiedError",
    "RunnerClosedError",
    "RunnerError",
    "UnorderedRunner",
    "imap",
]


# -- Errors ---------------------------------------------------------------------------------


class RunnerError(Exception):
    """Base class of the errors a runner raises itself.

    An exception raised by one of your hooks is not wrapped: it reaches the caller with
    its own type, and the producer's traceback as its ``__cause__``.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # One way for every runner error: rebuilt from its class, message and every
        # attribute, so an attribute added to a subclass still crosses processes.
        return (_rebuild_error, (type(self), str(self), self.__dict__))


class ProducerDiedError(RunnerError, RuntimeError):
    """A producer process ended without being asked to (a signal, ``os._exit``, a crash).

    The runner closes itself: call ``activate()`` to start new producers.

    Attributes:
        device: The device of the producer, as given to the runner.
        pid: The producer's process id.
        exitcode: Its exit code; negative for a signal (``-9`` is SIGKILL), ``None`` if
            it could not be read.
    """

    def __init__(
        self,
        message: str,
        *,
        device: str | None = None,
        pid: int | None = None,
        exitcode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.device = device
        self.pid = pid
        self.exitcode = exitcode


class RunnerClosedError(RunnerError, RuntimeError):
    """The runner was called (or used) while closed.

    Attributes:
        reason: Why it is closed ("closed by close()", or the error that closed it).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class NotPicklableError(RunnerError, TypeError):
    """Something that must cross a process boundary cannot be pickled (or unpickled).

    Raised for an input item, a result, a hook's exception, or, under the ``spawn`` and
    ``forkserver`` start methods, the runner class or ``cfg``.

    Attributes:
        device: The producer's device when the producer side failed, else ``None``.
        pid: The producer's process id when the producer side failed, else ``None``.
    """

    def __init__(self, message: str, *, device: str | None = None, pid: int | None = None) -> None:
        super().__init__(message)
        self.device = device
        self.pid = pid


class ItemTimeoutError(RunnerError, TimeoutError):
    """``producer_work`` ran past ``item_timeout`` on one item; its producer was replaced.

    Attributes:
        index: The item's position in the input.
        device: The device of the producer that ran it.
        seconds: How long the item had been running when the producer was killed.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        device: str | None = None,
        seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.index = index
        self.device = device
        self.seconds = seconds


@dataclasses.dataclass(frozen=True)
class ItemFailure:
    """An item that failed and was left out of a call under ``on_error="skip"``.

    ``runner.failures`` lists one per failed item of the latest call, in input order.

    Attributes:
        index: The item's position in the input.
        device: The device of the producer that ran it.
        error: The exception, as ``on_error="raise"`` would have raised it: the hook's
            own (its ``__cause__`` holds the producer's traceback), ``ItemTimeoutError``,
            ``ProducerDiedError`` for an item that killed its producer on its own, or
            ``NotPicklableError``.
        traceback: The producer's formatted traceback, or what happened when there is none.
    """

    index: int
    device: str
    error: BaseException
    traceback: str


def _rebuild_error(cls: type[RunnerError], message: str, state: dict[str, Any]) -> RunnerError:
    error = cls(message)
    error.__dict__.update(state)
    return error


# -- Public API -----------------------------------------------------------------------------

#: The reference's ``cfg={}``, read-only so that no call can change the default.
_EMPTY_CFG: Final[Mapping[str, Any]] = types.MappingProxyType({})


class BaseRunner:
    """A runner whose consumer receives results in any order (as they come).

    The runner starts one producer per device when it is created, and they live until
    ``close()``. Each call feeds the items of ``data_iter`` to the producers in batches
    and runs the consumer hooks in the calling thread. Subclass it (or
    ``UnorderedRunner``, ``OrderedRunner``) and override the static hooks.

    Args:
        devices: An int ``n`` for ``n`` producers on ``"cpu"``, or an iterable of device
            strings such as ``["cpu", "cuda:0", "cuda:1"]``, one producer each.
        cfg: User data given to the hooks (the reference's ``cfg={}``): each producer gets
            its own copy at start, each call's consumer a fresh copy. A ``dict`` subclass
            such as ``CfgNode`` keeps its type; a plain dict or other mapping becomes an
            attribute dict, so hooks may write ``cfg.sum = 0``.
        queue_scale: At most ``ceil(queue_scale * len(devices))`` batches (at least one)
            are in flight at a time, counting those waiting to be consumed in order.
        start_method: ``"fork"``, ``"spawn"`` or ``"forkserver"``; ``None`` picks one:
            ``spawn`` when a device is CUDA, ``forkserver`` when the process runs native
            threads that Python does not manage (torch's or a BLAS thread pool, which
            would deadlock forked children), ``spawn`` where fork is not safe (macOS,
            Windows), else ``fork``. Except under ``fork``, the runner class and ``cfg``
            must reach the producers: by name from an importable module, or by value
            with cloudpickle when defined in a notebook, ``python -c``, stdin or the
            REPL (and for a script's lambdas and closures). ``fork`` after this process
            started native threads sets the producers' OpenMP runtimes to one thread.
        backend: ``"process"`` (default), ``"thread"``: producers are threads of this
            process, for hooks that wait on I/O or release the GIL; nothing is pickled; or
            ``"ray"``: producers are Ray actors, one per device, on this machine or a Ray
            cluster (needs ``pip install "easycore-parallel[ray]"``). A ``"cuda:N"``
            device becomes an actor with ``num_gpus=1`` whose hooks get ``"cuda:0"`` (the
            one GPU Ray shows it); errors name ``"cuda:N"``. Other devices become actors
            with ``num_cpus=1``.
        progress: Show a tqdm progress bar per call (needs
            ``pip install "easycore-parallel[progress]"``).
        address: For ``backend="ray"``: the cluster to connect to (``"auto"``,
            ``"ray://head:10001"``, ``"10.0.0.1:6379"``), given to ``ray.init`` when this
            process has not initialized Ray yet; ``None`` starts Ray on this machine.
        ray_init_kwargs: For ``backend="ray"``: more arguments for that ``ray.init``, such
            as ``{"runtime_env": {"working_dir": "."}}`` to ship your code to the cluster.
        item_timeout: Seconds one ``producer_work`` call may take. A producer past it is
            killed and replaced, and the item fails with ``ItemTimeoutError``. Not for
            ``backend="thread"``: a thread cannot be killed.
        on_error: ``"raise"``: the first failed item raises (the runner stays usable).
            ``"skip"``: a failed item (it raised, timed out, could not be pickled, or
            killed its producer) is left out of ``consumer_work`` and of ``imap``'s
            results, the call goes on, ``runner.failures`` lists each ``ItemFailure``
            afterwards, and one ``RuntimeWarning`` gives their count.
        max_restarts: Producers that die (a signal, the OOM killer, ``os._exit``, a crash
            in native code) are replaced, up to this many times per call. The items of a
            dead producer's unfinished batches run again one at a time; one that kills
            its producer alone fails with ``ProducerDiedError``. ``0``: a death ends the
            call and closes the runner.
        max_items_per_producer: Replace a producer after it ran this many items
            (``producer_end``, then a new producer and ``producer_init``), to contain
            memory that user code leaks. ``None``: never.

    Raises:
        TypeError: ``devices``, ``cfg``, ``queue_scale`` or a long-run option has the
            wrong type.
        ValueError: An empty device list, a non-positive ``queue_scale``, an unknown
            ``start_method``, ``backend`` or ``on_error``, Ray options without
            ``backend="ray"``, ``item_timeout`` with ``backend="thread"``, a
            non-positive ``item_timeout`` or ``max_items_per_producer``, a negative
            ``max_restarts``, or more devices than the Ray cluster has CPUs or GPUs for.
        ImportError: ``backend="ray"`` (or ``progress=True``) without its extra installed.
        NotPicklableError: The runner class or ``cfg`` cannot be sent to producers
            started with ``spawn``, ``forkserver`` or Ray.
        Exception: Whatever ``producer_init`` raised, with the producer's traceback.
    """

    _ordered: ClassVar[bool] = False
    #: Least seconds of producer work per batch (seam: easycore-torch batches more, since
    #: each of its messages also costs the producers' compute kernels their warm caches).
    _min_batch_seconds: ClassVar[float] = 0.0
    #: The function ``imap()`` runs instead of the producer hooks (``None``: the hooks).
    _task: _Task | None = None

    def __init__(
        self,
        devices: int | Iterable[str],
        cfg: Mapping[str, Any] | None = _EMPTY_CFG,
        queue_scale: float = 3.0,
        *,
        start_method: str | None = None,
        backend: str = "process",
        progress: bool = False,
        address: str | None = None,
        ray_init_kwargs: Mapping[str, Any] | None = None,
        item_timeout: float | None = None,
        on_error: str = "raise",
        max_restarts: int = 0,
        max_items_per_producer: int | None = None,
    ) -> None:
        self._devices = _parse_devices(devices)
        self._cfg = _to_cfg(cfg)
        self._window = _parse_window(queue_scale, len(self._devices))
        self._backend_name = _parse_backend(backend)
        self._limits = _parse_limits(
            self._backend_name, item_timeout, on_error, max_restarts, max_items_per_producer
        )
        self._failures: list[ItemFailure] = []
        self._start_method = self._choose_start_method(start_method)
        self._ray_init = _parse_ray_options(self._backend_name, address, ray_init_kwargs)
        self._progress = bool(progress)
        if self._progress:
            _require("tqdm", "progress")  # fail now, not at the first call
        if self._backend_name == "ray":
            _require("ray", "ray")
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._backend: _Backend | None = None
        self._starting: _Backend | None = None  # during activate(), for _exclusive
        self._finalizer: multiprocessing.util.Finalize[None] | None = None
        self._closed_reason = "closed by close()"
        self._next_call_id = 0
        self._open_iterator: object | None = None  # the imap() iterator being served
        self.activate()

    @property
    def is_activate(self) -> bool:
        """Whether the runner is alive: its producers are started and it can be called."""
        return self._backend is not None

    @property
    def start_method(self) -> str | None:
        """The start method of the producer processes (``None`` unless ``backend="process"``)."""
        return self._start_method

    @property
    def failures(self) -> list[ItemFailure]:
        """The items of the latest call (or ``imap``) that failed under ``on_error="skip"``.

        In input order; empty under ``on_error="raise"``::

            runner = Squares(devices=2, on_error="skip")
            total = runner(items)
            for failure in runner.failures:
                print(failure.index, failure.error)
        """
        return sorted(self._failures, key=_by_index)

    def __call__(self, data_iter: Iterable[Any]) -> Any:
        """Run every item of ``data_iter`` through the producers and the consumer.

        ``consumer_init`` gets a fresh copy of ``cfg``, ``consumer_work`` each result
        (in input order for ``OrderedRunner``), and the value of ``consumer_end``
        is returned. If anything fails, the call stops within a moment and raises; the
        producers skip the rest of its work and the runner can be called again, except
        after ``ProducerDiedError`` or ``KeyboardInterrupt``, which close it.
        ``close()`` from another thread stops the call too.

        Args:
            data_iter: An iterable of items (it may be endless: the consumer can stop
                the call by raising).

        Returns:
            What ``consumer_end`` returns.

        Under ``on_error="skip"``, items that fail are left out and listed in
        ``runner.failures`` instead (see the constructor's long-run options).

        Raises:
            RunnerClosedError: The runner is closed, or ``close()`` was called from
                another thread during the call.
            ProducerDiedError: A producer process died (more than ``max_restarts`` times
                in this call: the runner is closed; or an item killed its producer on its
                own: the producer was replaced).
            ItemTimeoutError: An item ran past ``item_timeout``; its producer was replaced.
            NotPicklableError: An item or a result cannot be pickled.
            RunnerError: A producer hook raised ``SystemExit`` or ``KeyboardInterrupt``
                (it cannot end the caller's program), or a hook called its own runner.
            Exception: Whatever a hook or ``data_iter`` raised; a producer hook's
                exception has the producer's traceback as ``__cause__``.

        A failed item, an exception of ``data_iter`` itself, or an item that cannot be
        pickled raises at its position: once the results of the items before it are
        consumed (every one of them for ``OrderedRunner``; those that came first
        otherwise). ``data_iter`` is not read past it.
        """
        with self._exclusive("calling the runner"):
            self._refuse_while_iterating("calling the runner")
            backend = self._require_backend()
            items = _reader(data_iter)
            cls = type(self)
            cfg = self._copy_cfg("the consumer")
            cls.consumer_init(cfg)
            consume = cls.consumer_work
            with self._closing_on_death():
                call = self._start_call(backend, items, _length_or_none(data_iter))
                with contextlib.closing(call) as batches:
                    for results in batches:
                        for result in results:
                            consume(cfg, result)
            return cls.consumer_end(cfg)

    def imap(self, data_iter: Iterable[Any]) -> Iterator[Any]:
        """Return an iterator over the results of ``producer_work`` on each item.

        The results stream to the caller as they come, in input order for
        ``OrderedRunner``; the consumer hooks are not used. As in a call, at most
        ``queue_scale x len(devices)`` batches are in flight, so an endless input runs
        in bounded memory. An item whose ``producer_work`` raised raises once the results
        before it are out. Leaving the loop early (``break``, an exception, or dropping
        the iterator) cancels the rest of the work; the runner stays usable. While the
        iterator is open, the runner serves it alone: calling the runner or ``imap``
        again raises ``RunnerError`` (``close()`` still works and ends the iterator)::

            with Squares(devices=2) as runner:      # an OrderedRunner
                for square in runner.imap(range(10)):
                    print(square)                   # 0, 1, 4, ...

        Args:
            data_iter: An iterable of items; it may be endless.

        Returns:
            An iterator of results; ``close()`` it (or let it go) to stop early.

        Raises:
            RunnerClosedError: The runner is closed.
            RunnerError: Another ``imap`` iterator of this runner is still open.

        The iterator raises what a call raises (see ``__call__``).
        """
        return self._open_results(data_iter, close_runner=False)

    def close(self, *, timeout: float | None = None) -> None:
        """Shut down all producers if this runner is alive (idempotent).

        Producers drop queued work, run ``producer_end`` and exit. Producers that are
        still busy after ``timeout`` seconds are killed. Called from another thread (a
        watchdog) while a call runs, it stops that call at once, the call raising
        ``RunnerClosedError``, then closes as above; a consumer hook or ``data_iter``
        stuck in the calling thread keeps it waiting, since Python cannot stop them.

        Args:
            timeout: Seconds to wait for the producers; ``None`` waits for them.

        Raises:
            Exception: Whatever ``producer_end`` raised (after every producer is gone).
            RunnerError: A producer did not finish within ``timeout`` and was killed.
        """
        self._refuse_reentry("close()")
        backend = self._backend
        if self._owner is not None and backend is not None:  # a call in another thread
            backend.interrupt("close() was called from another thread")
        with self._exclusive("close()"):
            self._open_iterator = None  # it raises RunnerClosedError if resumed
            failures = self._shut_down("closed by close()", timeout=timeout)
        if failures:
            _raise_failure(failures[0])

    def activate(self) -> None:
        """Restart all processes if this runner is closed (idempotent).

        Returns once every producer has run ``producer_init``.

        Raises:
            NotPicklableError: The runner class or ``cfg`` cannot be sent to producers.
            ProducerDiedError: A producer died while starting.
            Exception: Whatever ``producer_init`` raised; the runner stays closed.
        """
        with self._exclusive("activate()"):
            if self._backend is not None:
                return
            backend = self._starting = self._create_backend()
            try:
                failures = backend.start()
            except BaseException:
                backend.kill()
                raise
            finally:
                self._starting = None
            if failures:
                # The first failure is what the caller must see; the survivors' own
                # producer_end errors, if any, would only hide it.
                backend.stop(_AFTER_DEATH_SECONDS)
                _raise_failure(failures[0])
            self._attach_backend(backend)

    def __enter__(self) -> BaseRunner:
        """Return the runner; ``with`` closes it on exit."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        """Close the runner; if the block raised, an error of ``producer_end`` only warns."""
        if exc_type is None:
            self.close()
            return
        with self._exclusive("close()"):
            self._open_iterator = None
            failures = self._shut_down("closed by close()", timeout=None)
        for failure in failures:
            warnings.warn(
                f"{failure.describe()} while the with-block was already failing; "
                f"its traceback:\n{failure.traceback}",
                RuntimeWarning,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        state = "active" if self.is_activate else "closed"
        method = f", start_method={self._start_method!r}" if self._start_method else ""
        return (
            f"<{type(self).__name__} devices={self._devices!r}, "
            f"backend={self._backend_name!r}{method}, {state}>"
        )

    # The six hooks. They are static: they receive all their state through ``cfg``.

    @staticmethod
    def producer_init(device: str, cfg: Any) -> None:
        """Initialize a producer, once per producer when the runner starts.

        Args:
            device: Device of this producer, such as ``"cpu"`` or ``"cuda:1"``.
            cfg: This producer's copy of ``cfg``: store here what ``producer_work`` and
                ``producer_end`` need (a model, a file handle).
        """

    @staticmethod
    def producer_work(device: str, cfg: Any, data: Any) -> Any:
        """Process one item in a producer; the default returns it unchanged.

        Args:
            device: Device of this producer.
            cfg: This producer's ``cfg``, as ``producer_init`` left it.
            data: One item of the iterable given to ``__call__``.

        Returns:
            The result handed to ``consumer_work``.
        """
        return data

    @staticmethod
    def producer_end(device: str, cfg: Any) -> None:
        """Clean up a producer, once per producer when the runner is closed.

        Args:
            device: Device of this producer.
            cfg: This producer's ``cfg``.
        """

    @staticmethod
    def consumer_init(cfg: Any) -> None:
        """Initialize the consumer at the start of each call.

        Args:
            cfg: A fresh copy of the runner's ``cfg`` for this call.
        """

    @staticmethod
    def consumer_work(cfg: Any, data: Any) -> None:
        """Consume one result of ``producer_work``, in the calling thread.

        Args:
            cfg: This call's ``cfg``.
            data: One result.
        """

    @staticmethod
    def consumer_end(cfg: Any) -> Any:
        """Finish a call after every result is consumed; the default returns ``None``.

        Args:
            cfg: This call's ``cfg``.

        Returns:
            The value ``__call__`` returns.
        """
        return None

    # -- Seams for subclasses (easycore-torch): not public API, but kept stable. -------

    def _get_context(self, start_method: str) -> BaseContext:
        """Return the multiprocessing context that starts producers.

        easycore-torch returns ``torch.multiprocessing.get_context(start_method)``.
        """
        return multiprocessing.get_context(start_method)

    def _choose_start_method(self, requested: str | None) -> str | None:
        """Return the start method to use (``None`` for the thread backend)."""
        if self._backend_name != "process":
            if requested is not None:
                raise ValueError(
                    f"start_method={requested!r} only applies to backend='process', "
                    f"not backend={self._backend_name!r}: leave it out"
                )
            return None
        if requested is None:
            return _default_start_method(self._devices)
        return _check_start_method(requested)

    def _producer_options(self, index: int, device: str) -> dict[str, Any]:
        """Return picklable options for producer ``index``, given to ``_setup_producer``.

        Runs in the caller's process when the runner starts.
        """
        return {}

    @staticmethod
    def _setup_producer(device: str, options: Mapping[str, Any]) -> None:
        """Prepare a producer before ``producer_init`` (threads, CUDA device, seeds).

        Runs inside each producer; ``options`` comes from ``_producer_options``.
        """

    def _prepare_transport(self) -> _Pickler:
        """Return the pickler of one activation's batches and results.

        Called once per ``activate()``, before ``_producer_options``; the backend and its
        producers pickle every batch and result of that activation with it (not on Ray,
        whose own pickling carries them), and it travels to the producers in their
        start-up spec. easycore-torch makes the activation's shared-memory rings here and
        returns a pickler that sends tensors through them.
        """
        return ForkingPickler

    # -- Internals of the runner ---------------------------------------------------------

    def _create_backend(self) -> _Backend:
        pickler = self._prepare_transport()
        specs = [
            _ProducerSpec(
                runner_cls=type(self),
                producer=index,
                device=device,
                label=device,
                cfg=self._cfg,
                options=self._producer_options(index, device),
                task=self._task,
                skip=self._limits.skip,
                pickler=pickler,
            )
            for index, device in enumerate(self._devices)
        ]
        if self._backend_name == "thread":
            return _ThreadBackend(specs, self._limits)
        if self._backend_name == "ray":
            return _RayBackend(specs, self._limits, self._ray_init)
        assert self._start_method is not None  # set for the process backend
        return _ProcessBackend(specs, self._limits, self._get_context(self._start_method))

    def _attach_backend(self, backend: _Backend) -> None:
        self._backend = backend
        self._finalizer = multiprocessing.util.Finalize(
            self,
            _finalize_backend,
            args=(backend, repr(self)),
            exitpriority=_EXIT_PRIORITY,
        )

    def _shut_down(self, reason: str, *, timeout: float | None) -> list[_Failure]:
        backend, self._backend = self._backend, None
        if backend is None:
            return []
        self._closed_reason = reason
        if self._finalizer is not None:
            self._finalizer.cancel()
            self._finalizer = None
        try:
            return backend.stop(timeout)
        except BaseException:
            backend.kill()
            raise

    def _start_call(
        self, backend: _Backend, items: _Input, total: int | None
    ) -> Generator[list[Any], None, None]:
        """Return a generator of the call's batches of results (see ``_Call.batches``)."""
        call = _Call(
            backend,
            call_id=self._new_call_id(),
            batch_seconds=max(backend.batch_seconds, self._min_batch_seconds),
            window=self._window,
            ordered=self._ordered,
            bar=self._open_progress_bar(total),
            limits=self._limits,
        )
        self._failures = call.failures  # filled as the call goes
        return call.batches(items)

    def _open_results(self, data_iter: Iterable[Any], *, close_runner: bool) -> Iterator[Any]:
        """Start serving an ``imap`` iterator; with ``close_runner``, close when it ends."""
        with self._exclusive("runner.imap()"):
            self._refuse_while_iterating("runner.imap()")
            self._require_backend()
            items = _reader(data_iter)
            token = self._open_iterator = object()
        results = self._iterate(items, _length_or_none(data_iter), token, close_runner)
        next(results)  # to its first yield: from now on, closing it frees the runner
        return results

    def _iterate(
        self, items: _Input, total: int | None, token: object, close_runner: bool
    ) -> Iterator[Any]:
        """Run an ``imap`` call, one stretch per batch of results, the runner held by each.

        One generator serves every result: a layer more costs tiny tasks a frame resume each.
        """
        calls: Generator[list[Any], None, None] | None = None
        try:
            yield None  # _open_results() runs us to here
            while True:
                with self._exclusive("iterating runner.imap()"):
                    if self._open_iterator is not token:
                        raise RunnerClosedError(
                            f"{type(self).__name__} was closed while its imap() iterator "
                            f"was open ({self._closed_reason}); the rest of the results are "
                            f"lost",
                            reason=self._closed_reason,
                        )
                    with self._closing_on_death():
                        if calls is None:
                            calls = self._start_call(self._require_backend(), items, total)
                        results = next(calls, None)
                if results is None:
                    return
                yield from results
        finally:
            if calls is not None:
                calls.close()  # if left early: the producers skip the rest
            if self._open_iterator is token:
                self._open_iterator = None
            if close_runner:
                self._close_after_imap()

    def _close_after_imap(self) -> None:
        with self._exclusive("close()"):
            # A function has no producer_end to wait for, so a producer still busy with
            # an item nobody wants gets a moment, then is killed: leaving a loop early
            # must not wait for a slow item. Such kills are the only failures left.
            self._shut_down("closed when its imap() iterator ended", timeout=_ABORT_SECONDS)

    @contextlib.contextmanager
    def _closing_on_death(self) -> Iterator[None]:
        """Close the runner if a producer died or the call was interrupted."""
        try:
            yield
        except ProducerDiedError as err:
            backend = self._backend
            if backend is None or not backend.is_whole():  # else: it was replaced
                self._shut_down(_death_reason(err), timeout=_AFTER_DEATH_SECONDS)
            raise
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C means stop: the producers get a moment for producer_end, no more.
            self._shut_down("closed by an interrupt during a call", timeout=_ABORT_SECONDS)
            raise

    def _refuse_while_iterating(self, what: str) -> None:
        if self._open_iterator is not None:
            raise RunnerError(
                f"{what} while an imap() iterator of this {type(self).__name__} is open: a "
                f"runner serves one call at a time. Finish that iterator, leave its loop, "
                f"or call its close() first; or use a second runner."
            )

    def _refuse_reentry(self, what: str) -> None:
        backends = (self._backend, self._starting)
        if self._owner == threading.get_ident() or any(
            backend is not None and backend.runs_in_this_thread() for backend in backends
        ):
            raise RunnerError(
                f"{what} inside a hook of the same {type(self).__name__} call: a runner "
                f"runs one call at a time, and its own hooks would wait for it forever; use "
                f"a second runner instead"
            )

    def _require_backend(self) -> _Backend:
        backend = self._backend
        if backend is None:
            raise RunnerClosedError(
                f"{type(self).__name__} is closed ({self._closed_reason}); "
                f"call activate() to start its producers again",
                reason=self._closed_reason,
            )
        if self._limits.max_restarts:
            backend.replace_dead()  # it died between calls: no call lost anything
        death = backend.find_death()
        if death is not None:
            error = _death_error(death)
            self._shut_down(_death_reason(error), timeout=_AFTER_DEATH_SECONDS)
            raise error
        return backend

    def _copy_cfg(self, who: str) -> Any:
        try:
            return copy.deepcopy(self._cfg)
        except Exception as err:
            raise NotPicklableError(
                f"cfg cannot be copied for {who}: {type(err).__name__}: {err}. Keep cfg to "
                f"plain data; build objects such as models in producer_init."
            ) from err

    def _new_call_id(self) -> int:
        self._next_call_id += 1
        return self._next_call_id

    def _open_progress_bar(self, total: int | None) -> Any:
        if not self._progress:
            return None
        tqdm = _require("tqdm", "progress")
        task = self._task
        name = f"imap({getattr(task.fn, '__name__', 'fn')})" if task else type(self).__name__
        return tqdm.tqdm(total=total, desc=name, unit="item")

    @contextlib.contextmanager
    def _exclusive(self, what: str) -> Iterator[None]:
        self._refuse_reentry(what)
        with self._lock:
            self._owner = threading.get_ident()
            try:
                yield
            finally:
                self._owner = None


class UnorderedRunner(BaseRunner):
    """A runner whose consumer receives results in any order (as they come).

    The runner starts one producer per device, and the consumer runs in the calling
    thread. See ``BaseRunner`` for the arguments and the hooks.
    """


class OrderedRunner(BaseRunner):
    """A runner whose consumer receives results in the order of the input.

    Results that finish early wait in a reorder buffer, which counts toward the
    ``queue_scale x len(devices)`` batches in flight, so memory stays bounded. See
    ``BaseRunner`` for the arguments and the hooks.
    """

    _ordered: ClassVar[bool] = True


def imap(
    fn: Callable[..., Any],
    items: Iterable[Any],
    devices: int | Iterable[str] = 2,
    *,
    ordered: bool = True,
    init: Callable[[str, Any], Any] | None = None,
    cfg: Mapping[str, Any] | None = None,
    progress: bool = False,
    queue_scale: float = 3.0,
    start_method: str | None = None,
    backend: str = "process",
    address: str | None = None,
    ray_init_kwargs: Mapping[str, Any] | None = None,
    item_timeout: float | None = None,
    on_error: str = "raise",
    max_restarts: int = 0,
    max_items_per_producer: int | None = None,
) -> Iterator[Any]:
    """Return an iterator over ``fn(item)`` for each item, computed by parallel producers.

    The function-first form of the runners, on the same engine (batching, bounded memory,
    errors with the producer's traceback, every backend): producers start at once, one per
    device, and stop when the iterator ends. Results stream back as they come, in input
    order unless ``ordered=False``. With ``init``, each producer first runs
    ``state = init(device, cfg)`` once (load a model onto its device, say) and then calls
    ``fn(state, item)``. ``fn`` and ``init`` may be lambdas or closures: producers that
    are not forked get them by value (cloudpickle, when installed), so only what they
    capture must pickle::

        from easycore_parallel import imap

        if __name__ == "__main__":
            print(list(imap(abs, [-1, 2, -3])))  # [1, 2, 3]
            for square in imap(lambda x: x * x, range(10**9)):  # an endless-like input
                if square > 100:
                    break  # stops the producers at once

    Args:
        fn: Called on each item in a producer: ``fn(item)``, or ``fn(state, item)``.
        items: Any iterable, even an endless one: only a few batches are read ahead.
        devices: An int ``n`` for ``n`` producers on ``"cpu"``, or device strings.
        ordered: Yield results in input order (else as they come, which is faster when
            items take uneven time).
        init: Called once in each producer as ``init(device, cfg)``; what it returns is
            given to ``fn`` with each item.
        cfg: A mapping handed to ``init`` (each producer gets its own copy).
        progress: Show a tqdm progress bar.
        queue_scale: Batches in flight per device, as for the runners.
        start_method: As for the runners; ``None`` picks one.
        backend: ``"process"``, ``"thread"`` or ``"ray"``, as for the runners.
        address: For ``backend="ray"``: the cluster to connect to.
        ray_init_kwargs: For ``backend="ray"``: more arguments for ``ray.init``.
        item_timeout: Seconds ``fn`` may take on one item, as for the runners.
        on_error: ``"raise"`` or ``"skip"``: a failed item is left out of the results,
            and a ``RuntimeWarning`` at the end gives the count and the first failure.
        max_restarts: Producers that die are replaced up to this many times.
        max_items_per_producer: Replace a producer after this many items.

    Returns:
        An iterator of results. Leaving it early (``break``, an exception, dropping it, or
        its ``close()``) stops the producers' remaining work and the producers.

    Raises:
        TypeError: ``fn`` or ``init`` is not callable, or an argument of the runners has
            the wrong type (see ``BaseRunner``).
        ValueError: A bad argument of the runners (see ``BaseRunner``).
        NotPicklableError: ``fn``, ``init`` or ``cfg`` cannot reach the producers under
            this start method or backend.
        Exception: Whatever ``init`` raised, with the producer's traceback.

    The iterator raises what ``fn`` raised for an item once the results before that item
    are out, with the producer's traceback as ``__cause__``; likewise what ``items``
    itself raised, or ``NotPicklableError`` for an item that cannot be pickled, at that
    item's position; and ``ProducerDiedError`` if a producer dies.
    """
    return _run_imap(
        OrderedRunner if ordered else UnorderedRunner,
        fn,
        init,
        items,
        devices,
        cfg,
        queue_scale,
        start_method=start_method,
        backend=backend,
        progress=progress,
        address=address,
        ray_init_kwargs=ray_init_kwargs,
        item_timeout=item_timeout,
        on_error=on_error,
        max_restarts=max_restarts,
        max_items_per_producer=max_items_per_producer,
    )


# -- Internals: imap --------------------------------------------------------------------------


def _run_imap(
    runner_cls: type[BaseRunner],
    fn: Callable[..., Any],
    init: Callable[[str, Any], Any] | None,
    items: Iterable[Any],
    *args: Any,
    **kwargs: Any,
) -> Iterator[Any]:
    """Start a ``runner_cls`` whose producers run ``fn``; stream ``items`` through it.

    ``args`` and ``kwargs`` go to the runner's constructor. The iterator closes the runner
    when it ends. Seam: easycore-torch's ``imap`` passes its own runner classes.
    """
    runner = runner_cls.__new__(runner_cls)
    # Read when the constructor starts the producers.
    runner._task = _Task(
        _check_callable(fn, "fn"), None if init is None else _check_callable(init, "init")
    )
    runner_cls.__init__(runner, *args, **kwargs)
    try:
        return runner._open_results(items, close_runner=True)
    except BaseException:
        runner.close()
        raise


def _check_callable(value: Any, name: str) -> Any:
    if not callable(value):
        raise TypeError(
            f"imap() needs a function as {name}, got {_describe_value(value)}; pass a "
            f"function, a lambda or another callable"
        )
    return value


# -- Internals: constants ---------------------------------------------------------------------

_TARGET_BATCH_SECONDS: Final = 0.005  # 5 ms of work per batch: ~50 us of transport is 1%
_MAX_BATCH_BYTES: Final = 4 << 20  # 4 MiB per batch, pickled or beside: bounds large items
_MAX_BATCH_ITEMS: Final = 1 << 16  # a cap for items that cost nothing measurable
_BATCH_GROWTH: Final = 4  # a batch is at most 4x the largest measured, so slow items stay alone
_COST_DECAY: Final = 0.5  # weight of past batches in the per-item cost estimate
_PARENT_CHECK_SECONDS: Final = 1.0  # idle producers look for a vanished parent this often
_AFTER_DEATH_SECONDS: Final = 5.0  # producer_end of the survivors after a producer died
_ABORT_SECONDS: Final = 1.0  # after Ctrl-C, producers get this long before SIGKILL
_FINALIZE_SECONDS: Final = 2.0  # an unclosed runner's producers, at GC or at exit
_JOIN_SECONDS: Final = 5.0  # a killed or finished process is reaped within this
# A reply whose shared memory cannot be fetched from its producer (see _decode) raised one
# of these; the producer is then waited for this long to tell a death from another error.
_SENDER_GONE_ERRORS: Final = (ConnectionError, FileNotFoundError, EOFError)
_SENDER_GONE_SECONDS: Final = 1.0
_EXIT_PRIORITY: Final = 50  # runs in multiprocessing's exit hook before it joins children
_EXIT_PARENT_GONE: Final = 70  # producer exit code when its parent vanished

# What the caller makes of a producer's answer (``_Reply.kind``); the messages themselves
# are named types (see "messages between the caller and its producers").
_RESULT: Final = 0  # a batch ran
_FAILED: Final = 1  # a batch ran up to an item that failed (or its results cannot be read)
_SKIPPED: Final = 2  # a batch of a cancelled call, not run
_DIED: Final = 3  # made up by the caller for a producer that died
_TIMEOUT: Final = 4  # made up by the caller for a producer it killed past item_timeout


# -- Internals: arguments and cfg -------------------------------------------------------------


def _parse_devices(devices: int | Iterable[str]) -> list[str]:
    if isinstance(devices, bool):
        raise TypeError(f"devices must be an int or an iterable of device strings, not {devices}")
    if isinstance(devices, int):
        if devices < 1:
            raise ValueError(f"devices={devices}: a runner needs at least one producer")
        return ["cpu"] * devices
    if isinstance(devices, str):
        raise TypeError(
            f"devices={devices!r} is a single string: pass a list such as [{devices!r}]"
        )
    parsed = list(devices)
    if not parsed:
        raise ValueError("devices is empty: a runner needs at least one producer")
    for device in parsed:
        if not isinstance(device, str):
            raise TypeError(
                f"devices must hold strings such as 'cpu' or 'cuda:0', got {device!r} "
                f"({type(device).__name__}) in {parsed!r}"
            )
    return parsed


def _parse_window(queue_scale: float, producers: int) -> int:
    if isinstance(queue_scale, bool) or not isinstance(queue_scale, (int, float)):
        raise TypeError(f"queue_scale must be a number, not {type(queue_scale).__name__}")
    if not math.isfinite(queue_scale) or queue_scale <= 0:
        raise ValueError(f"queue_scale={queue_scale}: it must be a positive finite number")
    return max(1, math.ceil(queue_scale * producers))


_BACKEND_NAMES: Final = ("process", "thread", "ray")


def _parse_backend(backend: str) -> str:
    if backend not in _BACKEND_NAMES:
        raise ValueError(
            f"backend={backend!r} is unknown: use one of {list(_BACKEND_NAMES)}"
            f"{_suggest(backend, _BACKEND_NAMES)}"
        )
    return backend


def _parse_ray_options(
    backend: str, address: str | None, ray_init_kwargs: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return the arguments for ``ray.init`` (empty unless the backend is Ray)."""
    if backend != "ray":
        options = {"address": address, "ray_init_kwargs": ray_init_kwargs}
        given = [name for name, value in options.items() if value is not None]
        if given:
            raise ValueError(
                f"{' and '.join(given)} only apply to backend='ray', not backend={backend!r}: "
                f"pass backend='ray' or leave them out"
            )
        return {}
    if address is not None and not isinstance(address, str):
        raise TypeError(f"address must be a str such as 'auto' or '10.0.0.1:6379', not {address!r}")
    if ray_init_kwargs is None:
        ray_init_kwargs = {}
    if not isinstance(ray_init_kwargs, Mapping):
        raise TypeError(
            f"ray_init_kwargs must be a mapping of ray.init arguments, not "
            f"{type(ray_init_kwargs).__name__}"
        )
    if address is not None and "address" in ray_init_kwargs:
        raise ValueError("the address is given twice: as address= and in ray_init_kwargs")
    options = dict(ray_init_kwargs)
    if address is not None:
        options["address"] = address
    return options


class _Limits(NamedTuple):
    """The long-run options of a runner, checked: what the engine and backends obey."""

    item_timeout: float | None = None
    skip: bool = False  # on_error="skip"
    max_restarts: int = 0
    max_items: int | None = None  # max_items_per_producer


_ON_ERROR_CHOICES: Final = ("raise", "skip")


def _parse_limits(
    backend: str,
    item_timeout: float | None,
    on_error: str,
    max_restarts: int,
    max_items: int | None,
) -> _Limits:
    if item_timeout is not None:
        if isinstance(item_timeout, bool) or not isinstance(item_timeout, (int, float)):
            raise TypeError(
                f"item_timeout must be a number of seconds or None, not {item_timeout!r}"
            )
        if not math.isfinite(item_timeout) or item_timeout <= 0:
            raise ValueError(
                f"item_timeout={item_timeout}: it must be a positive number of seconds"
            )
        if backend == "thread":
            raise ValueError(
                f"item_timeout={item_timeout} needs producers that can be killed, and "
                f"backend='thread' runs them as threads, which cannot be: use "
                f"backend='process' (or 'ray'), or leave item_timeout out"
            )
    if on_error not in _ON_ERROR_CHOICES:
        raise ValueError(
            f"on_error={on_error!r} is unknown: use one of {list(_ON_ERROR_CHOICES)}"
            f"{_suggest(str(on_error), _ON_ERROR_CHOICES)}"
        )
    for name, value, least in (
        ("max_restarts", max_restarts, 0),
        ("max_items_per_producer", max_items, 1),
    ):
        if value is None and name == "max_items_per_producer":
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {value!r}")
        if value < least:
            raise ValueError(f"{name}={value}: it must be at least {least}")
    return _Limits(
        item_timeout=None if item_timeout is None else float(item_timeout),
        skip=on_error == "skip",
        max_restarts=max_restarts,
        max_items=max_items,
    )


def _by_index(failure: ItemFailure) -> int:
    return failure.index


class _AttrDict(collections.abc.MutableMapping[Any, Any]):
    """The default cfg: a mapping whose keys are also attributes (``cfg.sum = 0``).

    Not a dict subclass: its keys live as the object's own attributes, so ``cfg.sum +=
    data`` in a tiny task's ``consumer_work`` reads and writes at plain-attribute speed
    (twice as fast as a dict serving as its own ``__dict__``; CPython keeps the values of
    an object's attributes inline until something asks for its ``__dict__``). ``dict(cfg)``
    makes a dict (for ``json``, say).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __getitem__(self, key: Any) -> Any:
        return self.__dict__[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        if type(key) is str and not key.startswith("__"):
            setattr(self, key, value)  # keeps the values inline (see above)
        else:
            self.__dict__[key] = value  # a dunder such as "__dict__" is a plain key here

    def __delitem__(self, key: Any) -> None:
        del self.__dict__[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.__dict__)

    def __len__(self) -> int:
        return len(self.__dict__)

    def __repr__(self) -> str:
        return repr(self.__dict__)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_AttrDict, (dict(self.__dict__),))


def _to_cfg(cfg: Mapping[str, Any] | None) -> Any:
    """Return a private deep copy of ``cfg`` with the type the hooks will see."""
    if cfg is None:
        return _AttrDict()
    if not isinstance(cfg, Mapping):
        raise TypeError(
            f"cfg must be a mapping such as a dict or a CfgNode, not {type(cfg).__name__}"
        )
    try:
        if isinstance(cfg, dict) and type(cfg) is not dict:
            return _thaw(copy.deepcopy(cfg))  # a CfgNode stays a CfgNode
        return _to_attr_dict(cfg)
    except Exception as err:
        key = next((k for k in cfg if not _is_copyable(cfg[k])), None)
        what = f"cfg[{key!r}] ({_describe_value(cfg[key])})" if key is not None else "cfg"
        raise NotPicklableError(
            f"{what} cannot be copied ({type(err).__name__}: {err}); each producer and each "
            f"call gets its own copy of cfg. Keep cfg to plain data and build objects such "
            f"as locks, files or models in producer_init."
        ) from err


def _thaw(cfg: Any) -> Any:
    """Unfreeze our private copy of a frozen config, so every hook's copy is writable.

    Hooks store their state on cfg (``cfg.model = Net()``), and freezing a config before
    handing it out is good practice; the caller's object is never touched. Works with
    easycore's ``CfgNode`` (``freeze(False)``) and yacs/fvcore's (``defrost()``).
    """
    kind = type(cfg)
    is_frozen = getattr(kind, "is_frozen", None)
    if not callable(is_frozen) or not is_frozen(cfg):
        return cfg
    if callable(getattr(kind, "defrost", None)):
        cfg.defrost()
    else:
        cfg.freeze(False)
    return cfg


def _is_copyable(value: Any) -> bool:
    try:
        copy.deepcopy(value)
    except Exception:
        return False
    return True


def _to_attr_dict(mapping: Mapping[str, Any]) -> _AttrDict:
    return _AttrDict(
        (key, _to_attr_dict(value) if type(value) is dict else copy.deepcopy(value))
        for key, value in mapping.items()
    )


def _length_or_none(data: Iterable[Any]) -> int | None:
    """Return the length of ``data`` for the progress bar; ``None`` if it cannot say.

    A range (or a sequence) longer than ``sys.maxsize`` has a length ``len()`` cannot
    return: such an input is as good as endless, and runs as one.
    """
    if not isinstance(data, collections.abc.Sized):
        return None
    try:
        return len(data)
    except OverflowError:
        return None


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# -- Internals: optional dependencies and platform -------------------------------------------


def _require(module: str, extra: str) -> types.ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        hint = f'pip install "easycore-parallel[{extra}]"'  # double quotes work in cmd.exe too
        raise ImportError(f"{module!r} is needed here: {hint}") from err


# macOS may crash forked children that use system frameworks; Python defaults to spawn there.
_FORK_IS_SAFE: Final = (
    sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()
)


def _default_start_method(devices: Sequence[str]) -> str:
    """Pick fork where it is safe, else forkserver, else spawn.

    CUDA cannot be used in a forked child once the parent touched it, so CUDA devices
    get spawn. A native thread pool (torch's intra-op pool, OpenMP, BLAS, gRPC) that
    is running when the parent forks leaves its locks and workers behind in a broken
    state: a child that uses it waits forever. Those threads are invisible to
    ``threading``, so we compare the OS's thread count with Python's. Python threads
    alone do not prevent fork: CPython resets its own locks in the child.
    """
    if any(_is_cuda(device) for device in devices) or not _FORK_IS_SAFE:
        return "spawn"
    if _has_native_threads():
        methods = multiprocessing.get_all_start_methods()
        return "forkserver" if "forkserver" in methods else "spawn"
    return "fork"


def _is_cuda(device: str) -> bool:
    return device.strip().lower().startswith("cuda")


def _has_native_threads() -> bool:
    """Tell whether this process runs threads that Python's ``threading`` does not know."""
    try:
        os_threads = len(os.listdir("/proc/self/task"))
    except OSError:  # no procfs: count any extra thread as unsafe
        return threading.active_count() > 1
    return os_threads > threading.active_count()


def _check_start_method(method: str) -> str:
    methods = multiprocessing.get_all_start_methods()
    if method not in methods:
        raise ValueError(
            f"start_method={method!r} is not available here: use one of {methods}"
            f"{_suggest(method, methods)}"
        )
    return method


# -- Internals: pickling ------------------------------------------------------------------------

# Everything crosses processes through ForkingPickler, so reductions registered on it
# (torch.multiprocessing's shared-memory tensors, once imported) apply to our batches.


class _Pickler(Protocol):
    """What pickles batches and results: ``ForkingPickler``, or a subclass's own."""

    def dumps(self, obj: Any, protocol: int | None = None) -> bytes | memoryview: ...


def _dumps(obj: object, pickler: _Pickler = ForkingPickler) -> bytes | memoryview:
    _OUT_OF_BAND.bytes = 0
    return pickler.dumps(obj, pickle.HIGHEST_PROTOCOL)


def _loads(data: bytes | memoryview) -> Any:
    _OUT_OF_BAND.bytes = 0
    return ForkingPickler.loads(data)


def _message_bytes(data: bytes | memoryview) -> int:
    """Bytes the message just pickled or unpickled in this thread stands for."""
    return len(data) + _OUT_OF_BAND.bytes


class _OutOfBand(threading.local):
    bytes = 0


#: Bytes that the message being pickled or unpickled in this thread moves beside the pipe
#: (seam: easycore-torch adds its shared-memory tensors), so the batch sizer's byte cap
#: sees them. _dumps and _loads reset it.
_OUT_OF_BAND: Final = _OutOfBand()


def _find_unpicklable(values: Sequence[Any]) -> tuple[int, BaseException]:
    """Return the position of the first value that cannot be pickled, and its error."""
    for position, value in enumerate(values):
        try:
            _dumps(value)
        except Exception as err:
            return position, err
    return -1, TypeError("the values pickle one by one but not together")


def _describe_value(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__} {reprlib.repr(value)}"


# -- Internals: failures that cross processes -------------------------------------------------


class _Failure(NamedTuple):
    """What went wrong in a producer, in a form that always pickles."""

    kind: str  # "raised", "unpicklable", "died", "timeout", "item-timeout", "poison", "input"
    hook: str  # the hook, or the stage ("starting", "between calls")
    device: str
    pid: int | None
    traceback: str  # the producer's formatted traceback, or an explanation
    error_blob: bytes | None = None  # the pickled exception, if it pickles
    error: BaseException | None = None  # the exception itself (thread backend only)
    summary: str = ""  # "ValueError: bad item"
    item: int | None = None  # position in the batch, or in the input once known
    exitcode: int | None = None
    hint: str | None = None  # for a death: what to do, instead of the exit code's hint

    # One constructor per kind; the backends and the call only gather the facts.

    @classmethod
    def raised(
        cls,
        err: BaseException,
        *,
        hook: str,
        device: str,
        pid: int | None,
        item: int | None = None,
        local: bool = False,
    ) -> _Failure:
        """``err`` was raised: kept as itself if ``local`` (same process), else pickled."""
        blob: bytes | None = None
        if not local:
            try:
                blob = bytes(_dumps(err))
                _loads(blob)  # some exceptions pickle but cannot be rebuilt
            except Exception:
                blob = None
        return cls(
            kind="raised",
            hook=hook,
            device=device,
            pid=pid,
            traceback=_format_traceback(err),
            error_blob=blob,
            error=err if local else None,
            summary=_summarize_exception(err),
            item=item,
        )

    @classmethod
    def unpicklable(
        cls,
        err: BaseException,
        summary: str,
        *,
        hook: str,
        device: str,
        pid: int | None,
        item: int | None = None,
        local: bool = False,
    ) -> _Failure:
        """Pickling or unpickling failed with ``err``; ``summary`` says what and the fix.

        An ``OSError`` or ``MemoryError`` is no value's fault but the system refusing the
        transport a resource (file descriptors, memory): it stays itself, raised, with
        its own message (easycore-torch's names the descriptor limit and the fixes).
        """
        if isinstance(err, _RESOURCE_ERRORS):
            return cls.raised(err, hook=hook, device=device, pid=pid, item=item, local=local)
        return cls(
            kind="unpicklable",
            hook=hook,
            device=device,
            pid=pid,
            traceback=_format_traceback(err),
            summary=summary,
            item=item,
        )

    @classmethod
    def died(
        cls,
        *,
        when: str,
        device: str,
        pid: int | None,
        exitcode: int | None = None,
        hint: str | None = None,
    ) -> _Failure:
        """The producer ended ``when`` (``"between calls"``) without being asked to."""
        return cls("died", when, device, pid, "", exitcode=exitcode, hint=hint)

    @classmethod
    def timed_out(cls, explanation: str, *, device: str, pid: int | None) -> _Failure:
        """The producer did not finish within ``close()``'s timeout."""
        return cls("timeout", "close()", device, pid, explanation)

    @classmethod
    def of_input(cls, error: BaseException, *, item: int) -> _Failure:
        """Reading or sending item ``item`` of the input raised ``error`` in the caller."""
        return cls(
            kind="input",
            hook="data_iter",
            device="",
            pid=None,
            traceback=_format_traceback(error),
            error=error,
            summary=_summarize_exception(error),
            item=item,
        )

    @classmethod
    def of_item(cls, kind: str, error: RunnerError, *, item: int, death: _Failure) -> _Failure:
        """An item failed as the caller found (``"item-timeout"``, ``"poison"``): ``error``."""
        message = str(error)
        return cls(
            kind=kind,
            hook="producer_work",
            device=death.device,
            pid=death.pid,
            traceback=message,
            error=error,
            summary=message,
            item=item,
            exitcode=death.exitcode,
        )

    def describe(self) -> str:
        where = f"producer for {self.device!r}" + (f" (pid {self.pid})" if self.pid else "")
        item = f" on item {self.item} of the input" if self.item is not None else ""
        return f"{self.hook} in {where} failed{item}: {self.summary}"


#: Errors of the transport, not of a value: see ``_Failure.unpicklable``.
_RESOURCE_ERRORS: Final = (OSError, MemoryError)


def _format_traceback(err: BaseException) -> str:
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))


class _RemoteTracebackError(Exception):
    """The traceback of a producer, attached as ``__cause__`` of the error it raised."""

    def __init__(
        self,
        text: str,
        *,
        device: str | None = None,
        pid: int | None = None,
        hook: str | None = None,
    ) -> None:
        super().__init__(text)
        self.device = device
        self.pid = pid
        self.hook = hook

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_remote, (str(self), self.__dict__))


def _rebuild_remote(text: str, state: dict[str, Any]) -> _RemoteTracebackError:
    remote = _RemoteTracebackError(text)
    remote.__dict__.update(state)
    return remote


def _summarize_exception(err: BaseException) -> str:
    """Return ``"ValueError: bad item"``, even for an exception whose ``__str__`` raises."""
    name = type(err).__name__
    try:
        return f"{name}: {err}"
    except Exception:
        pass
    try:
        return f"{name} (its str() failed; repr: {err!r})"
    except Exception:
        return f"{name} (its str() and repr() failed)"


def _failure_to_exception(failure: _Failure) -> BaseException:
    """Turn a failure into the exception the caller sees, its cause set."""
    if failure.kind == "died":
        return _death_error(failure)
    if failure.kind in ("input", "item-timeout", "poison") and failure.error is not None:
        return failure.error  # made in the caller, with its full story
    if failure.kind == "timeout":
        return RunnerError(failure.traceback)
    where = f"producer for {failure.device!r}" + (f" (pid {failure.pid})" if failure.pid else "")
    item = f", item {failure.item} of the input" if failure.item is not None else ""
    verb = "gave something that cannot be pickled" if failure.kind == "unpicklable" else "raised"
    remote = _RemoteTracebackError(
        f"\n\n{failure.hook} in {where}{item} {verb}:\n\n{failure.traceback}",
        device=failure.device,
        pid=failure.pid,
        hook=failure.hook,
    )
    error = failure.error
    if failure.kind == "unpicklable":
        error = NotPicklableError(failure.summary, device=failure.device, pid=failure.pid)
    elif error is None and failure.error_blob is not None:
        try:
            error = _loads(failure.error_blob)
        except Exception:
            error = None
    if error is None:
        error = NotPicklableError(
            f"{failure.hook} in {where} raised {failure.summary}; that exception cannot be "
            f"pickled to reach the caller (its traceback is the cause of this error)",
            device=failure.device,
            pid=failure.pid,
        )
    elif not isinstance(error, Exception):
        # SystemExit or KeyboardInterrupt from a hook would end the caller's program,
        # silently when uncaught (sys.exit(0) even with success): the call fails instead.
        error = RunnerError(
            f"{failure.hook} in {where} raised {failure.summary}. A producer hook cannot "
            f"end or interrupt the caller's program: this call stopped, and the runner "
            f"stays usable. Raise an ordinary exception to fail a call."
        )
    error.__cause__ = remote
    error.__suppress_context__ = True
    return error


def _raise_failure(failure: _Failure) -> NoReturn:
    raise _failure_to_exception(failure)


def _death_error(failure: _Failure) -> ProducerDiedError:
    code = failure.exitcode
    if code is None:
        how, hint = "ended (its exit code is unknown)", ""
    elif code < 0:
        name = _signal_name(-code)
        how = f"was killed by {name}"
        hint = {
            "SIGKILL": " SIGKILL usually means the system ran out of memory: lower "
            "queue_scale or the memory each item needs.",
            "SIGSEGV": " SIGSEGV is a crash in native code called by a hook.",
        }.get(name, "")
    else:
        how = f"exited with code {code}"
        hint = " A hook called os._exit(), or native code ended the process."
    if failure.hint is not None:
        hint = f" {failure.hint}"
    lost = f"; {failure.summary}" if failure.summary else ""
    return ProducerDiedError(
        f"producer for {failure.device!r} (pid {failure.pid}) {how} {failure.hook}{lost}."
        f"{hint} The runner is closed now: call activate() to start new producers.",
        device=failure.device,
        pid=failure.pid,
        exitcode=code,
    )


def _replacement_error(failure: _Failure) -> ProducerDiedError:
    error = ProducerDiedError(
        f"a new producer for {failure.device!r} could not start in place of one that was "
        f"replaced: {failure.describe()}. The runner is closed now: fix the cause, then "
        f"call activate().",
        device=failure.device,
        pid=failure.pid,
        exitcode=failure.exitcode,
    )
    error.__cause__ = _failure_to_exception(failure)
    return error


def _death_reason(error: ProducerDiedError) -> str:
    how = "killed by a signal" if (error.exitcode or 0) < 0 else f"exit code {error.exitcode}"
    return f"closed after its producer for {error.device!r} (pid {error.pid}) died, {how}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# -- Internals: one call (batching, the in-flight window, ordering) ---------------------------


class _BatchSizer:
    """Choose batch sizes from the per-item time and size the producers measure.

    The first batch has one item. Each later batch holds about ``target_seconds`` of
    work (the backend's ``batch_seconds``, or the runner's ``_min_batch_seconds`` if
    larger) and at most ``_MAX_BATCH_BYTES``, and never more than ``_BATCH_GROWTH``
    times the largest batch measured so far, so a slow item is never batched blindly.
    """

    def __init__(self, target_seconds: float = _TARGET_BATCH_SECONDS) -> None:
        self._target_seconds = target_seconds
        self._seconds = 0.0  # decayed sums: recent batches count more
        self._timed_items = 0.0
        self._bytes = 0.0
        self._sized_items = 0.0
        self._largest = 0

    def next_size(self) -> int:
        if self._largest == 0:
            return 1
        size = self._largest * _BATCH_GROWTH
        if self._seconds > 0:
            size = min(size, int(self._target_seconds * self._timed_items / self._seconds))
        if self._bytes > 0:
            size = min(size, int(_MAX_BATCH_BYTES * self._sized_items / self._bytes))
        return max(1, min(size, _MAX_BATCH_ITEMS))

    def observe(self, items: int, seconds: float, nbytes: int) -> None:
        self._seconds = self._seconds * _COST_DECAY + seconds
        self._timed_items = self._timed_items * _COST_DECAY + items
        self._bytes = self._bytes * _COST_DECAY + nbytes
        self._sized_items = self._sized_items * _COST_DECAY + items
        self._largest = max(self._largest, items)


class _RangeReader:
    """Read a ``range`` input in slices: a batch of it is a smaller range.

    A range's items cost nothing to read again, so the caller makes no item of it: each
    batch travels as three numbers and its producer makes the items, instead of the
    caller making, pickling and freeing each one (about a fifth of the caller's time
    on tiny tasks).
    """

    __slots__ = ("_next", "_range")

    def __init__(self, items: range) -> None:
        self._range = items
        self._next = 0

    def take(self, size: int) -> range:
        batch = self._range[self._next : self._next + size]
        self._next += len(batch)
        return batch


_Input = Iterator[Any] | _RangeReader  # what a call reads its items from (see _reader)


def _reader(data: Iterable[Any]) -> _Input:
    """Return what a call reads ``data`` from: a range is sliced, the rest iterated."""
    return _RangeReader(data) if isinstance(data, range) else iter(data)


def _take(items: _Input, size: int) -> tuple[Sequence[Any], Exception | None]:
    """Read up to ``size`` items; if the input raised, the items before it and the error."""
    if isinstance(items, _RangeReader):
        return items.take(size), None
    batch: list[Any] = []
    try:
        # extend() keeps the items read before the input raised, at C speed.
        batch.extend(itertools.islice(items, size))
    except Exception as err:
        return batch, err
    return batch, None


class _Batch:
    """A batch of one call, from when it is read until its results are consumed."""

    __slots__ = ("failures", "found", "indexes", "items", "parts")

    def __init__(self, indexes: Sequence[int], items: Sequence[Any]) -> None:
        self.indexes = indexes  # the input position of each item
        self.items = items
        # Once its producer died or was killed, its items run again in parts (see
        # _Call._rerun): their results by position, the failed items, parts in flight.
        self.found: dict[int, Any] = {}
        self.failures: list[_Failure] = []
        self.parts = 0


class _Call:
    """Feed one call's items to the producers and hand back their results, batch by batch.

    Under ``max_restarts`` and ``item_timeout`` the call also replaces producers that
    died or ran past the timeout, and sends their unanswered batches again as parts:
    one item each after a death (so an item that kills its producer is found), the
    items but the one that timed out after a timeout. Under ``on_error="skip"`` the
    failed items go to ``failures`` instead of raising.
    """

    def __init__(
        self,
        backend: _Backend,
        *,
        call_id: int,
        batch_seconds: float,
        window: int,
        ordered: bool,
        bar: Any,
        limits: _Limits = _Limits(),  # noqa: B008  (an immutable tuple)
    ) -> None:
        self._backend = backend
        self._call_id = call_id
        self._window = window
        self._per_producer = math.ceil(window / backend.size)
        self._ordered = ordered
        self._bar = bar
        self._limits = limits
        self._sizer = _BatchSizer(batch_seconds)
        self._batches: dict[int, _Batch] = {}  # batch id -> the batch, until consumed
        self._sizes: dict[int, int] = {}  # batch id -> bytes sent (see _message_bytes)
        self._done: dict[int, tuple[list[Any], list[_Failure]]] = {}  # ready to consume
        self._parts: dict[int, tuple[int, list[int]]] = {}  # part id -> (batch id, positions)
        self._resend: collections.deque[tuple[int, list[int]]] = collections.deque()
        self._next_batch = 0
        self._next_part = -1  # parts count down, so their ids never meet batch ids
        self._next_to_consume = 0
        self._items_sent = 0
        self._in_window = 0  # batches sent and not yet consumed
        self._restarts_left = limits.max_restarts
        #: The items that failed under on_error="skip" (the runner shows them).
        self.failures: list[ItemFailure] = []

    def batches(self, items: _Input) -> Generator[list[Any], None, None]:
        """Yield each batch's results as they come (in input order when ordered).

        A failed item raises once the results before it are out, as ``map`` would. Closing
        the generator early (the caller stopped) tells the producers to skip the rest.
        """
        try:
            exhausted = False
            while True:
                exhausted = self._fill(items, exhausted)
                yield from self._consume()
                if exhausted and self._in_window == 0:
                    break
                for reply in self._backend.collect():
                    self._handle(reply)
                    yield from self._consume()
                if self._backend.interrupted is not None:
                    raise RunnerClosedError(
                        f"the call stopped: {self._backend.interrupted}; the runner is "
                        f"closing (call activate() to start its producers again)",
                        reason=self._backend.interrupted,
                    )
        except BaseException:
            self._backend.cancel(self._call_id)
            raise
        finally:
            if self._bar is not None:
                self._bar.close()
        if self._limits.max_restarts:
            # A producer killed once its last results were in: replace it now, so that
            # close() still finds every producer alive to run producer_end.
            self._backend.replace_dead()
        if self.failures:
            warnings.warn(_skipped_warning(self.failures, self._items_sent), RuntimeWarning, 3)

    def _fill(self, items: _Input, exhausted: bool) -> bool:
        """Send batches until the window is full; return whether the input ran out."""
        backend = self._backend
        while self._resend:  # parts of batches sent before: their results are awaited
            index = backend.least_loaded(1)  # alone on an idle producer (see least_loaded)
            if index is None:
                return exhausted
            self._send_part(index)
        while not exhausted and self._in_window < self._window:
            index = backend.least_loaded(self._per_producer)
            if index is None:
                return False
            size = min(self._sizer.next_size(), backend.allowance(index))
            batch, error = _take(items, size)
            if error is not None:
                start = self._items_sent
                self._items_sent += len(batch)
                if not batch or self._send_batch(index, start, batch):
                    self._fail_input(start + len(batch), error)
                return True
            if not batch:
                return True
            start = self._items_sent
            self._items_sent += len(batch)
            if not self._send_batch(index, start, batch):
                return True
        return exhausted

    def _send_batch(self, index: int, start: int, batch: Sequence[Any]) -> bool:
        """Send items ``start...`` of the input; return ``False`` if the input stops here.

        An item that cannot be pickled fails at its position (``_fail_input``), and the
        input stops there; under ``on_error="skip"`` it is left out instead.
        """
        backend, indexes = self._backend, range(start, start + len(batch))
        try:
            nbytes = backend.submit(index, self._call_id, self._next_batch, batch)
        except _ItemNotPicklableError:
            if not self._limits.skip:
                position, error = self._unpicklable_item(batch, start)
                if position > 0:
                    self._send_batch(index, start, batch[:position])
                self._fail_input(start + position, error)
                return False
            label = backend.specs[index].label
            kept_indexes, kept = self._skip_unpicklable_items(indexes, batch, label)
            if not kept:
                self._done[self._new_batch(kept_indexes, kept)] = ([], [])
                return True
            nbytes = backend.submit(index, self._call_id, self._next_batch, kept)
            self._sizes[self._new_batch(kept_indexes, kept)] = nbytes
            return True
        self._sizes[self._new_batch(indexes, batch)] = nbytes
        return True

    def _new_batch(self, indexes: Sequence[int], items: Sequence[Any]) -> int:
        """Count a batch in the window (sent to ``_next_batch``'s id, or empty)."""
        batch_id = self._next_batch
        self._next_batch += 1
        self._in_window += 1
        self._batches[batch_id] = _Batch(indexes, items)
        return batch_id

    def _fail_input(self, position: int, error: BaseException) -> None:
        """Make ``error``, of the input itself, raise in place of item ``position``.

        It comes after the results of the items before it (all of them when ordered), as
        a failed item's exception does, even under ``on_error="skip"``: the input ended.
        """
        batch_id = self._new_batch([position], [])
        self._done[batch_id] = ([], [_Failure.of_input(error, item=position)])

    def _send_part(self, index: int) -> None:
        batch_id, positions = self._resend[0]
        allowance = self._backend.allowance(index)
        if len(positions) > allowance:
            self._resend[0] = (batch_id, positions[allowance:])
            positions = positions[:allowance]
        else:
            self._resend.popleft()
        part_id = self._next_part
        self._next_part -= 1
        self._parts[part_id] = (batch_id, positions)
        items = self._batches[batch_id].items
        self._backend.submit(index, self._call_id, part_id, [items[p] for p in positions])

    def _handle(self, reply: _Reply) -> None:
        if reply.kind in (_DIED, _TIMEOUT):
            self._recover(reply)
            return
        if reply.call_id != self._call_id or reply.kind not in (_RESULT, _FAILED):
            return  # a late reply of an earlier, failed call, or a skipped batch
        if reply.batch_id in self._parts:
            self._fold_part(reply)
            return
        if reply.kind == _RESULT:
            sent = self._sizes.pop(reply.batch_id, 0)
            self._sizer.observe(len(reply.results), reply.seconds, sent + reply.nbytes)
        batch = self._batches[reply.batch_id]
        failures = [self._locate(batch, failure) for failure in reply.skipped]
        if reply.kind == _FAILED:
            assert reply.failure is not None
            failure = reply.failure
            if failure.item is None and len(batch.items) == 1:
                failure = failure._replace(item=0)  # the only item it can be
            elif failure.item is None and self._limits.skip:
                # Nothing tells which item failed (a reply that could not be pickled or
                # unpickled, say): run them one by one to find out.
                self._rerun(reply.batch_id, list(range(len(batch.items))), singly=True)
                return
            failures.append(self._locate(batch, failure))
        self._done[reply.batch_id] = (reply.results, failures)

    def _fold_part(self, reply: _Reply) -> None:
        """Take in the reply for a part of a batch; once all parts are in, it is done."""
        batch_id, positions = self._parts.pop(reply.batch_id)
        batch = self._batches[batch_id]
        batch.parts -= 1
        failures = list(reply.skipped)
        if reply.kind == _FAILED:
            assert reply.failure is not None
            if reply.failure.item is None and len(positions) > 1:
                self._rerun(batch_id, positions, singly=True)
                return
            failures.append(reply.failure._replace(item=reply.failure.item or 0))
        failed = {positions[failure.item or 0] for failure in failures}
        ran = [position for position in positions if position not in failed]
        batch.found.update(zip(ran, reply.results, strict=False))
        batch.failures.extend(
            self._locate(batch, failure._replace(item=positions[failure.item or 0]))
            for failure in failures
        )
        self._finish_parts(batch_id)

    def _finish_parts(self, batch_id: int) -> None:
        batch = self._batches[batch_id]
        if batch.parts:
            return
        failures = sorted(batch.failures, key=lambda failure: failure.item or 0)
        first_failed = failures[0].item if failures and not self._limits.skip else None
        results = [
            batch.found[position]
            for position in sorted(batch.found)
            if first_failed is None or batch.indexes[position] < first_failed
        ]
        self._done[batch_id] = (results, failures)

    def _recover(self, reply: _Reply) -> None:
        """Replace a producer that died or was killed; send its unanswered batches again."""
        assert reply.failure is not None
        lost = [batch_id for call_id, batch_id in reply.lost if call_id == self._call_id]
        if reply.kind == _DIED:
            if self._restarts_left == 0:
                raise self._death_error(reply.failure)
            self._restarts_left -= 1
        self._backend.replace(reply.producer)  # a dead producer runs no producer_end
        for number, lost_id in enumerate(lost):
            batch_id, positions = self._parts.pop(lost_id, (lost_id, []))
            batch = self._batches[batch_id]
            if lost_id == batch_id:
                positions = list(range(len(batch.items)))
            else:
                batch.parts -= 1
            if (
                reply.kind == _TIMEOUT
                and (reply.call_id, reply.batch_id) == (self._call_id, lost_id)
                and 0 <= reply.position < len(positions)
            ):
                timed_out = positions[reply.position]
                batch.failures.append(self._timeout_failure(reply, batch, timed_out))
                positions = [position for position in positions if position != timed_out]
            elif (
                reply.kind == _DIED and number == 0 and lost_id != batch_id and len(positions) == 1
            ):
                # Its producer ran it alone and died: this item kills producers.
                batch.failures.append(self._poison_failure(reply.failure, batch, positions[0]))
                positions = []
            self._rerun(batch_id, positions, singly=reply.kind == _DIED)

    def _rerun(self, batch_id: int, positions: list[int], *, singly: bool) -> None:
        """Queue items of a batch to be sent again, one by one or together."""
        batch = self._batches[batch_id]
        self._sizes.pop(batch_id, None)  # its reply, the sizer's measure, will not come
        parts = [[position] for position in positions] if singly else [positions]
        for part in parts:
            if part:
                batch.parts += 1
                self._resend.append((batch_id, part))
        self._finish_parts(batch_id)

    def _consume(self) -> Iterator[list[Any]]:
        """Yield the results of the batches that are done (in input order when ordered)."""
        done = self._done
        if not self._ordered:
            while done:
                batch_id = next(iter(done))
                yield from self._deliver(batch_id, *done.pop(batch_id))
            return
        while self._next_to_consume in done:
            batch_id = self._next_to_consume
            yield from self._deliver(batch_id, *done.pop(batch_id))
            self._next_to_consume += 1

    def _deliver(
        self, batch_id: int, results: list[Any], failures: list[_Failure]
    ) -> Iterator[list[Any]]:
        """Yield a batch's results; then raise its first failure, or record its failures."""
        if results:
            if self._bar is not None:
                self._bar.update(len(results))
            yield results
        if failures and (not self._limits.skip or failures[0].kind == "input"):
            raise _failure_to_exception(failures[0])
        self.failures.extend(_item_failure(failure) for failure in failures)
        del self._batches[batch_id]
        self._in_window -= 1

    @staticmethod
    def _locate(batch: _Batch, failure: _Failure) -> _Failure:
        """Turn a position in a batch into a position in the input."""
        if failure.item is None:
            return failure
        return failure._replace(item=batch.indexes[failure.item])

    def _skip_unpicklable_items(
        self, indexes: Sequence[int], batch: Sequence[Any], device: str
    ) -> tuple[list[int], list[Any]]:
        """Record the items that cannot be pickled as failed; return the others."""
        kept_indexes: list[int] = []
        kept: list[Any] = []
        for index, item in zip(indexes, batch, strict=True):
            try:
                self._backend.check_sendable(item)
            except _RESOURCE_ERRORS:
                raise  # the system's refusal, not the item's fault: see _Failure.unpicklable
            except Exception as err:
                error = self._unpicklable_item([item], index)[1]
                self.failures.append(ItemFailure(index, device, error, _format_traceback(err)))
                continue
            kept_indexes.append(index)
            kept.append(item)
        return kept_indexes, kept

    def _death_error(self, death: _Failure) -> ProducerDiedError:
        lost = f"the call stopped with {self._in_window} of its batches in flight"
        if self._limits.max_restarts:
            lost += f", max_restarts={self._limits.max_restarts} being used up"
        return _death_error(death._replace(summary=lost))

    def _timeout_failure(self, reply: _Reply, batch: _Batch, position: int) -> _Failure:
        assert reply.failure is not None
        index, device, pid = batch.indexes[position], reply.failure.device, reply.failure.pid
        message = (
            f"producer_work on item {index} of the input ran past item_timeout="
            f"{self._limits.item_timeout:g} s (at least {reply.seconds:.1f} s) in the producer "
            f"for {device!r} (pid {pid}); that producer was killed and replaced. Raise "
            f"item_timeout if such items may take longer, or find out why this one hangs."
        )
        error = ItemTimeoutError(message, index=index, device=device, seconds=reply.seconds)
        return _Failure.of_item("item-timeout", error, item=index, death=reply.failure)

    def _poison_failure(self, death: _Failure, batch: _Batch, position: int) -> _Failure:
        index = batch.indexes[position]
        used = self._limits.max_restarts - self._restarts_left
        error = _death_error(death)
        message = (
            f"{str(error).split(' The runner is closed', 1)[0]} It was running item {index} "
            f"of the input alone, after that item's batch had already lost a producer: the "
            f"item kills its producer. The producer was replaced ({used} of max_restarts="
            f"{self._limits.max_restarts} restarts used by this call)."
        )
        error = ProducerDiedError(
            message, device=death.device, pid=death.pid, exitcode=death.exitcode
        )
        return _Failure.of_item("poison", error, item=index, death=death)

    @staticmethod
    def _unpicklable_item(batch: Sequence[Any], start: int) -> tuple[int, NotPicklableError]:
        """Find the item of ``batch`` that cannot be pickled: its position, and the error."""
        position, error = _find_unpicklable(batch)
        value = batch[position] if position >= 0 else batch
        position = max(position, 0)
        unpicklable = NotPicklableError(
            f"item {start + position} of the input cannot be pickled to reach the "
            f"producers: {_describe_value(value)} ({type(error).__name__}: {error}). Send "
            f"plain data such as paths or arrays, or use backend='thread'."
        )
        unpicklable.__cause__ = error
        return position, unpicklable


def _item_failure(failure: _Failure) -> ItemFailure:
    return ItemFailure(
        index=-1 if failure.item is None else failure.item,
        device=failure.device,
        error=_failure_to_exception(failure),
        traceback=failure.traceback,
    )


def _skipped_warning(failures: list[ItemFailure], items: int) -> str:
    first = min(failures, key=_by_index)
    return (
        f"{len(failures)} of {items} items failed and were skipped (on_error='skip'); "
        f"runner.failures lists them, the first being item {first.index} on "
        f"{first.device!r}: {type(first.error).__name__}: {first.error}"
    )


# -- Internals: backends (where producers run) ------------------------------------------------


class _ProducerSpec(NamedTuple):
    """What a producer needs to start; pickled for spawn and forkserver."""

    runner_cls: type[BaseRunner]
    producer: int  # its position in devices
    device: str  # the device the hooks see
    label: str  # the device errors name (differs from ``device`` on Ray: see _ray_device)
    cfg: Any
    options: dict[str, Any]
    task: _Task | None = None  # imap's function, run instead of the runner's hooks
    skip: bool = False  # on_error="skip": go on past an item that raised
    pickler: _Pickler = ForkingPickler  # see BaseRunner._prepare_transport


class _Task(NamedTuple):
    """The function of ``imap``, and its ``init``, in place of a runner's producer hooks."""

    fn: Callable[..., Any]  # fn(item), or fn(state, item) with state = init(device, cfg)
    init: Callable[[str, Any], Any] | None


class _Outcome(NamedTuple):
    """What a producer made of one batch."""

    results: Sequence[Any]  # all of them, or those of the items before the failed one
    seconds: float
    failure: _Failure | None
    skipped: list[_Failure]  # under on_error="skip": the failed items, no result each


# -- Internals: messages between the caller and its producers ---------------------------------
#
# One small named type per kind of message, pickled by reference (the class, then the
# fields); the thread backend passes the same objects through queues, and Ray's actors
# return ``_Done`` and ``_Skipped`` from their ``run``:
#
#   caller -> producer:  _Work, _Cancel, _Stop
#   producer -> caller:  _Alive, _Ready (after producer_init), _Done or _Skipped (per batch),
#                        _Ended (after producer_end)


class _Work(NamedTuple):
    """Run ``items``, a batch (or a part of one, ``batch_id < 0``) of call ``call_id``."""

    call_id: int
    batch_id: int
    items: Sequence[Any]


class _Cancel(NamedTuple):
    """Skip the batches of the calls up to ``call_id`` (read by the producer's reader)."""

    call_id: int


class _Stop(NamedTuple):
    """Run ``producer_end`` and exit."""


class _Alive(NamedTuple):
    """The engine's code runs in the new producer process (its imports went well)."""


class _Ready(NamedTuple):
    """``producer_init`` ran; ``failure`` says how it failed, if it did."""

    failure: _Failure | None


class _Done(NamedTuple):
    """A batch ran: its results, or those of the items before ``failure``.

    On a pipe ``results`` may be ``_CapturedResults`` (see ``_release_results``); from
    Ray it is the pickled list. ``nbytes`` is set by the receiver: what the message
    stood for (see ``_message_bytes``).
    """

    call_id: int
    batch_id: int
    results: Any
    seconds: float
    failure: _Failure | None
    skipped: list[_Failure]  # under on_error="skip": the failed items, no result each
    nbytes: int = 0


class _Skipped(NamedTuple):
    """A batch of a cancelled call, not run."""

    call_id: int
    batch_id: int


class _Ended(NamedTuple):
    """``producer_end`` ran; ``failure`` says how it failed, if it did."""

    failure: _Failure | None


class _Unreadable(NamedTuple):
    """Inside a producer, from its reader: a batch that could not be unpickled."""

    error: BaseException


class _Alarm(NamedTuple):
    """Thread backend, never sent: wakes the caller's wait for ``close()`` from a thread."""


#: What a producer process reads from its inbox, and what it sends.
_ToProducer = _Work | _Stop | _Unreadable
_FromProducer = _Alive | _Ready | _Done | _Skipped | _Ended


class _Reply(NamedTuple):
    producer: int  # its position in devices
    kind: int  # _RESULT, _FAILED, _SKIPPED or _DIED
    call_id: int
    batch_id: int
    results: list[Any]  # for _FAILED: the results of the items before the failed one
    seconds: float
    nbytes: int  # bytes of the reply, see _message_bytes (0 when nothing was pickled)
    failure: _Failure | None
    skipped: Sequence[_Failure] = ()  # items that failed under on_error="skip"
    lost: Sequence[tuple[int, int]] = ()  # _DIED, _TIMEOUT: (call, batch) left unanswered
    position: int = -1  # _TIMEOUT: the item that ran too long, in its batch

    @classmethod
    def of(cls, producer: int, message: _Done | _Skipped) -> _Reply:
        """Return the reply that a ``_Done`` or ``_Skipped`` of ``producer`` makes."""
        if type(message) is _Skipped:
            return cls(producer, _SKIPPED, message.call_id, message.batch_id, [], 0.0, 0, None)
        assert type(message) is _Done
        kind = _RESULT if message.failure is None else _FAILED
        return cls(
            producer,
            kind,
            message.call_id,
            message.batch_id,
            message.results,
            message.seconds,
            message.nbytes,
            message.failure,
            message.skipped,
        )


class _ItemNotPicklableError(Exception):
    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Backend(abc.ABC):
    """Producers of one runner, driven from the caller's thread.

    A backend starts producers (running ``_setup_producer`` and ``producer_init`` in
    each), sends them batches, returns their replies, and stops them. It keeps, per
    producer, the batches sent and not yet answered, including those of earlier calls
    that were cancelled; the engine above it (``_Call``) owns batching, the
    window, ordering and errors. To add a backend (as Ray was), implement the
    abstract methods and add a branch to ``BaseRunner._create_backend``.
    """

    #: Seconds of producer work per batch: the larger a batch's fixed cost, the larger.
    batch_seconds: ClassVar[float] = _TARGET_BATCH_SECONDS

    def __init__(self, specs: list[_ProducerSpec], limits: _Limits) -> None:
        self.specs = specs
        self.size = len(specs)
        self.limits = limits
        self._pending: list[dict[tuple[int, int], None]] = [{} for _ in specs]
        self._cancelled = -1  # the latest cancelled call id
        self._served = [0] * self.size  # items sent to each producer since it started
        self._dead: set[int] = set()  # producers that ended and are not replaced
        self.interrupted: str | None = None  # why another thread stopped the call

    def interrupt(self, reason: str) -> None:
        """Make the call that waits in ``collect`` (in another thread) stop at once."""
        self.interrupted = reason
        self._wake()

    @abc.abstractmethod
    def _wake(self) -> None:
        """Make a ``_receive`` blocked in another thread return, with or without replies."""

    @abc.abstractmethod
    def start(self) -> list[_Failure]:
        """Start every producer and wait for its ``producer_init``; return failures."""

    @abc.abstractmethod
    def _send(self, index: int, call_id: int, batch_id: int, items: Sequence[Any]) -> int:
        """Send a batch; return its size (``_message_bytes``). Raise ``_ItemNotPicklableError``."""

    @abc.abstractmethod
    def _send_cancel(self, call_id: int) -> None:
        """Tell every producer to skip batches of calls up to ``call_id``."""

    @abc.abstractmethod
    def _receive(self) -> list[_Reply]:
        """Block until a reply (or a death) is there, or ``_wake``; return all there are."""

    @abc.abstractmethod
    def find_death(self) -> _Failure | None:
        """Return a failure for a producer that died while idle, without blocking."""

    @abc.abstractmethod
    def stop(self, timeout: float | None) -> list[_Failure]:
        """Run ``producer_end`` everywhere, wait up to ``timeout``, then kill; never raise."""

    @abc.abstractmethod
    def kill(self) -> None:
        """End every producer now, without ``producer_end``."""

    @abc.abstractmethod
    def _replace(self, index: int) -> list[_Failure]:
        """Put a new producer in the place of producer ``index``, once its batches are gone.

        A live producer first runs ``producer_end`` (its failure is returned); a dead one
        is reaped. The new producer has run ``producer_init`` when this returns.

        Raises:
            ProducerDiedError: The new producer failed to start.
        """

    def replace(self, index: int) -> list[_Failure]:
        """Replace producer ``index`` (see ``_replace``) and forget what it was sent."""
        self._pending[index].clear()
        self._served[index] = 0
        return self._replace(index)

    def is_whole(self) -> bool:
        """Tell whether every producer is alive (none died without being replaced)."""
        return not self._dead

    def replace_dead(self) -> None:
        """Replace every producer found dead (see ``find_death``), between two calls."""
        while self.find_death() is not None:
            continue
        for index in sorted(self._dead):
            self.replace(index)

    def runs_in_this_thread(self) -> bool:
        """Tell whether the calling thread is one of these producers (a hook calls back)."""
        return False

    def least_loaded(self, limit: int) -> int | None:
        """Return the producer with the fewest pending batches, if it has fewer than limit.

        A producer that ran its ``max_items_per_producer`` takes no more batches, and one
        running a part of a batch (a negative id, see ``_Call._rerun``) takes nothing else
        until it answers; parts are sent with ``limit=1``, to an idle producer only. A
        dying producer can lose the replies of batches it had finished (on Ray, a reply
        not yet sent; on pipes, a reply whose tensors it still had to hand over), so only
        a death during a lone one-item part names that item as the one that kills.
        """
        pending, served, most = self._pending, self._served, self.limits.max_items
        candidates = [
            i
            for i in range(self.size)
            if (most is None or served[i] < most) and not any(key[1] < 0 for key in pending[i])
        ]
        index = min(candidates, key=lambda i: len(pending[i]), default=None)
        return index if index is not None and len(pending[index]) < limit else None

    def allowance(self, index: int) -> int:
        """Return how many more items producer ``index`` may take (``max_items_per_producer``)."""
        most = self.limits.max_items
        return _MAX_BATCH_ITEMS if most is None else most - self._served[index]

    def check_sendable(self, item: Any) -> None:
        """Raise what pickling ``item`` for a producer raises, if it does."""
        _dumps(item, self.specs[0].pickler)

    def submit(self, index: int, call_id: int, batch_id: int, items: Sequence[Any]) -> int:
        nbytes = self._send(index, call_id, batch_id, items)
        self._pending[index][(call_id, batch_id)] = None
        self._served[index] += len(items)
        return nbytes

    def cancel(self, call_id: int) -> None:
        if call_id > self._cancelled and any(self._pending):
            self._cancelled = call_id
            self._send_cancel(call_id)

    def collect(self) -> list[_Reply]:
        """Block until replies arrive; return them, each matched to its pending batch.

        First, replace the idle producers that ran their ``max_items_per_producer``, and
        if there were any, return no replies: the caller has producers to send to again.

        Raises:
            Exception: What ``producer_end`` raised in a producer being replaced.
        """
        if self._recycle():
            return []
        return [self._match(reply) for reply in self._receive()]

    def _recycle(self) -> bool:
        most = self.limits.max_items
        if most is None:
            return False
        due = [i for i in range(self.size) if self._served[i] >= most and not self._pending[i]]
        failures = [failure for index in due for failure in self.replace(index)]
        if failures:
            _raise_failure(failures[0])
        return bool(due)

    def _match(self, reply: _Reply) -> _Reply:
        if reply.kind in (_DIED, _TIMEOUT):
            # Its batches will never be answered: the call runs their items again.
            pending = self._pending[reply.producer]
            lost = list(pending)
            pending.clear()
            return reply._replace(lost=lost)
        pending = self._pending[reply.producer]
        key = (reply.call_id, reply.batch_id)
        if key not in pending:
            # A batch the producer could not unpickle, so it could not read its ids:
            # each producer answers in the order it was sent, so it is the oldest.
            key = next(iter(pending))
            reply = reply._replace(call_id=key[0], batch_id=key[1])
        del pending[key]
        return reply


#: Results that cannot change after producer_work returns them: sent as they are.
_SCALAR_TYPES: Final = frozenset({int, float, complex, bool, str, bytes, type(None)})


def _is_immutable(result: Any, scalars: frozenset[object] = _SCALAR_TYPES) -> bool:
    """Whether ``result`` is a scalar or a tuple or frozenset of immutable values.

    Such results cannot change after ``producer_work`` returns them, so they travel
    with the batch as scalars do: ``(index, score)`` pairs cost no capture. A tuple
    cannot contain itself except through a mutable value, which ends the recursion.
    """
    kind = type(result)
    if kind in scalars:
        return True
    if kind is not tuple and kind is not frozenset:
        return False
    # A loop, not all(): a generator costs ~4x more here, and this runs for every result.
    for value in result:  # noqa: SIM110
        if type(value) not in scalars and not _is_immutable(value):
            return False
    return True


class _CapturedMark:
    """Stands in a batch's results for one result pickled into its capture stream."""

    def __reduce__(self) -> str:
        return "_CAPTURED"  # by reference: the receiver gets its own _CAPTURED


_CAPTURED: Final = _CapturedMark()


class _ResultCapture:
    """Pickle a batch's mutable results one by one, the moment each is returned.

    The engine's own pickler writes them all into one buffer, clearing its memo after
    each, so no result refers to the state of another (about 0.3 us per small result);
    the receiver loads them all with one unpickler (see ``_release_results``). A
    subclass's pickler (easycore-torch) keeps per-message state in its ``dumps``, so
    each result becomes a message of its own. ``dumps`` overrides both (Ray's cloudpickle).
    """

    def __init__(self, pickler: _Pickler, dumps: Callable[[Any], bytes] | None = None) -> None:
        self._dumps = dumps
        self._chunks: list[bytes] = []
        self._buffer: io.BytesIO | None = None
        self._pickler: pickle.Pickler | None = None
        if dumps is None and pickler is ForkingPickler:
            self._buffer = io.BytesIO()
            self._pickler = ForkingPickler(self._buffer, pickle.HIGHEST_PROTOCOL)
        elif dumps is None:
            self._dumps = functools.partial(_dumps_one, pickler)
        self._count = 0

    def add(self, result: Any) -> Any:
        """Pickle ``result`` now; return the mark that stands for it in the batch."""
        if self._pickler is not None:
            assert self._buffer is not None
            end = self._buffer.tell()
            try:
                self._pickler.dump(result)
            except BaseException:
                # A result that fails half-way must not leave a partial pickle in the
                # stream: the results captured after it would not load.
                self._buffer.seek(end)
                self._buffer.truncate()
                raise
            finally:
                self._pickler.clear_memo()
        else:
            assert self._dumps is not None
            self._chunks.append(self._dumps(result))
        self._count += 1
        return _CAPTURED

    def wrap(self, results: list[Any]) -> Sequence[Any]:
        """Return a batch's results as they travel: with the captured ones, if any."""
        if not self._count:
            return _ImmutableResults(results)
        chunks = self._chunks if self._buffer is None else [self._buffer.getvalue()]
        return _CapturedResults(results, chunks, self._count)


def _dumps_one(pickler: _Pickler, result: Any) -> bytes:
    # Not _dumps: the bytes a batch moves beside the pipe add up over its results.
    return bytes(pickler.dumps(result, pickle.HIGHEST_PROTOCOL))


class _ResultCopy:
    """Copy a batch's mutable results the moment each is returned (the thread backend).

    Nothing crosses a process there, so a copy is all a result needs to keep the state
    it was returned in; ``copy.deepcopy`` copies arrays and tensors where they are (a
    CUDA tensor stays on its device), which a pickle round trip would not.
    """

    def add(self, result: Any) -> Any:
        """Return a deep copy of ``result``, or ``result`` itself if it cannot be copied."""
        try:
            return copy.deepcopy(result)
        except Exception:
            # A result holding a lock or an open file cannot be copied; the thread backend
            # hands such objects over as they are, as it always did (see the docs).
            return result

    def wrap(self, results: list[Any]) -> Sequence[Any]:
        return results


class _CapturedResults(list):  # type: ignore[type-arg]
    """A batch's results where ``_CAPTURED`` marks the ``captured`` ones in ``chunks``."""

    def __init__(self, results: list[Any], chunks: list[bytes], captured: int) -> None:
        super().__init__(results)
        self.chunks = chunks
        self.captured = captured

    def __reduce__(self) -> tuple[Any, ...]:
        return (_CapturedResults, (list(self), self.chunks, self.captured))


class _ImmutableResults(collections.abc.Sequence[Any]):
    """A batch's results when none needed capture: scalars, and tuples of them, only.

    ``marshal`` writes such values faster than pickle (an int past 32 bits in 32 ns
    against 48, a short str in 20 against 63), and that is a good share of a tiny
    task's cost in its producer. Unpickling calls ``marshal.loads``, so the receiver
    gets a plain list; both ends run the same Python, as marshal's format needs. The
    list is marshalled as it is, not copied: a copy would give every value a second
    reference, which sends marshal down its slower path for shared objects.
    """

    __slots__ = ("values",)

    def __init__(self, values: list[Any]) -> None:
        self.values = values

    def __getitem__(self, index: Any) -> Any:
        return self.values[index]

    def __len__(self) -> int:
        return len(self.values)

    def __reduce__(self) -> tuple[Any, ...]:
        try:
            return (marshal.loads, (marshal.dumps(self.values),))
        except ValueError:  # a tuple nested deeper than marshal goes: pickle it
            return (list, (self.values,))


def _release_results(results: list[Any]) -> list[Any]:
    """Unpickle the captured results of a batch, in order, on the receiving side."""
    if type(results) is not _CapturedResults:
        return results
    captured = _load_captured(results.chunks, results.captured)
    if len(captured) == len(results):  # every result was captured: nothing to merge
        return captured
    loaded = iter(captured)
    return [next(loaded) if result is _CAPTURED else result for result in results]


def _load_captured(chunks: list[bytes], count: int) -> list[Any]:
    if len(chunks) == count:  # a message per result
        return list(map(pickle.loads, chunks))
    # One stream: a single unpickler loads its results without a Python step per result.
    load = pickle.Unpickler(io.BytesIO(chunks[0])).load
    return list(itertools.starmap(load, itertools.repeat((), count)))


class _ResultNotPicklableError(Exception):
    """A result that could not be captured the moment ``producer_work`` returned it."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


def _settle(result: Any, last: type, add: Callable[[Any], Any]) -> tuple[type, Any]:
    """Return the scalar type to expect next and what to send for ``result``.

    A scalar becomes the type to expect; an immutable result travels as it is, a mutable
    one is captured now (see ``_keep``).
    """
    kind = type(result)
    if kind in _SCALAR_TYPES:
        return kind, result
    if _is_immutable(result):
        return last, result
    return last, _keep(result, add)


def _keep(result: Any, add: Callable[[Any], Any]) -> Any:
    """Return what stands in its batch for a mutable result, fixed as it was returned.

    A list or dict of scalars is copied (``list.copy``, ``dict.copy``) and travels with
    the batch: about a third of the cost of pickling it alone. Any other result is
    ``add``'s (pickled, or deep-copied on threads).
    """
    kind, scalars = type(result), _SCALAR_TYPES
    if kind is list:
        # A loop, not issuperset(): that builds a set, which costs short lists 3x more.
        for value in result:
            if type(value) not in scalars:
                break
        else:
            return result.copy()
    elif (
        kind is dict
        and scalars.issuperset(map(type, result))
        and scalars.issuperset(map(type, result.values()))
    ):
        return result.copy()
    try:
        return add(result)
    except Exception as err:
        raise _ResultNotPicklableError(result) from err


class _ProducerCore:
    """The hooks of one producer, whatever runs it (a process, a thread, a Ray actor).

    For ``imap``'s function the spec carries a ``_Task``: its ``init`` stands in for
    ``producer_init`` and its ``fn`` for ``producer_work``. ``capture`` makes, per batch,
    what keeps each mutable result as it was returned: a ``_ResultCapture`` where results
    cross processes, a ``_ResultCopy`` for threads.
    """

    def __init__(
        self,
        spec: _ProducerSpec,
        *,
        capture: Callable[[], _ResultCapture | _ResultCopy],
        local: bool = False,
    ) -> None:
        self.spec = spec
        self.cfg = spec.cfg
        self._local = local  # exceptions stay objects instead of pickled blobs
        task = spec.task
        # The work is self._work(*self._leading, item), called directly (see _run_items).
        self._work: Callable[..., Any] = spec.runner_cls.producer_work if task is None else task.fn
        self._leading: tuple[Any, ...] = (spec.device, self.cfg) if task is None else ()
        self._work_name = "producer_work" if task is None else "fn"
        self.current: tuple[int, int, int, Iterator[Any]] | None = None  # see progress()
        self._capture = capture

    def init(self) -> _Failure | None:
        spec, task = self.spec, self.spec.task
        try:
            spec.runner_cls._setup_producer(spec.device, spec.options)
        except BaseException as err:
            return self._failure(err, "_setup_producer")
        try:
            if task is None:
                spec.runner_cls.producer_init(spec.device, self.cfg)
            elif task.init is not None:
                self._leading = (task.init(spec.device, self.cfg),)
        except BaseException as err:
            return self._failure(err, "producer_init" if task is None else "init")
        return None

    def run(self, items: Sequence[Any], call_id: int = -1, batch_id: int = -1) -> _Outcome:
        """Run the work on a batch: its results, the seconds it took, and a failure if any.

        On a failure the results are those of the items before the failed one; under
        ``on_error="skip"`` the work goes on and each failed item is in ``skipped``.
        Each mutable result is captured (copied or pickled, see ``_keep``) the moment the
        work returns it, so a hook that returns a buffer it then reuses sends each state
        of it (the original easycore sent each result at once). Immutable results
        (scalars, tuples of scalars) need no capture, which keeps tiny tasks fast; the
        list is a ``_CapturedResults`` if any result was pickled (see ``_release_results``).
        """
        remaining = iter(items)
        # Read by another thread (see progress()): it costs nothing per item.
        self.current = (call_id, batch_id, len(items), remaining)
        capture = self._capture()
        results: list[Any] = []
        skipped: list[_Failure] = []
        start = time.perf_counter()
        try:
            while True:
                failure = self._run_items(remaining, len(items), results, capture.add)
                if failure is None or not self.spec.skip:
                    break
                skipped.append(failure)
                failure = None
        finally:
            self.current = None
        return _Outcome(capture.wrap(results), time.perf_counter() - start, failure, skipped)

    def _run_items(
        self,
        remaining: Iterator[Any],
        size: int,
        results: list[Any],
        add: Callable[[Any], Any],
    ) -> _Failure | None:
        """Run items until they run out or one fails; return the failure, if any.

        One loop per call shape: a Python call from Python code runs inline, where
        ``map`` or ``work(*leading, item)`` would cost a tiny task a quarter more. A
        result of the last scalar type costs one ``is``; others go through ``_settle``.
        """
        work, leading, append = self._work, self._leading, results.append
        last: type = int  # the scalar type the last results had
        try:
            if len(leading) == 2:  # producer_work(device, cfg, item)
                first, second = leading
                for item in remaining:
                    result = work(first, second, item)
                    if type(result) is not last:
                        last, result = _settle(result, last, add)
                    append(result)
            elif leading:  # fn(init's value, item)
                (first,) = leading
                for item in remaining:
                    result = work(first, item)
                    if type(result) is not last:
                        last, result = _settle(result, last, add)
                    append(result)
            else:  # fn(item)
                for item in remaining:
                    result = work(item)
                    if type(result) is not last:
                        last, result = _settle(result, last, add)
                    append(result)
        except _ResultNotPicklableError as err:
            position = size - operator.length_hint(remaining) - 1
            failure = _unpicklable_result_failure(self, [err.result], err.__cause__ or err)
            return failure._replace(item=position)
        except BaseException as err:
            position = size - operator.length_hint(remaining) - 1
            return self._failure(err, self._work_name, item=position)
        return None

    def progress(self) -> tuple[int, int, int]:
        """Return the ids of the batch and the position of the item at work, or ``-1``s."""
        current = self.current
        if current is None:
            return (-1, -1, -1)
        call_id, batch_id, size, remaining = current
        return (call_id, batch_id, size - operator.length_hint(remaining) - 1)

    def end(self) -> _Failure | None:
        try:
            self.spec.runner_cls.producer_end(self.spec.device, self.cfg)
        except BaseException as err:
            return self._failure(err, "producer_end")
        return None

    def _failure(self, err: BaseException, hook: str, item: int | None = None) -> _Failure:
        return _Failure.raised(
            err, hook=hook, device=self.spec.label, pid=os.getpid(), item=item, local=self._local
        )


# -- Internals: the process backend -------------------------------------------------------------

# Parent ends of every producer pipe of this process. A producer started by fork closes
# the copies it inherited, so that a producer sees end-of-file the moment its own
# parent dies (or closes its pipe), not when the last of its siblings exits.
_PARENT_ENDS: weakref.WeakSet[Connection] = weakref.WeakSet()


class _ProcessBackend(_Backend):
    def __init__(self, specs: list[_ProducerSpec], limits: _Limits, context: BaseContext) -> None:
        super().__init__(specs, limits)
        self._context = context
        self._method = context.get_start_method()
        self._processes: list[BaseProcess] = []
        self._conns: list[Connection] = []
        self._owner: dict[Any, tuple[int, bool]] = {}  # wait() object -> (index, is_conn)
        # Under item_timeout: each producer's stamp (see _Stamper) and what we last read.
        self._stamps: list[Any] = []
        self._watch = _TimeoutWatch(self.size, limits.item_timeout)
        self._tame_openmp = False  # see _limit_inherited_openmp
        # Written by interrupt() from another thread; _receive waits on it with the pipes.
        self._alarm, self._alarm_writer = multiprocessing.Pipe(duplex=False)

    def start(self) -> list[_Failure]:
        fork = self._method == "fork"
        payloads = [spec if fork else self._pickle_spec(spec) for spec in self.specs]
        # Checked at every start: the parent may have started a thread pool since.
        self._tame_openmp = fork and _has_native_threads()
        with _main_file_hidden_if_missing(fork):
            for spec, payload in zip(self.specs, payloads, strict=True):
                self._start_one(spec, payload)
        alive: set[int] = set()
        ready: set[int] = set()
        failures: list[_Failure] = []
        while len(ready | self._dead) < self.size:
            for index, message in self._wait_messages(None, skip=ready | self._dead):
                if message is None:
                    if index not in alive:
                        failures.append(self._died_unprepared(index))
                    elif index not in ready:
                        failures.append(self._died(index, "while starting (in producer_init)"))
                elif type(message) is _Alive:
                    alive.add(index)
                elif type(message) is _Ready:
                    ready.add(index)
                    if message.failure is not None:
                        failures.append(message.failure)
        return failures

    def _start_one(self, spec: _ProducerSpec, payload: Any) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        # A forked child holds copies of every parent end, its own included.
        inherited = [*_PARENT_ENDS, parent_end] if self._method == "fork" else []
        stamp = None
        if self.limits.item_timeout is not None:
            stamp = self._context.RawArray("d", [-1.0, -1.0, -1.0, self.limits.item_timeout])
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_producer_main,
            args=(child_end, payload, inherited, spec.label, self._child_setup(stamp)),
            name=f"easycore-producer-{spec.producer}-{spec.label}",
        )
        process.start()
        child_end.close()
        _PARENT_ENDS.add(parent_end)
        index = spec.producer
        if index == len(self._processes):
            self._processes.append(process)
            self._conns.append(parent_end)
            self._stamps.append(stamp)
        else:  # a replacement
            self._processes[index], self._conns[index], self._stamps[index] = (
                process,
                parent_end,
                stamp,
            )
        self._owner[parent_end] = (index, True)
        self._owner[process.sentinel] = (index, False)

    def _pickle_spec(self, spec: _ProducerSpec) -> bytes:
        try:
            return _dumps_spec(spec)
        except Exception as err:
            fix = (
                "Let fn and init capture only picklable objects (make locks, files or "
                "models in init), keep cfg to plain data"
                if spec.task is not None
                else "Define the runner class at module level of an importable module, keep "
                "cfg to plain data"
                if _is_main_importable()
                else f"In {_interactive_main_name()}, `pip install cloudpickle` (a copied "
                f"easycore_parallel.py needs it installed to send such objects by value)"
            )
            raise NotPicklableError(
                f"{_explain_spec_pickling(spec)} cannot be pickled to start producers with "
                f"start_method={self._method!r} ({type(err).__name__}: {err}). {fix}, or "
                f"use start_method='fork' where it is safe."
            ) from err

    def _child_setup(self, stamp: Any) -> _ChildSetup:
        return _ChildSetup(_unloadable_main_hint(), tame_openmp=self._tame_openmp, stamp=stamp)

    def _died_unprepared(self, index: int) -> _Failure:
        """Describe a producer that died before the engine's code ran in it."""
        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        rerun = (
            f" and re-runs the main module {path} in it (guard the script's work with "
            f"`if __name__ == '__main__':`)"
            if path is not None and self._method != "fork"
            else ""
        )
        return self._died(index, "while starting, before the runner's code ran in it")._replace(
            hint=f"Python's multiprocessing ({self._method}) could not prepare the process: it "
            f"imports the modules your runner needs{rerun}; the producer's own error is "
            f"above, on this process's stderr."
        )

    def _send(self, index: int, call_id: int, batch_id: int, items: Sequence[Any]) -> int:
        try:
            data = _dumps(_Work(call_id, batch_id, items), self.specs[index].pickler)
        except _RESOURCE_ERRORS:
            raise  # the system's refusal, not the items' fault: see _Failure.unpicklable
        except Exception as err:
            raise _ItemNotPicklableError(err) from err
        self._send_bytes(index, data)
        return _message_bytes(data)

    def _send_cancel(self, call_id: int) -> None:
        data = _dumps(_Cancel(call_id))
        for index in range(self.size):
            if self._pending[index]:
                self._send_bytes(index, data)

    def _send_bytes(self, index: int, data: bytes | memoryview) -> None:
        # A dead producer's pipe is broken; its sentinel is ready and _receive reports it. A
        # stopped backend's pipes are closed: an imap iterator left after close() cancels
        # its call into them.
        with contextlib.suppress(OSError):
            self._conns[index].send_bytes(data)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed: the backend is gone already
            self._alarm_writer.send_bytes(b"")

    def _receive(self) -> list[_Reply]:
        replies: list[_Reply] = []
        for index, message in self._wait_messages(self._watch.seconds, skip=self._dead, alarm=True):
            if message is None:
                when = "while running producer_work" if self._pending[index] else "between calls"
                death = self._died(index, when)
                replies.append(_Reply(index, _DIED, -1, -1, [], 0.0, 0, death))
            else:
                replies.extend(self._to_replies(index, message))
        if self._watch.is_due():
            replies.extend(self._end_timed_out())
        return replies

    @staticmethod
    def _to_replies(index: int, message: _FromProducer) -> list[_Reply]:
        if type(message) is _Done or type(message) is _Skipped:
            return [_Reply.of(index, message)]
        return []

    def _end_timed_out(self) -> list[_Reply]:
        """Kill the producers stuck on one item past ``item_timeout``; reply for each."""
        replies: list[_Reply] = []
        for index, stamp in enumerate(self._stamps):
            if index in self._dead or not self._pending[index]:
                self._watch.forget(index)
                continue
            key = (int(stamp[0]), int(stamp[1]), int(stamp[2]))
            seconds = self._watch.seconds_on(index, key)
            if seconds is None:
                continue
            self._processes[index].kill()
            # What it sent before it was killed comes first (a finished batch, say).
            others = set(range(self.size)) - {index}
            while index not in self._dead:
                for _, message in self._wait_messages(None, skip=others):
                    if message is not None:
                        replies.extend(self._to_replies(index, message))
            call_id, batch_id, position = key
            death = self._died(index, "while running producer_work")
            replies.append(
                _Reply(index, _TIMEOUT, call_id, batch_id, [], seconds, 0, death, position=position)
            )
        return replies

    def _wait_messages(
        self, timeout: float | None, *, skip: set[int], alarm: bool = False
    ) -> list[tuple[int, _FromProducer | None]]:
        """Wait on pipes and sentinels; return messages, ``None`` for a producer now dead.

        A producer's messages are read before its death is reported, so nothing it sent
        before dying is lost. With ``alarm``, ``_wake`` ends the wait too.
        """
        objects: list[Any] = [obj for obj, (index, _) in self._owner.items() if index not in skip]
        if not objects:
            return []
        if alarm:
            objects.append(self._alarm)
        messages: list[tuple[int, _FromProducer | None]] = []
        gone: set[int] = set()
        for obj in multiprocessing.connection.wait(objects, timeout):
            if obj is self._alarm:
                self._alarm.recv_bytes()
                continue
            index, is_conn = self._owner[obj]
            if is_conn or index not in gone:
                messages.extend((index, message) for message in self._drain(index, gone))
            if not is_conn:
                gone.add(index)
        for index in sorted(gone - self._dead):
            self._reap(index)
            messages.append((index, None))
        return messages

    def _drain(self, index: int, gone: set[int]) -> list[_FromProducer]:
        conn, messages = self._conns[index], []
        try:
            while conn.poll(0):
                data = conn.recv_bytes()
                messages.append(self._decode(index, data))
        except (EOFError, OSError):
            gone.add(index)  # the producer closed its end: it is exiting
        return messages

    def _reap(self, index: int) -> None:
        """Wait for a producer that closed its pipe or sentinel, and mark it dead."""
        process = self._processes[index]
        process.join(_JOIN_SECONDS)
        if process.is_alive():  # it closed its pipe and lingers: end it
            process.kill()
            process.join(_JOIN_SECONDS)
        self._dead.add(index)

    def _decode(self, index: int, data: bytes) -> _FromProducer:
        """Unpickle a message; raise ``EOFError`` if its producer died before it could be.

        A result may travel beside the pipe (a tensor's shared memory, whose descriptor
        the producer hands over when asked): if the producer died in the meantime, the
        reply is lost with it, and its batch is the dead producer's like any unanswered one.
        """
        try:
            message: _FromProducer = _loads(data)
            if type(message) is not _Done:
                return message
            # Not _loads: _message_bytes counts what every result moved beside the pipe.
            results = _release_results(message.results)
        except Exception as err:
            if isinstance(err, _SENDER_GONE_ERRORS) and self._has_exited(index):
                raise EOFError(f"producer {index} died before its reply was read") from err
            # Its ids are in what could not be read: the oldest batch sent (see _match).
            return _Done(-1, -1, [], 0.0, self._unloadable_result(index, err), [])
        return message._replace(results=results, nbytes=_message_bytes(data))

    def _has_exited(self, index: int) -> bool:
        """Whether producer ``index`` has exited, or does within a moment (it is closing)."""
        process = self._processes[index]
        process.join(_SENDER_GONE_SECONDS)
        return not process.is_alive()

    def _unloadable_result(self, index: int, err: BaseException) -> _Failure:
        return _unloadable_result_failure(err, self.specs[index].label, self._processes[index].pid)

    def _died(self, index: int, when: str) -> _Failure:
        process = self._processes[index]
        return _Failure.died(
            when=when, device=self.specs[index].label, pid=process.pid, exitcode=process.exitcode
        )

    def _replace(self, index: int) -> list[_Failure]:
        failures = [] if index in self._dead else self._retire(index)
        self._forget_process(index)
        spec = self.specs[index]
        self._start_one(spec, spec if self._method == "fork" else self._pickle_spec(spec))
        self._dead.discard(index)
        self._watch.forget(index)
        others = set(range(self.size)) - {index}
        while True:
            for _, message in self._wait_messages(None, skip=others):
                failure: _Failure | None
                if message is None:
                    failure = self._died(index, "while starting (in producer_init)")
                elif type(message) is _Ready:
                    failure = message.failure
                else:
                    continue
                if failure is not None:
                    self._processes[index].kill()
                    self._reap(index)
                    raise _replacement_error(failure)
                return failures

    def _retire(self, index: int) -> list[_Failure]:
        """Run ``producer_end`` in producer ``index`` and wait for it to exit."""
        self._send_bytes(index, _dumps(_Stop()))
        failures: list[_Failure] = []
        others = set(range(self.size)) - {index}
        while index not in self._dead:
            for _, message in self._wait_messages(None, skip=others):
                if type(message) is _Ended and message.failure is not None:
                    failures.append(message.failure)
        return failures

    def _forget_process(self, index: int) -> None:
        conn = self._conns[index]
        del self._owner[conn], self._owner[self._processes[index].sentinel]
        _PARENT_ENDS.discard(conn)
        conn.close()

    def find_death(self) -> _Failure | None:
        for index, process in enumerate(self._processes):
            if index not in self._dead and not process.is_alive():
                self._reap(index)
                return self._died(index, "between calls")
        return None

    def stop(self, timeout: float | None) -> list[_Failure]:
        deadline = None if timeout is None else time.monotonic() + timeout
        stop = _dumps(_Stop())
        for index in range(self.size):
            if index not in self._dead:
                self._send_bytes(index, stop)
        failures: list[_Failure] = []
        ended: set[int] = set()
        waiting = set(range(self.size)) - self._dead
        while waiting:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            messages = self._wait_messages(left, skip=set(range(self.size)) - waiting)
            if not messages and left == 0.0:
                break
            for index, message in messages:
                if message is None:
                    waiting.discard(index)
                    if index not in ended:
                        failures.append(self._died(index, "during producer_end"))
                elif type(message) is _Ended:
                    ended.add(index)
                    if message.failure is not None:
                        failures.append(message.failure)
        for index in sorted(waiting):
            failures.append(self._timed_out(index, timeout))
        self.kill()
        return failures

    def _timed_out(self, index: int, timeout: float | None) -> _Failure:
        label, pid = self.specs[index].label, self._processes[index].pid
        return _Failure.timed_out(
            f"producer for {label!r} (pid {pid}) did not finish its work and producer_end "
            f"within {timeout} s; it was killed",
            device=label,
            pid=pid,
        )

    def kill(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.kill()
        for process in self._processes:
            process.join(_JOIN_SECONDS)
        for conn in self._conns:
            _PARENT_ENDS.discard(conn)
            conn.close()
        self._dead.update(range(len(self._processes)))
        self._alarm.close()
        self._alarm_writer.close()


class _TimeoutWatch:
    """Find, from the producers' stamps, an item that has run longer than ``item_timeout``."""

    def __init__(self, producers: int, item_timeout: float | None) -> None:
        self._timeout = item_timeout
        #: How long the caller waits for replies before reading the stamps again.
        self.seconds = None if item_timeout is None else _stamp_seconds(item_timeout)
        self._seen: list[tuple[tuple[int, int, int], float] | None] = [None] * producers
        self._next_check = 0.0

    def is_due(self) -> bool:
        """Tell whether it is time to read the stamps again."""
        if self.seconds is None:
            return False
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + self.seconds
        return True

    def seconds_on(self, index: int, key: tuple[int, int, int]) -> float | None:
        """Return how long producer ``index`` has been on item ``key``, if past the timeout."""
        assert self._timeout is not None
        now, seen = time.monotonic(), self._seen[index]
        if key[2] < 0 or seen is None or seen[0] != key:
            self._seen[index] = (key, now) if key[2] >= 0 else None
            return None
        elapsed = now - seen[1]
        if elapsed <= self._timeout:
            return None
        self._seen[index] = None
        return elapsed

    def forget(self, index: int) -> None:
        self._seen[index] = None

    def last(self, index: int) -> tuple[int, int, int] | None:
        """Return the item producer ``index`` was last seen at, if any."""
        seen = self._seen[index]
        return None if seen is None else seen[0]


def _explain_spec_pickling(spec: _ProducerSpec) -> str:
    try:
        _dumps_spec(spec.runner_cls)
    except Exception:
        cls = spec.runner_cls
        return f"the runner class {cls.__module__}.{cls.__qualname__}"
    for name, function in zip(("fn", "init"), spec.task or (), strict=False):
        if function is None:
            continue
        try:
            _dumps_spec(_Task(function, None))
        except Exception:
            module = getattr(function, "__module__", "?")
            return f"imap()'s {name} {module}.{getattr(function, '__qualname__', function)}"
    if isinstance(spec.cfg, Mapping):
        for key, value in spec.cfg.items():
            try:
                _dumps_spec(value)
            except Exception:
                return f"cfg[{key!r}] ({_describe_value(value)})"
    return "the producer options" if spec.options else "cfg"


def _dumps_spec(obj: object) -> bytes:
    """Pickle what producers need to start (the runner class, cfg) for spawn or forkserver.

    When ``__main__`` has no file that producers could re-run (a notebook, ``python -c``,
    a script read from stdin, the REPL), its classes and functions travel by value with
    cloudpickle (a dependency of easycore-parallel; a copied module uses it when it is
    installed). A script file's travel by name, as with ``pickle`` (producers re-run the
    script as ``__mp_main__``, so its globals are the script's own), unless that fails:
    then by value too (a lambda or a closure in cfg).
    """
    if _is_main_importable():
        try:
            return bytes(_dumps(obj))
        except Exception:
            pass
    try:
        cloudpickle = importlib.import_module("cloudpickle")
    except ImportError:
        return bytes(_dumps(obj))
    return bytes(cloudpickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def _is_main_importable() -> bool:
    """Tell whether spawn and forkserver children can import ``__main__`` again."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return True  # none, or run with python -m: imported by name
    path = getattr(main, "__file__", None)
    start_dir = getattr(multiprocessing.process, "ORIGINAL_DIR", None) or os.getcwd()
    return isinstance(path, str) and os.path.isfile(os.path.join(start_dir, path))


@contextlib.contextmanager
def _main_file_hidden_if_missing(fork: bool) -> Iterator[None]:
    """Keep spawn and forkserver from re-running a main module that has no file.

    ``python - < script.py`` names its main module ``<stdin>``; a child started by spawn
    or forkserver tries to run that path again and dies before any of our code runs.
    Producers do not need it: the runner class reaches them by value (cloudpickle).
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if fork or main is None or path is None or _is_main_importable():
        yield
        return
    del main.__file__  # read by multiprocessing.spawn.get_preparation_data only
    try:
        yield
    finally:
        main.__file__ = path


def _unloadable_main_hint() -> str:
    """Say how to run a runner class defined where producers cannot import it from."""
    if _is_main_importable():
        return (
            "producers import the module that defines the runner: it must be importable "
            "from sys.path, and the script must guard its work with "
            "`if __name__ == '__main__':`"
        )
    where = _interactive_main_name()
    return (
        f"the runner is defined in {where}, which producers cannot import: "
        f"`pip install cloudpickle` sends such classes by value (easycore-parallel "
        f"depends on it; a copied easycore_parallel.py needs it installed), or move the "
        f"runner class into a .py file next to it and import it from there"
    )


def _interactive_main_name() -> str:
    """Name what ``__main__`` is when it is not a script file."""
    main = sys.modules.get("__main__")
    if "IPython" in sys.modules or "ipykernel" in sys.modules:
        return "a notebook or IPython cell"
    if getattr(main, "__file__", None) == "<stdin>":
        return "a script read from stdin (python - < file)"
    if sys.argv[:1] == ["-c"]:
        return "a `python -c` command"
    return "the interactive interpreter"


def _finalize_backend(backend: _Backend, description: str) -> None:
    """Stop the producers of a runner that was garbage-collected or alive at exit."""
    backend.stop(_FINALIZE_SECONDS)
    warnings.warn(
        f"unclosed runner {description}: its producers were stopped; call close() or use "
        f"'with' to let producer_end finish and to see its errors",
        ResourceWarning,
        stacklevel=1,
    )


# -- Internals: inside a producer process -------------------------------------------------------


class _ChildSetup(NamedTuple):
    """What the parent tells a producer process about itself before it starts."""

    unloadable_hint: str  # what to do when the runner class cannot be loaded here
    tame_openmp: bool  # forked from a parent that ran native threads
    stamp: Any = None  # under item_timeout: where to stamp progress (see _Stamper)


def _producer_main(
    conn: Connection,
    payload: Any,
    inherited: list[Connection],
    label: str,
    setup: _ChildSetup,
) -> None:
    """Run one producer process: start, serve batches, end.

    Under ``item_timeout`` the reader thread writes to ``setup.stamp``, every
    ``_stamp_seconds``, which item the producer is at.
    """
    _send_reply(conn, _Alive())
    for other in inherited:
        other.close()
    if setup.tame_openmp:
        _limit_inherited_openmp()
    # Ctrl-C reaches the whole process group: the caller decides what stops and when.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox: queue.SimpleQueue[_ToProducer] = queue.SimpleQueue()
    cancelled = [-1]
    cores: list[_ProducerCore] = []  # the reader reads the progress of cores[0]
    reader = threading.Thread(
        target=_read_inbox,
        args=(conn, inbox, cancelled, os.getppid(), _Stamper(setup.stamp, cores)),
        name="easycore-producer-reader",
        daemon=True,
    )
    reader.start()
    try:
        spec: _ProducerSpec = _loads(payload) if isinstance(payload, bytes) else payload
    except BaseException as err:
        _send_reply(conn, _Ready(_unloadable_spec_failure(err, label, setup.unloadable_hint)))
        return
    core = _ProducerCore(spec, capture=functools.partial(_ResultCapture, spec.pickler))
    cores.append(core)
    failure = core.init()
    _send_reply(conn, _Ready(failure))
    if failure is None:
        _serve(conn, core, inbox, cancelled)


def _limit_inherited_openmp() -> None:
    """Make the OpenMP runtimes this forked producer inherited run one thread.

    The parent ran native threads when it forked us; if they were an OpenMP pool (torch's
    intra-op pool, or any library built with OpenMP), we inherited that pool as memory
    without its threads, and our first parallel region would wait for them forever. With
    one thread, OpenMP runs each region inline and never touches the pool. The producers
    are the parallelism here; a runner that needs more threads per producer can use
    forkserver or spawn.
    """
    for path in _loaded_openmp_runtimes():
        with contextlib.suppress(OSError, AttributeError):  # not loadable, or no such symbol
            ctypes.CDLL(path).omp_set_num_threads(1)


_OPENMP_RUNTIMES: Final = ("libgomp", "libiomp", "libomp")  # GNU, Intel, LLVM


def _loaded_openmp_runtimes() -> list[str]:
    """Return the paths of the OpenMP runtimes mapped into this process (Linux only)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if ".so" in line}
    except OSError:
        return []
    return sorted(p for p in paths if os.path.basename(p).startswith(_OPENMP_RUNTIMES))


def _read_inbox(
    conn: Connection,
    inbox: queue.SimpleQueue[_ToProducer],
    cancelled: list[int],
    parent_pid: int,
    stamper: _Stamper,
) -> None:
    """Move messages from the pipe to the inbox, so the caller's sends never block long.

    Without this thread a producer blocked sending a large result and a caller blocked
    sending a large batch would wait for each other forever. It also ends the process
    when the parent vanishes (end of file, or a new parent pid), even mid-item, and
    stamps the producer's progress for ``item_timeout``.
    """
    while True:
        stamper.stamp()
        try:
            if not conn.poll(stamper.seconds):
                if os.getppid() != parent_pid:
                    os._exit(_EXIT_PARENT_GONE)
                continue
            data = conn.recv_bytes()
        except (EOFError, OSError):
            os._exit(_EXIT_PARENT_GONE)
        try:
            message: _Work | _Cancel | _Stop = _loads(data)
        except Exception as err:
            inbox.put(_Unreadable(err))
            continue
        if isinstance(message, _Cancel):
            cancelled[0] = max(cancelled[0], message.call_id)
            continue
        inbox.put(message)
        if type(message) is _Stop:
            return


def _serve(
    conn: Connection,
    core: _ProducerCore,
    inbox: queue.SimpleQueue[_ToProducer],
    cancelled: list[int],
) -> None:
    while True:
        message = inbox.get()
        if type(message) is _Work:
            call_id, batch_id = message.call_id, message.batch_id
            if call_id <= cancelled[0]:
                _send_reply(conn, _Skipped(call_id, batch_id))
                continue
            _send_done(
                conn, core, _Done(call_id, batch_id, *core.run(message.items, call_id, batch_id))
            )
        elif type(message) is _Unreadable:
            failure = _unreadable_batch_failure(core, message.error)
            _send_reply(conn, _Done(-1, -1, [], 0.0, failure, []))
        else:
            _send_reply(conn, _Ended(core.end()))
            return


def _send_done(conn: Connection, core: _ProducerCore, done: _Done) -> None:
    try:
        data = _dumps(done, core.spec.pickler)
    except Exception as err:
        failure = _unpicklable_result_failure(core, done.results, err)
        if core.spec.skip:
            # A position among the results is none in the batch once items were skipped,
            # and a system error (no descriptors, no memory) is no item's fault: the caller
            # runs the batch again one by one (see _Call._handle).
            failure = failure._replace(item=None)
        _send_reply(conn, done._replace(results=[], seconds=0.0, failure=failure, skipped=[]))
        return
    _send_bytes_or_exit(conn, data)


class _Stamper:
    """Write which item a producer is at into shared memory, for the caller's timeouts.

    The caller kills a producer whose stamp stays on one item longer than
    ``item_timeout``. Stamping from the reader thread, every few tenths of a second,
    costs ``producer_work`` nothing per item; and a stamp that cannot be written
    because an item holds the GIL stays put, as it should.
    """

    def __init__(self, stamp: Any, cores: list[_ProducerCore]) -> None:
        self._stamp = stamp
        self._cores = cores
        self.seconds = _PARENT_CHECK_SECONDS if stamp is None else _stamp_seconds(stamp[3])

    def stamp(self) -> None:
        if self._stamp is None or not self._cores:
            return
        call_id, batch_id, position = self._cores[0].progress()
        self._stamp[0], self._stamp[1], self._stamp[2] = call_id, batch_id, position


def _stamp_seconds(item_timeout: float) -> float:
    """How often progress is stamped and read: detection comes at most this late."""
    return min(_PARENT_CHECK_SECONDS, item_timeout / 4)


def _unpicklable_result_failure(
    core: _ProducerCore, results: Sequence[Any], err: BaseException
) -> _Failure:
    """Say which of ``results`` cannot be pickled, after pickling them raised ``err``."""
    position, error = (-1, err) if isinstance(err, _RESOURCE_ERRORS) else _find_unpicklable(results)
    label, pid = core.spec.label, os.getpid()
    return _Failure.unpicklable(
        error,
        f"the result of producer_work on the producer for {label!r} (pid {pid}) cannot be "
        f"pickled to reach the caller: "
        f"{_describe_value(results[position]) if position >= 0 else 'the batch'} "
        f"({type(error).__name__}: {error}). Return plain data, or use backend='thread'.",
        hook="producer_work",
        device=label,
        pid=pid,
        item=position if position >= 0 else None,  # None: the whole batch
    )


def _send_reply(conn: Connection, message: _FromProducer) -> None:
    _send_bytes_or_exit(conn, _dumps(message))


def _send_bytes_or_exit(conn: Connection, data: bytes | memoryview) -> None:
    try:
        conn.send_bytes(data)
    except OSError:  # the parent is gone: nobody is left to work for
        os._exit(_EXIT_PARENT_GONE)


def _unloadable_spec_failure(err: BaseException, label: str, hint: str) -> _Failure:
    return _Failure.unpicklable(
        err,
        f"the producer for {label!r} (pid {os.getpid()}) could not load the runner class "
        f"and cfg ({type(err).__name__}: {err}). With spawn or forkserver, {hint}.",
        hook="producer start-up",
        device=label,
        pid=os.getpid(),
    )


def _unreadable_batch_failure(core: _ProducerCore, err: BaseException) -> _Failure:
    label = core.spec.label
    return _Failure.unpicklable(
        err,
        f"the producer for {label!r} (pid {os.getpid()}) cannot unpickle a batch of items "
        f"({type(err).__name__}: {err}); the items' types must be importable in the producers",
        hook="producer_work",
        device=label,
        pid=os.getpid(),
    )


def _unloadable_result_failure(err: BaseException, label: str, pid: int | None) -> _Failure:
    """Results of the producer for ``label`` came, and could not be unpickled here."""
    return _Failure.unpicklable(
        err,
        f"a result from the producer for {label!r} cannot be unpickled in the caller "
        f"({type(err).__name__}: {err}); its type must be importable here too",
        hook="producer_work (its results, received here)",
        device=label,
        pid=pid,
        local=True,
    )


# -- Internals: the thread backend ------------------------------------------------------------


class _ThreadBackend(_Backend):
    """Producers as daemon threads of this process: nothing is pickled or copied."""

    def __init__(self, specs: list[_ProducerSpec], limits: _Limits) -> None:
        super().__init__(specs, limits)
        self._inboxes: list[queue.SimpleQueue[_Work | _Stop]] = []
        self._outbox: queue.SimpleQueue[tuple[int, _FromProducer | _Alarm]] = queue.SimpleQueue()
        self._stash: list[tuple[int, _FromProducer | _Alarm]] = []  # read while replacing one
        self._threads: list[threading.Thread] = []
        self._cancelled_call = [-1]
        self._running = set(range(self.size))

    def start(self) -> list[_Failure]:
        for spec in self.specs:
            self._start_one(spec)
        failures = []
        for _ in range(self.size):
            index, message = self._outbox.get()
            assert type(message) is _Ready
            if message.failure is not None:
                failures.append(message.failure)
                self._running.discard(index)
        return failures

    def _start_one(self, shared_spec: _ProducerSpec) -> None:
        spec = shared_spec._replace(cfg=copy.deepcopy(shared_spec.cfg))
        inbox: queue.SimpleQueue[_Work | _Stop] = queue.SimpleQueue()
        thread = threading.Thread(
            target=self._serve,
            args=(_ProducerCore(spec, capture=_ResultCopy, local=True), inbox),
            name=f"easycore-producer-{spec.producer}-{spec.label}",
            daemon=True,
        )
        if spec.producer == len(self._threads):
            self._inboxes.append(inbox)
            self._threads.append(thread)
        else:  # a replacement
            self._inboxes[spec.producer], self._threads[spec.producer] = inbox, thread
        thread.start()

    def _replace(self, index: int) -> list[_Failure]:
        self._inboxes[index].put(_Stop())
        ended = self._await(index, _Ended)
        self._start_one(self.specs[index])
        failure = self._await(index, _Ready)
        if failure is not None:
            self._running.discard(index)
            self._dead.add(index)
            raise _replacement_error(failure)
        return [] if ended is None else [ended]

    def _await(self, index: int, kind: type[_Ready | _Ended]) -> _Failure | None:
        """Wait for producer ``index``'s message of ``kind``; keep the others for later."""
        while True:
            sender, message = self._outbox.get()
            if sender == index and type(message) is kind:
                assert type(message) is _Ready or type(message) is _Ended
                return message.failure
            self._stash.append((sender, message))

    def _serve(self, core: _ProducerCore, inbox: queue.SimpleQueue[_Work | _Stop]) -> None:
        _PRODUCER_THREAD.backend = self
        index, outbox = core.spec.producer, self._outbox
        failure = core.init()
        outbox.put((index, _Ready(failure)))
        if failure is not None:
            return
        while True:
            message = inbox.get()
            if type(message) is _Stop:
                outbox.put((index, _Ended(core.end())))
                return
            assert type(message) is _Work
            call_id, batch_id = message.call_id, message.batch_id
            if call_id <= self._cancelled_call[0]:
                outbox.put((index, _Skipped(call_id, batch_id)))
                continue
            outbox.put(
                (index, _Done(call_id, batch_id, *core.run(message.items, call_id, batch_id)))
            )

    def _send(self, index: int, call_id: int, batch_id: int, items: Sequence[Any]) -> int:
        self._inboxes[index].put(_Work(call_id, batch_id, items))
        return 0

    def _send_cancel(self, call_id: int) -> None:
        self._cancelled_call[0] = call_id

    def _wake(self) -> None:
        self._outbox.put((-1, _Alarm()))

    def _receive(self) -> list[_Reply]:
        if self._stash:
            messages, self._stash = self._stash, []
        else:
            messages = [self._outbox.get()]
        with contextlib.suppress(queue.Empty):
            while True:
                messages.append(self._outbox.get_nowait())
        return [
            _Reply.of(index, message)
            for index, message in messages
            if type(message) is _Done or type(message) is _Skipped
        ]

    def find_death(self) -> _Failure | None:
        return None  # a thread cannot die alone: os._exit ends the whole process

    def runs_in_this_thread(self) -> bool:
        return getattr(_PRODUCER_THREAD, "backend", None) is self

    def stop(self, timeout: float | None) -> list[_Failure]:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._cancelled_call[0] = sys.maxsize
        for index in self._running:
            self._inboxes[index].put(_Stop())
        failures: list[_Failure] = []
        while self._running:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                index, message = self._outbox.get(timeout=left)
            except queue.Empty:
                break
            if type(message) is _Ended:
                self._running.discard(index)
                if message.failure is not None:
                    failures.append(message.failure)
        for index in sorted(self._running):
            label = self.specs[index].label
            failures.append(
                _Failure.timed_out(
                    f"producer thread for {label!r} did not finish within {timeout} s; "
                    f"threads cannot be killed, it stays behind as a daemon thread",
                    device=label,
                    pid=None,
                )
            )
        self._running.clear()
        return failures

    def kill(self) -> None:
        self.stop(0.0)


#: In a producer thread, the backend that runs it (so a hook calling its own runner fails).
_PRODUCER_THREAD: Final = threading.local()


# -- Internals: the Ray backend -----------------------------------------------------------------

# An actor runs the calls of each concurrency group in that group's own threads. Batches,
# and with them every hook, go to the default group: one thread, so producer_init and
# producer_work share thread-local state such as the current CUDA device. Cancels go to
# "control" so that they overtake queued batches. "watch" holds one call per actor that
# never returns: its reference fails the moment the actor dies, as a process sentinel does.
_RAY_CONCURRENCY_GROUPS: Final = {"control": 1, "watch": 1}
_RAY_ALARM_SECONDS: Final = 0.2  # how soon close() from another thread stops a Ray call


class _RayProducer:
    """One producer as a Ray actor; ``_RayBackend`` makes it remote, so Ray stays optional."""

    def __init__(self) -> None:
        self._core: _ProducerCore | None = None
        self._ready = False  # producer_init succeeded, so producer_end is due
        self._ended = False
        self._cancelled = -1
        self._forever = threading.Event()

    def init(self, payload: bytes, label: str) -> tuple[_Failure | None, int, str]:
        node = _require("ray", "ray").util.get_node_ip_address()
        try:
            spec: _ProducerSpec = pickle.loads(payload)
        except BaseException as err:
            return _unloadable_ray_spec_failure(err, label, node), os.getpid(), node
        dumps = functools.partial(_require("ray.cloudpickle", "ray").dumps, protocol=-1)
        capture = functools.partial(_ResultCapture, ForkingPickler, dumps)
        self._core = _ProducerCore(spec, capture=capture)
        failure = self._core.init()
        self._ready = failure is None
        return failure, os.getpid(), node

    def run(self, call_id: int, batch_id: int, payload: bytes) -> _Done | _Skipped:
        """Run a batch; the results in the ``_Done`` are pickled (the caller checks them)."""
        core = self._core
        if core is None or self._ended or call_id <= self._cancelled:
            return _Skipped(call_id, batch_id)
        dumps = functools.partial(_require("ray.cloudpickle", "ray").dumps, protocol=-1)
        try:
            items = pickle.loads(payload)
        except Exception as err:
            return _Done(
                call_id, batch_id, dumps([]), 0.0, _unreadable_batch_failure(core, err), []
            )
        results, seconds, failure, skipped = core.run(items, call_id, batch_id)
        try:
            data = dumps(results)
        except Exception as err:
            # Under on_error="skip", the caller runs the items again one by one to find it.
            failure = _unpicklable_result_failure(core, results, err)._replace(item=None)
            return _Done(call_id, batch_id, dumps([]), 0.0, failure, [])
        return _Done(call_id, batch_id, data, seconds, failure, skipped)

    def cancel(self, call_id: int) -> None:
        self._cancelled = max(self._cancelled, call_id)

    def watch(self) -> None:
        self._forever.wait()

    def progress(self) -> tuple[int, int, int]:
        """Say which item is at work, for ``item_timeout`` (see ``_ProducerCore.progress``)."""
        return (-1, -1, -1) if self._core is None else self._core.progress()

    def end(self) -> _Failure | None:
        if self._core is None or not self._ready or self._ended:
            return None
        self._ended = True
        return self._core.end()


class _RayBackend(_Backend):
    """Producers as Ray actors, one per device, on this machine or on a Ray cluster.

    Batches and results travel as bytes pickled with Ray's cloudpickle, so classes and
    functions defined in the user's script reach the actors by value, and the engine
    knows each payload's size and which item or result cannot be pickled.
    """

    # Between two calls an actor idles about 1 ms (measured on 2 shared cores: the
    # reply, the next call, Ray's own processes), twenty times a pipe's message: 50 ms
    # batches keep that near 2%, as 5 ms batches do for pipes.
    batch_seconds: ClassVar[float] = 0.050

    def __init__(
        self, specs: list[_ProducerSpec], limits: _Limits, init_kwargs: Mapping[str, Any]
    ) -> None:
        super().__init__([spec._replace(device=_ray_device(spec.label)) for spec in specs], limits)
        self._init_kwargs = dict(init_kwargs)
        self._ray: Any = None
        self._pickle: Any = None  # ray.cloudpickle
        self._actors: list[Any] = []
        self._where: list[tuple[int | None, str]] = [(None, "")] * self.size  # (pid, node)
        self._batches: dict[Any, tuple[int, int, int]] = {}  # ref -> (index, call, batch)
        self._watches: dict[Any, int] = {}  # ref of a never-ending call -> index
        self._remote: Any = None  # the actor class, made remote
        self._watch = _TimeoutWatch(self.size, limits.item_timeout)
        self._session: tuple[str, str] | None = None  # (job id, node id) of the actors

    def start(self) -> list[_Failure]:
        ray = self._connect()
        self._session = self._current_session()
        self._check_resources()
        payloads = [self._pickle_spec(spec) for spec in self.specs]
        self._remote = ray.remote(concurrency_groups=dict(_RAY_CONCURRENCY_GROUPS))(_RayProducer)
        inits = [
            self._launch(spec, payload) for spec, payload in zip(self.specs, payloads, strict=True)
        ]
        failures = []
        for index, ref in enumerate(inits):
            failure = self._await_init(index, ref)
            if failure is not None:
                failures.append(failure)
        return failures

    def _launch(self, spec: _ProducerSpec, payload: bytes) -> Any:
        """Create the actor of ``spec``'s producer; return the reference of its ``init``."""
        options = _ray_resources(spec.label)
        actor = self._remote.options(**options, max_restarts=0, max_task_retries=0).remote()
        if spec.producer == len(self._actors):
            self._actors.append(actor)
        else:  # a replacement
            self._actors[spec.producer] = actor
        self._watches[actor.watch.options(concurrency_group="watch").remote()] = spec.producer
        return actor.init.remote(payload, spec.label)

    def _await_init(self, index: int, ref: Any) -> _Failure | None:
        ray = self._ray
        try:
            failure, pid, node = ray.get(ref)
        except ray.exceptions.RayActorError as err:
            self._dead.add(index)
            pid = _ray_error_field(err, "pid")
            self._where[index] = (int(pid) if pid.isdigit() else None, _ray_error_field(err, "ip"))
            reason = _ray_death_reason(err)
            return self._died(index, "while starting (in producer_init)", reason)
        self._where[index] = (pid, node)
        failure_or_none: _Failure | None = failure
        return failure_or_none

    def _replace(self, index: int) -> list[_Failure]:
        ray, actor = self._ray, self._actors[index]
        failures: list[_Failure] = []
        if index not in self._dead:
            failure = self._end_one(index)
            if failure is not None:
                failures.append(failure)
        with contextlib.suppress(Exception):  # already dead
            ray.kill(actor, no_restart=True)
        for ref in [ref for ref, owner in self._watches.items() if owner == index]:
            del self._watches[ref]
        for ref in [ref for ref, (owner, _, _) in self._batches.items() if owner == index]:
            del self._batches[ref]
        spec = self.specs[index]
        self._dead.discard(index)
        self._watch.forget(index)
        failure = self._await_init(index, self._launch(spec, self._pickle_spec(spec)))
        if failure is not None:
            self._dead.add(index)
            raise _replacement_error(failure)
        return failures

    def _end_one(self, index: int) -> _Failure | None:
        """Run ``producer_end`` in producer ``index``'s actor."""
        try:
            failure: _Failure | None = self._ray.get(self._actors[index].end.remote())
        except Exception as err:
            return self._ray_failure(index, "producer_end", err)
        return failure

    def _connect(self) -> Any:
        self._ray = ray = _require("ray", "ray")
        self._pickle = _require("ray.cloudpickle", "ray")
        if not ray.is_initialized():
            ray.init(**self._init_kwargs)
        return ray

    def _current_session(self) -> tuple[str, str] | None:
        """Identify this process's Ray connection: ours ends with ray.shutdown()."""
        if not self._ray.is_initialized():
            return None
        context = self._ray.get_runtime_context()
        return (context.get_job_id(), context.get_node_id())

    def _is_connected(self) -> bool:
        """Tell whether our actors' Ray session is still this process's.

        After ``ray.shutdown()`` the actors are gone, and any Ray call would start a new
        Ray (Ray initializes itself on first use) only to fail on the old references.
        """
        return self._session is not None and self._current_session() == self._session

    def _check_resources(self) -> None:
        """Refuse devices the cluster can never hold: their actors would wait forever."""
        need = {"CPU": 0, "GPU": 0}
        for spec in self.specs:
            need["GPU" if _is_cuda(spec.label) else "CPU"] += 1
        have = self._ray.cluster_resources()
        short = [kind for kind, count in need.items() if count > have.get(kind, 0)]
        if short:
            labels = [spec.label for spec in self.specs]
            raise ValueError(
                f"devices {labels!r} need Ray actors with {need['CPU']} CPU(s) and "
                f"{need['GPU']} GPU(s), but the Ray cluster has {have.get('CPU', 0):g} CPU(s) "
                f"and {have.get('GPU', 0):g} GPU(s) in all. Use fewer devices, add nodes, or "
                f"start local Ray with more, e.g. ray_init_kwargs={{'num_cpus': "
                f"{need['CPU']}}}."
            )

    def _pickle_spec(self, spec: _ProducerSpec) -> bytes:
        try:
            return bytes(self._pickle.dumps(spec, pickle.HIGHEST_PROTOCOL))
        except Exception as err:
            raise NotPicklableError(
                f"{_explain_spec_pickling(spec)} cannot be pickled to start Ray actors "
                f"({type(err).__name__}: {err}). Keep cfg to plain data and build objects "
                f"such as locks, files or models in producer_init."
            ) from err

    def check_sendable(self, item: Any) -> None:
        self._pickle.dumps(item, pickle.HIGHEST_PROTOCOL)

    def _send(self, index: int, call_id: int, batch_id: int, items: Sequence[Any]) -> int:
        try:
            payload = self._pickle.dumps(items, pickle.HIGHEST_PROTOCOL)
        except _RESOURCE_ERRORS:
            raise
        except Exception as err:
            raise _ItemNotPicklableError(err) from err
        ref = self._actors[index].run.remote(call_id, batch_id, payload)
        self._batches[ref] = (index, call_id, batch_id)
        return len(payload)

    def _wake(self) -> None:
        pass  # _receive looks for the interrupt every _RAY_ALARM_SECONDS

    def _send_cancel(self, call_id: int) -> None:
        for index, actor in enumerate(self._actors):
            if self._pending[index] and index not in self._dead:
                actor.cancel.options(concurrency_group="control").remote(call_id)

    def _receive(self) -> list[_Reply]:
        refs = [*self._batches, *self._watches]
        if not refs:
            return []
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        while not ready and self.interrupted is None:
            if self._watch.is_due():
                timed_out = self._end_timed_out()
                if timed_out:
                    return timed_out
            # Nothing can wake ray.wait from another thread: look for an interrupt often.
            ready, _ = self._ray.wait(refs, num_returns=1, timeout=_RAY_ALARM_SECONDS)
        replies: list[_Reply] = []
        for ref in ready:
            replies.extend(self._reply(ref))
        return replies

    def _end_timed_out(self) -> list[_Reply]:
        """Kill the actors stuck on one item past ``item_timeout``; reply for each."""
        busy = [i for i in range(self.size) if self._pending[i] and i not in self._dead]
        asked = {
            self._actors[i].progress.options(concurrency_group="control").remote(): i for i in busy
        }
        answered, _ = self._ray.wait(list(asked), num_returns=len(asked), timeout=1.0)
        replies: list[_Reply] = []
        for ref, index in asked.items():
            try:
                # No answer: the item holds the actor's GIL, so it is still at the same item.
                key = self._ray.get(ref) if ref in answered else self._watch.last(index)
            except self._ray.exceptions.RayActorError:
                continue  # it died while asked (an item's os._exit, say): its watch says so
            seconds = None if key is None else self._watch.seconds_on(index, key)
            if key is None or seconds is None:
                continue
            self._dead.add(index)
            for watch in [ref for ref, owner in self._watches.items() if owner == index]:
                del self._watches[watch]
            with contextlib.suppress(Exception):
                self._ray.kill(self._actors[index], no_restart=True)
            death = self._died(index, "while running producer_work", "killed: item_timeout")
            call_id, batch_id, position = key
            replies.append(
                _Reply(index, _TIMEOUT, call_id, batch_id, [], seconds, 0, death, position=position)
            )
        return replies

    def _reply(self, ref: Any) -> list[_Reply]:
        ray = self._ray
        if ref in self._watches:
            return self._death_replies(self._watches.pop(ref), ref)
        index, call_id, batch_id = self._batches.pop(ref)
        if index in self._dead:
            return []
        try:
            message = ray.get(ref)
        except ray.exceptions.RayActorError:
            return self._death_replies(index, ref)
        except Exception as err:  # Ray failed the call itself (an object lost, say)
            failed = self._ray_failure(index, "producer_work", err)
            return [_Reply(index, _FAILED, call_id, batch_id, [], 0.0, 0, failed)]
        if type(message) is _Skipped:
            return [_Reply.of(index, message)]
        try:
            results = _release_results(pickle.loads(message.results))
        except Exception as err:
            failed = _unloadable_result_failure(err, self.specs[index].label, self._where[index][0])
            return [_Reply(index, _FAILED, call_id, batch_id, [], 0.0, 0, failed)]
        return [_Reply.of(index, message._replace(results=results, nbytes=len(message.results)))]

    def _death_replies(self, index: int, ref: Any) -> list[_Reply]:
        if index in self._dead:
            return []
        try:
            self._ray.get(ref)
        except Exception as err:
            self._dead.add(index)
            when = "while running producer_work" if self._pending[index] else "between calls"
            death = self._died(index, when, _ray_death_reason(err))
            return [_Reply(index, _DIED, -1, -1, [], 0.0, 0, death)]
        return []  # a watch call that returned: the actor is ending as asked

    def _died(self, index: int, when: str, reason: str) -> _Failure:
        pid, node = self._where[index]
        actor = f"Ray actor on node {node}" if node else "Ray actor"
        return _Failure.died(
            when=f"{when} ({actor}: {reason})", device=self.specs[index].label, pid=pid
        )

    def _ray_failure(self, index: int, hook: str, err: BaseException) -> _Failure:
        # Raised in this process: it needs no pickling.
        label, pid = self.specs[index].label, self._where[index][0]
        return _Failure.raised(err, hook=hook, device=label, pid=pid, local=True)

    def find_death(self) -> _Failure | None:
        if not self._watches:
            return None
        if not self._is_connected():
            index = min(self._watches.values())
            self._dead.update(range(self.size))
            reason = "Ray was shut down in this process since the runner started"
            return self._died(index, "between calls", reason)
        refs = list(self._watches)
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            for reply in self._death_replies(self._watches.pop(ref), ref):
                return reply.failure
        return None

    def stop(self, timeout: float | None) -> list[_Failure]:
        try:
            return self._end_all(timeout)
        except Exception as err:  # Ray itself failed: nothing is left to wait for
            return [self._ray_failure(0, "close()", err)]
        finally:
            self.kill()

    def _end_all(self, timeout: float | None) -> list[_Failure]:
        ray = self._ray
        if not self._is_connected():
            return []  # Ray shut down first (at exit, say): the actors went with it
        live = [index for index in range(len(self._actors)) if index not in self._dead]
        ends: dict[Any, int] = {}
        for index in live:
            actor = self._actors[index]
            actor.cancel.options(concurrency_group="control").remote(sys.maxsize)
            ends[actor.end.remote()] = index
        if not ends:
            return []
        ready, late = ray.wait(list(ends), num_returns=len(ends), timeout=timeout)
        failures: list[_Failure] = []
        for ref in ready:
            index = ends[ref]
            try:
                failure = ray.get(ref)
            except ray.exceptions.RayActorError as err:
                failures.append(self._died(index, "during producer_end", _ray_death_reason(err)))
                continue
            except Exception as err:
                failures.append(self._ray_failure(index, "producer_end", err))
                continue
            if failure is not None:
                failures.append(failure)
        for ref in late:
            failures.append(self._timed_out(ends[ref], timeout))
        return failures

    def _timed_out(self, index: int, timeout: float | None) -> _Failure:
        label, (pid, node) = self.specs[index].label, self._where[index]
        return _Failure.timed_out(
            f"producer for {label!r} (Ray actor on {node}, pid {pid}) did not finish its work "
            f"and producer_end within {timeout} s; it was killed",
            device=label,
            pid=pid,
        )

    def kill(self) -> None:
        ray, actors, watches = self._ray, self._actors, list(self._watches)
        self._dead.update(range(len(actors)))
        self._batches.clear()
        self._watches.clear()
        if not actors or not self._is_connected():
            return
        for actor in actors:
            with contextlib.suppress(Exception):  # already dead, or Ray is going away
                ray.kill(actor, no_restart=True)
        if watches:  # they fail once Ray has the actors dead, so their resources are free
            with contextlib.suppress(Exception):
                ray.wait(watches, num_returns=len(watches), timeout=_JOIN_SECONDS)


def _ray_device(device: str) -> str:
    """Return the device a producer's hooks see in its actor: Ray shows it one GPU."""
    return "cuda:0" if _is_cuda(device) else device


def _ray_resources(device: str) -> dict[str, float]:
    """Return the actor resources for a device: one GPU, or one CPU."""
    return {"num_gpus": 1, "num_cpus": 0} if _is_cuda(device) else {"num_cpus": 1}


def _ray_death_reason(err: BaseException) -> str:
    """Pick the sentence of a Ray actor error that says why the actor died."""
    text = str(err)
    marker = "The actor is dead because "
    if marker in text:
        return text.split(marker, 1)[1].split("\n", 1)[0].split(". ", 1)[0].rstrip(".")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"Ray says {lines[-1] if lines else type(err).__name__}"


def _ray_error_field(err: BaseException, name: str) -> str:
    """Read a field such as ``pid`` from a Ray actor error's lines (``"\tpid: 4312"``)."""
    for line in str(err).splitlines():
        key, _, value = line.strip().partition(": ")
        if key == name:
            return value.strip()
    return ""


def _unloadable_ray_spec_failure(err: BaseException, label: str, node: str) -> _Failure:
    return _Failure.unpicklable(
        err,
        f"the Ray actor for {label!r} (pid {os.getpid()}, node {node}) could not "
        f"load the runner class and cfg ({type(err).__name__}: {err}). Actors import the "
        f"modules they use by name: install them on every node, or ship them with "
        f"ray_init_kwargs={{'runtime_env': {{'working_dir': '.'}}}} (or 'py_modules'); "
        f"classes defined in the script that runs the runner travel by value.",
        hook="producer start-up",
        device=label,
        pid=os.getpid(),
    )
