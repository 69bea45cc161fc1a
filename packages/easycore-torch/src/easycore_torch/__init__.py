"""The easycore-parallel runners on ``torch.multiprocessing``, for CPU and multi-GPU inference.

Subclass :class:`UnorderedRunner` or :class:`OrderedRunner` exactly as with
``easycore_parallel`` (the same six static hooks, arguments and errors); the producers,
one process per device, may take and return tensors::

    import torch
    from easycore_torch import OrderedRunner

    class Doubler(OrderedRunner):
        @staticmethod
        def producer_init(device, cfg):
            cfg.scale = torch.tensor(2.0, device=device)

        @staticmethod
        def producer_work(device, cfg, data):
            return (torch.as_tensor(float(data), device=device) * cfg.scale).cpu()

        @staticmethod
        def consumer_init(cfg):
            cfg.out = []

        @staticmethod
        def consumer_work(cfg, data):
            cfg.out.append(data)

        @staticmethod
        def consumer_end(cfg):
            return torch.stack(cfg.out)

    if __name__ == "__main__":
        with Doubler(devices=["cpu", "cpu"]) as runner:  # or ["cuda:0", "cuda:1"]
            print(runner(range(4)))  # tensor([0., 2., 4., 6.])

``imap(fn, items, devices, init=load_model)`` is the function-first form: an iterator
of ``fn(model, item)`` with the model loaded once per producer by ``init(device, cfg)``.

What this module adds to the easycore_parallel engine, which it subclasses:

- Tensors: their data never goes through the pipe unless they are small. A CPU tensor of
  at least 1 MiB moves to shared memory and the receiver maps it (torch.multiprocessing's
  way, no copy); one of 64 KiB to 1 MiB is copied into a shared-memory ring of the runner
  and out on the other side; a smaller one is copied through the pipe. Copies keep their
  strides (memory format), and views of one storage still share one on arrival. Only the
  large ones keep a file descriptor open while they live, and near ``ulimit -n`` they are
  copied instead. CUDA tensors use torch's CUDA IPC.
- Threads: each producer runs ``torch.set_num_threads(max(1, cores // producers))``
  (``threads_per_producer=`` overrides it), so the producers share the cores instead of
  oversubscribing them.
- Start methods: CUDA devices get ``spawn``, CPU devices ``forkserver`` (it imports torch
  once, then forks clean producers). Never ``fork`` by default: a child forked after torch's
  intra-op thread pool started waits forever the first time it uses that pool.
- Devices: each CUDA producer calls ``torch.cuda.set_device`` for its device; a CUDA device
  that this machine lacks, or a device type torch cannot run here (``"mps"`` on Linux),
  fails at once with an error naming it.
- Batches: the engine packs items into batches of about 20 ms of work (5 ms for the
  plain engine), since every message wakes threads whose caches torch's kernels had warmed.

Who sends what (one duplex pipe per producer, as in easycore_parallel)::

    caller's process (the consumer thread)             producer process (one per device)
    --------------------------------------             ---------------------------------
                                                       set threads, torch.cuda.set_device
    data_iter -> batches ---- pipe: items, with ---->  producer_init, then producer_work
                 |            tensor handles                    |
                 +--> inputs ring (shared memory) -->           |
    consumer_work <---------- pipe: results, with  <------------+
                 <--- results ring (one per producer) <---------+
         large tensors: a shared-memory segment each, mapped by the receiver

It subclasses the engine through the seams listed in ``easycore_parallel``'s docstring,
so it needs the easycore_parallel of its own release: importing it with another one (an
installed engine, or the file copied beside this one) raises an ``ImportError`` naming
both versions.

Environment variables: none (``threads_per_producer`` takes precedence over
``OMP_NUM_THREADS`` inside producers).
"""

# SPDX-License-Identifier: MIT

from __future__ import annotations

import collections
import ctypes
import errno
import io
import itertools
import mmap
import multiprocessing
import multiprocessing.reduction
import os
import pickle
import sys
import types
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from multiprocessing.reduction import ForkingPickler
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    NamedTuple,
)

import torch
import torch.multiprocessing
import torch.multiprocessing.reductions

import easycore_parallel

if sys.platform != "win32":
    import resource

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

__version__ = "0.1.0"

#: The easycore_parallel release this module was built with: its runners subclass the
#: engine through the seams the engine's docstring lists, which only that release is sure
#: to have. All our packages share one version (``hatch run release:bump`` sets it, and
#: the ``easycore-parallel==`` pin in pyproject.toml with it).
_ENGINE_VERSION: Final = __version__

if getattr(easycore_parallel, "__version__", None) != _ENGINE_VERSION:
    # Checked before any engine name is read: another release may lack or change them,
    # and a vendored pair of files has no installer to check it.
    raise ImportError(
        f"easycore_torch {__version__} ({__file__}) needs easycore_parallel "
        f"{_ENGINE_VERSION}, the engine it was built with, but imported easycore_parallel "
        f"{getattr(easycore_parallel, '__version__', '(no __version__)')} from "
        f"{getattr(easycore_parallel, '__file__', '?')}. Install the pair of one release: "
        f'pip install "easycore-parallel=={_ENGINE_VERSION}" (or upgrade both: pip install '
        f"-U easycore-torch easycore-parallel); a copied easycore_torch.py needs the "
        f"easycore_parallel.py of the same release beside it."
    )

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
#
# The runners raise the errors of easycore_parallel, re-exported here as the same classes,
# so ``except easycore_parallel.RunnerError`` catches the errors of both packages.

ItemFailure = easycore_parallel.ItemFailure
ItemTimeoutError = easycore_parallel.ItemTimeoutError
NotPicklableError = easycore_parallel.NotPicklableError
ProducerDiedError = easycore_parallel.ProducerDiedError
RunnerClosedError = easycore_parallel.RunnerClosedError
RunnerError = easycore_parallel.RunnerError


# -- Public API -----------------------------------------------------------------------------

#: The reference's ``cfg={}``, read-only so that no call can change the default.
_EMPTY_CFG: Final[Mapping[str, Any]] = types.MappingProxyType({})


class BaseRunner(easycore_parallel.BaseRunner):
    """A runner on ``torch.multiprocessing`` whose consumer receives results as they come.

    It is :class:`easycore_parallel.BaseRunner` (same hooks, calls, errors and never-hang
    guarantees) with producers prepared for torch: a share of the CPU threads each, the
    CUDA device set, a start method that is safe with torch, and tensors that travel
    through shared memory. Subclass it (or :class:`UnorderedRunner`,
    :class:`OrderedRunner`) and override the static hooks.

    Args:
        devices: An int ``n`` for ``n`` producers on ``"cpu"``, or an iterable of torch
            device strings such as ``["cpu", "cuda:0", "cuda:1"]``, one producer each.
        cfg: User data given to the hooks (the reference's ``cfg={}``): each producer gets
            its own copy at start, each call's consumer a fresh copy. Build models in
            ``producer_init`` and keep them in the producer's ``cfg``.
        queue_scale: At most ``ceil(queue_scale * len(devices))`` batches (at least one)
            are in flight at a time, counting those waiting to be consumed in order.
        threads_per_producer: Torch threads in each producer process; ``None`` means
            ``max(1, cores // len(devices))``, counting the cores this process may use.
        start_method: ``"fork"``, ``"spawn"`` or ``"forkserver"``; ``None`` picks ``spawn``
            when a device is CUDA, else ``forkserver`` (``spawn`` where it is missing).
            Except under ``fork``, the runner class and ``cfg`` must be picklable (defined
            at module level of an importable module, the script guarded by ``if __name__
            == "__main__":``). ``fork`` is refused for CUDA devices, and for more than one
            thread per producer once this process runs native threads (torch's pool).
        backend: ``"process"`` (default), ``"thread"`` (producers are threads of this
            process; their torch thread count is left alone, since it is per process) or
            ``"ray"`` (producers are Ray actors, here or on a cluster; a ``"cuda:N"``
            device gets one GPU, which its hooks see as ``"cuda:0"``; tensors travel by
            value, pickled). See :class:`easycore_parallel.BaseRunner`.
        progress: Show a tqdm progress bar per call (needs
            ``pip install "easycore-parallel[progress]"``).
        address: For ``backend="ray"``: the Ray cluster to connect to (given to
            ``ray.init`` when this process has not initialized Ray yet).
        ray_init_kwargs: For ``backend="ray"``: more arguments for that ``ray.init``.
        item_timeout: Seconds one ``producer_work`` call may take; past it the producer
            is killed and replaced and the item fails with ``ItemTimeoutError``
            (not for ``backend="thread"``).
        on_error: ``"raise"`` (the first failed item raises) or ``"skip"`` (failed items
            are left out, listed in ``runner.failures``, and counted in one warning).
        max_restarts: Replace producers that die (the OOM killer, a CUDA crash,
            ``os._exit``) up to this many times per call; an item that kills its
            producer alone fails with ``ProducerDiedError``.
        max_items_per_producer: Replace a producer (``producer_end``, then a fresh
            process and ``producer_init``) after this many items, to contain leaks.
            See :class:`easycore_parallel.BaseRunner` for these four.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An empty device list, a device string torch does not know, a CUDA
            device this machine lacks (the message names it), ``fork`` where it is unsafe,
            a non-positive ``queue_scale`` or ``threads_per_producer``.
        NotPicklableError: The runner class or ``cfg`` cannot be sent to producers
            started with ``spawn`` or ``forkserver``.
        Exception: Whatever ``producer_init`` raised, with the producer's traceback.
    """

    # 20 ms of work per batch, not the engine's 5 ms: each message wakes a thread in the
    # producer and one in the caller, and on shared cores every wake-up also costs torch's
    # kernels the caches they had warmed. benchmarks/torch on 2 cores: the producers reach
    # ~1.55x the one-thread loop with 5 ms batches, ~1.75x with 20 ms ones (40 ms: no more).
    _min_batch_seconds: ClassVar[float] = 0.020

    def __init__(
        self,
        devices: int | Iterable[str],
        cfg: Mapping[str, Any] | None = _EMPTY_CFG,
        queue_scale: float = 3.0,
        *,
        threads_per_producer: int | None = None,
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
        # Set first: the engine's constructor starts the producers.
        self._threads_per_producer = _parse_threads(threads_per_producer)
        self._rings: _Rings | None = None
        super().__init__(
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

    # -- Seams of easycore_parallel (its module docstring lists them) -----------------

    def _prepare_transport(self) -> _TensorTransport:
        # New rings for each activation: a dead producer may have left records behind.
        self._rings = _Rings.create(len(self._devices)) if self.start_method else None
        # The engine pickles every batch and result with it, and caps batches by the bytes
        # each message stands for: tensors that go torch's way count too, since their
        # segments are memory the window would not bound otherwise (the rings bound
        # themselves: when one is full, tensors go by value, and count as such).
        inputs = self._rings.inputs if self._rings is not None else None
        return _TensorTransport(inputs, os.getpid())

    def _choose_start_method(self, requested: str | None) -> str | None:
        method = super()._choose_start_method(requested)  # validates ``requested``
        if method is None:  # a backend without start methods
            return None
        if requested is None:
            return _default_start_method(self._devices)
        if method == "fork" and any(_is_cuda(device) for device in self._devices):
            raise ValueError(
                f"start_method='fork' cannot run CUDA devices {self._devices!r}: CUDA does "
                f"not work in a forked child. Leave start_method out (spawn is chosen)."
            )
        return method

    def _get_context(self, start_method: str) -> BaseContext:
        # Checked at every activate(): the parent may have started torch's pool since.
        if start_method == "fork":
            self._refuse_unsafe_fork()
        context = torch.multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # The server imports torch once; each producer it forks then starts in
            # milliseconds instead of importing torch again.
            context.set_forkserver_preload(["__main__", __name__])
        return context

    def _producer_options(self, index: int, device: str) -> dict[str, Any]:
        _require_usable_device(device)  # a typo fails here, before any process starts
        rings = self._rings
        return {
            "threads": self._threads_per_producer,
            "producers": len(self._devices),
            "caller_pid": os.getpid(),
            "results": rings.results[index] if rings is not None else None,
        }

    @staticmethod
    def _setup_producer(device: str, options: Mapping[str, Any]) -> None:
        # Threads and rings are per process: a producer thread (backend="thread") has none.
        if os.getpid() != options["caller_pid"]:
            torch.set_num_threads(options["threads"] or _default_threads(options["producers"]))
            _PRODUCER.results = options["results"]
        torch_device = _parse_device(device)
        if torch_device.type == "cuda":
            _use_cuda_device(device, torch_device)

    def _refuse_unsafe_fork(self) -> None:
        threads = self._threads_per_producer or _default_threads(len(self._devices))
        if threads > 1 and easycore_parallel._has_native_threads():
            raise ValueError(
                f"start_method='fork' with {threads} torch threads per producer would hang: "
                f"this process already runs native threads (torch starts its intra-op pool "
                f"at the first parallel op), and a forked producer that uses its broken "
                f"copy of that pool waits forever. Leave start_method out (forkserver is "
                f"chosen), or pass threads_per_producer=1."
            )


class UnorderedRunner(BaseRunner, easycore_parallel.UnorderedRunner):
    """A runner whose consumer receives results in any order (as they come).

    One producer process per device, the consumer in the calling thread. See
    :class:`BaseRunner` for the arguments and the hooks.
    """


class OrderedRunner(BaseRunner, easycore_parallel.OrderedRunner):
    """A runner whose consumer receives results in the order of the input.

    Results that finish early wait in a reorder buffer, which counts toward the
    ``queue_scale x len(devices)`` batches in flight, so memory stays bounded. See
    :class:`BaseRunner` for the arguments and the hooks.
    """


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
    threads_per_producer: int | None = None,
    start_method: str | None = None,
    backend: str = "process",
    address: str | None = None,
    ray_init_kwargs: Mapping[str, Any] | None = None,
    item_timeout: float | None = None,
    on_error: str = "raise",
    max_restarts: int = 0,
    max_items_per_producer: int | None = None,
) -> Iterator[Any]:
    """Return an iterator over ``fn(item)`` for each item, computed on torch producers.

    :func:`easycore_parallel.imap` on this module's runners: tensors travel through
    shared memory, each producer gets its share of the CPU threads and its CUDA device
    set. With ``init``, each producer runs ``state = init(device, cfg)`` once (load a
    model onto its device) and then ``fn(state, item)``::

        import torch
        from easycore_torch import imap

        def load(device, cfg):
            return torch.nn.Linear(4, 2).to(device).eval()

        def predict(model, batch):
            with torch.no_grad():
                return model(batch.to(next(model.parameters()).device)).cpu()

        if __name__ == "__main__":
            batches = [torch.randn(8, 4) for _ in range(10)]
            outputs = list(imap(predict, batches, ["cpu", "cpu"], init=load))

    Under the default start methods (``forkserver`` for CPU devices, ``spawn`` for CUDA)
    ``fn`` and ``init`` travel by value (cloudpickle), so lambdas and closures work; what
    they capture must pickle too.

    Args:
        fn: Called on each item in a producer: ``fn(item)``, or ``fn(state, item)``.
        items: Any iterable, even an endless one: only a few batches are read ahead.
        devices: An int ``n`` for ``n`` producers on ``"cpu"``, or torch device strings
            such as ``["cuda:0", "cuda:1"]``.
        ordered: Yield results in input order (else as they come).
        init: Called once in each producer as ``init(device, cfg)``; what it returns is
            given to ``fn`` with each item.
        cfg: A mapping handed to ``init`` (each producer gets its own copy).
        progress: Show a tqdm progress bar.
        queue_scale: Batches in flight per device, as for the runners.
        threads_per_producer: Torch threads in each producer, as for the runners.
        start_method: As for the runners; ``None`` picks one.
        backend: ``"process"``, ``"thread"`` or ``"ray"``, as for the runners.
        address: For ``backend="ray"``: the cluster to connect to.
        ray_init_kwargs: For ``backend="ray"``: more arguments for ``ray.init``.
        item_timeout: Seconds ``fn`` may take on one item, as for the runners.
        on_error: ``"raise"`` or ``"skip"`` (failed items are left out; one warning
            gives their count), as for the runners.
        max_restarts: Producers that die are replaced up to this many times.
        max_items_per_producer: Replace a producer after this many items.

    Returns:
        An iterator of results; leaving it early stops the producers' remaining work
        and the producers.

    Raises:
        TypeError: ``fn`` or ``init`` is not callable, or a runner argument's type is wrong.
        ValueError: A bad runner argument (see :class:`BaseRunner`).
        NotPicklableError: ``fn``, ``init`` or ``cfg`` cannot reach the producers.
        Exception: Whatever ``init`` raised, with the producer's traceback.

    The iterator raises what ``fn`` raised for an item once the results before that
    item are out, and ``ProducerDiedError`` if a producer dies.
    """
    return easycore_parallel._run_imap(
        OrderedRunner if ordered else UnorderedRunner,
        fn,
        init,
        items,
        devices,
        cfg,
        queue_scale,
        threads_per_producer=threads_per_producer,
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


# -- Internals: threads, devices and start methods --------------------------------------------


def _parse_threads(threads: int | None) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads_per_producer must be an int or None, not {threads!r}")
    if threads < 1:
        raise ValueError(f"threads_per_producer={threads}: a producer needs at least 1 thread")
    return threads


def _available_cores() -> int:
    """Count the cores this process may run on (its affinity mask, where there is one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _default_threads(producers: int) -> int:
    return max(1, _available_cores() // producers)


def _parse_device(device: str) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"device {device!r} is not a torch device string ({err}); use 'cpu', 'cuda' or 'cuda:N'"
        ) from err


def _require_usable_device(device: str) -> None:
    """Fail, naming ``device``, unless torch here can run its device type.

    CUDA devices are checked in their producers (``_use_cuda_device``), which may see
    other GPUs than this process; any other type but ``cpu`` needs its torch backend here.
    """
    kind = _parse_device(device).type
    if kind in ("cpu", "cuda"):
        return
    is_available = getattr(getattr(torch, kind, None), "is_available", None)
    if callable(is_available) and is_available():
        return
    why = (
        f"torch.{kind}.is_available() is False"
        if callable(is_available)
        else f"torch has no {kind!r} backend that runs producers"
    )
    raise ValueError(
        f"device {device!r} cannot run here: {why} (torch {torch.__version__}, process "
        f"{os.getpid()}). Use 'cpu' or 'cuda:N' devices, or a machine with that backend."
    )


def _is_cuda(device: str) -> bool:
    return _parse_device(device).type == "cuda"


def _default_start_method(devices: Iterable[str]) -> str:
    """Pick spawn for CUDA, else forkserver; never fork (see the module docstring)."""
    if any(_is_cuda(device) for device in devices):
        return "spawn"
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _use_cuda_device(device: str, torch_device: torch.device) -> None:
    """Make ``device`` the current CUDA device of this producer, or say why it cannot be."""
    if not torch.cuda.is_available():
        why = (
            f"this torch ({torch.__version__}) is built without CUDA"
            if torch.version.cuda is None
            else "torch finds no CUDA device here (check the driver and CUDA_VISIBLE_DEVICES)"
        )
        raise ValueError(
            f"device {device!r} needs CUDA, but CUDA is not available to its producer "
            f"(pid {os.getpid()}): {why}. Use CPU devices such as ['cpu', 'cpu'] here."
        )
    count = torch.cuda.device_count()
    if torch_device.index is not None:
        if torch_device.index >= count:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
            raise ValueError(
                f"device {device!r} does not exist: {count} CUDA device(s) are visible to "
                f"its producer (cuda:0 to cuda:{count - 1}; CUDA_VISIBLE_DEVICES={visible})"
            )
        torch.cuda.set_device(torch_device.index)


# -- Internals: tensor transport ------------------------------------------------------------
#
# Three ways, by size, for a plain CPU tensor (any other goes torch's way, the last one):
#
#   < 64 KiB        by value in the pipe: cheapest for small data, holds nothing open;
#   64 KiB - 1 MiB  through a shared-memory ring of the runner: one copy in, one copy out,
#                   a few dozen bytes in the pipe (by value when the ring is full);
#   >= 1 MiB        torch.multiprocessing's way: the storage moves to a shared-memory
#                   segment of its own and the receiver maps it, with no copy at all
#                   (by value or through a ring when descriptors run short, below).
#
# The two copying ways carry a tensor's whole storage, once per message, when it is at
# most twice the tensor's bytes (views of it then share one storage on arrival), else the
# tensor's own elements; either way with its strides, so memory formats survive.
#
# Measured on 2 cores, a 512 KiB tensor costs about 0.6 ms of CPU through the pipe
# (pickling, the socket and unpickling each copy it) and about 0.2 ms through a ring. A
# segment of its own costs about 0.4 ms to set up and hand over, worth it for large
# tensors only, and keeps a file descriptor open while the tensor lives (see "file
# descriptors" below).

_RING_MIN_BYTES: Final = 64 << 10  # 64 KiB
_SHARED_MIN_BYTES: Final = 1 << 20  # 1 MiB
_RING_BYTES: Final = 8 << 20  # 8 MiB per ring: the batches in flight fit many times over
_RECORD_HEADER: Final = 64  # a cache line: the state byte, then the data, 64-byte aligned
_FREE: Final = 0  # state bytes of a record: the reader copied it out
_IN_USE: Final = 1
# Linux: memory with no name, so nothing is left behind whatever happens to the processes.
_HAS_MEMFD: Final = hasattr(os, "memfd_create")

# torch.multiprocessing's reducers: the storage moves to shared memory (CUDA: IPC handle).
_reduce_shared: Callable[[torch.Tensor], Any] = torch.multiprocessing.reductions.reduce_tensor
_reduce_storage: Callable[[torch.UntypedStorage], Any] = (
    torch.multiprocessing.reductions.reduce_storage
)
_sharing_strategy: Callable[[], str] = torch.multiprocessing.get_sharing_strategy


class _TensorPickler(ForkingPickler):
    """A ForkingPickler that sends plain CPU tensors by size (see above).

    torch.multiprocessing registers its reducers on ForkingPickler for the whole process;
    this pickler changes the choice for our runners only. What one message needs lives in
    a ``_Message``, never in the pickler: a pickler whose dispatch table holds its own
    bound method is a reference cycle, and when the cyclic collector cleared one it also
    cleared memoryviews still exported to the pickler's buffers and crashed the process.
    """

    @classmethod
    def dumps(
        cls, obj: Any, protocol: int | None = None, ring: _SharedRing | None = None
    ) -> memoryview:
        """Pickle ``obj``; tensors of 64 KiB to 1 MiB go through ``ring`` while it has room."""
        buffer = io.BytesIO()
        message = _Message(ring)
        pickler = cls(buffer, protocol)
        pickler.dispatch_table = {
            **pickler.dispatch_table,
            torch.Tensor: message.reduce_tensor,
            torch.UntypedStorage: message.reduce_storage,
        }
        try:
            pickler.dump(obj)
        except BaseException:
            message.free_records()  # nobody will read them
            raise
        finally:
            pickler.clear_memo()
            message.release_buffers()
        return buffer.getbuffer()


class _TensorTransport:
    """The pickler of one activation of a runner: ``_TensorPickler`` with its rings.

    In the caller, tensors of batches go through the activation's inputs ring; in a
    producer, tensors of results through that producer's results ring (see
    ``_setup_producer``). Pickled into each producer's start-up spec, it also keeps the
    inputs ring mapped there, for the tensors that arrive through it.
    """

    def __init__(self, inputs: _SharedRing | None, caller_pid: int) -> None:
        self._inputs = inputs
        self._caller_pid = caller_pid

    def dumps(self, obj: Any, protocol: int | None = None) -> memoryview:
        """Pickle a batch (in the caller) or a producer's results, for the other side."""
        in_caller = os.getpid() == self._caller_pid
        return _TensorPickler.dumps(obj, protocol, self._inputs if in_caller else _PRODUCER.results)


class _Message:
    """The choices and the borrowed memory of one message being pickled."""

    def __init__(self, ring: _SharedRing | None) -> None:
        self._ring = ring  # for tensors of 64 KiB to 1 MiB, while it has room
        # Tensors made while pickling must outlive it: the pickler reads their memory.
        self._kept: list[torch.Tensor] = []
        self._buffers: list[pickle.PickleBuffer] = []  # views of tensor memory, released after
        self._placed: list[tuple[_SharedRing, int]] = []  # ring records of this message
        self._copies: dict[tuple[int, int], _Reduced] = {}  # memory copied, by (address, bytes)
        self._moved: set[int] = set()  # storages moved to shared memory here, by address

    def reduce_tensor(self, tensor: torch.Tensor) -> Any:
        if tensor.is_conj() or tensor.is_neg():  # torch's reducer would drop these bits
            tensor = self._keep(tensor.resolve_conj().resolve_neg())
        if not _is_plain(tensor):
            return _reduce_shared(tensor)
        nbytes = tensor.numel() * tensor.element_size()
        storage = tensor.untyped_storage()
        if nbytes >= _SHARED_MIN_BYTES and _DESCRIPTORS.have_room():
            self._moved.add(storage.data_ptr())
            return _reduce_shared(tensor)
        if storage.nbytes() <= 2 * nbytes:
            # The whole storage, once per message: views of it still share it on arrival.
            copied = self._copy(storage.data_ptr(), storage.nbytes())
            offset = tensor.storage_offset()
        else:  # a small view of a large storage: its own elements only
            if not _is_dense(tensor):
                tensor = self._keep(tensor.contiguous())
            copied = self._copy(tensor.data_ptr(), nbytes)
            offset = 0
        return (_rebuild_view, (copied, tensor.dtype, offset, tensor.shape, tensor.stride()))

    def reduce_storage(self, storage: torch.UntypedStorage) -> Any:
        """Send a storage torch's way, counting it if it moved to shared memory for us."""
        moved = storage.data_ptr() in self._moved
        nbytes = 0
        if moved:
            self._moved.discard(storage.data_ptr())  # count it once per message
            nbytes = storage.nbytes()
            _OUT_OF_BAND.bytes += nbytes
        try:
            rebuild, args = _reduce_storage(storage)
        except (OSError, RuntimeError) as err:
            _raise_if_out_of_descriptors(err, "send a tensor")
            raise
        return (_rebuild_shared_storage, (moved, nbytes, rebuild, args))

    def free_records(self) -> None:
        for ring, offset in self._placed:
            ring.release(offset)

    def release_buffers(self) -> None:
        for buffer in self._buffers:
            buffer.release()

    def _copy(self, address: int, nbytes: int) -> _Reduced:
        """Copy ``nbytes`` at ``address`` into the message, once however often it is met."""
        copied = self._copies.get((address, nbytes))
        if copied is None:
            copied = self._copies[(address, nbytes)] = _Reduced(self._place(address, nbytes))
        return copied

    def _place(self, address: int, nbytes: int) -> tuple[Any, ...]:
        ring = self._ring if nbytes >= _RING_MIN_BYTES else None
        offset = ring.put(address, nbytes) if ring is not None else None
        if ring is not None and offset is not None:
            self._placed.append((ring, offset))
            return (_rebuild_storage_from_ring, (ring.id, offset, nbytes))
        if not nbytes:
            return (_rebuild_copied_storage, (b"",))
        # The pickler copies the memory straight into its output (a bytearray, protocol
        # 5). No torch op runs here: in the caller's process one would wake torch's
        # intra-op threads, which then spin on the cores the producers need.
        buffer = pickle.PickleBuffer((ctypes.c_char * nbytes).from_address(address))
        self._buffers.append(buffer)
        return (_rebuild_copied_storage, (buffer,))

    def _keep(self, tensor: torch.Tensor) -> torch.Tensor:
        self._kept.append(tensor)
        return tensor


class _Reduced:
    """A reduce value pickled once per message: every reference gets the one object built."""

    def __init__(self, reduced: tuple[Any, ...]) -> None:
        self._reduced = reduced

    def __reduce__(self) -> tuple[Any, ...]:
        return self._reduced


# Bytes the message being pickled or unpickled in this thread moves beside the pipe.
_OUT_OF_BAND: Final = easycore_parallel._OUT_OF_BAND


def _is_plain(tensor: torch.Tensor) -> bool:
    """Tell whether a tensor is ours to send by size: dense, on the CPU, shared by nobody."""
    return (
        tensor.device.type == "cpu"
        and tensor.layout == torch.strided
        and not tensor.requires_grad  # torch's reducer applies autograd's rules
        and not tensor.untyped_storage().is_shared()  # already shared (Hogwild!): keep it so
        and not tensor.is_quantized
        and not tensor.is_nested
    )


def _is_dense(tensor: torch.Tensor) -> bool:
    """Tell whether a tensor's elements fill its memory span exactly (any dim order)."""
    expected = 1
    for size, stride in sorted(
        zip(tensor.shape, tensor.stride(), strict=True), key=lambda dim: dim[1]
    ):
        if size == 1:
            continue
        if stride != expected:
            return False
        expected *= size
    return True


def _rebuild_view(
    storage: torch.UntypedStorage,
    dtype: torch.dtype,
    offset: int,
    shape: tuple[int, ...],
    stride: tuple[int, ...],
) -> torch.Tensor:
    return torch.empty((0,), dtype=dtype).set_(storage, offset, shape, stride)


def _rebuild_copied_storage(data: bytearray | bytes) -> torch.UntypedStorage:
    if not data:
        return torch.empty((0,), dtype=torch.uint8).untyped_storage()
    return torch.frombuffer(data, dtype=torch.uint8).untyped_storage()  # it keeps data alive


def _rebuild_storage_from_ring(ring_id: str, offset: int, nbytes: int) -> torch.UntypedStorage:
    ring = _RINGS.get(ring_id)
    if ring is None:
        raise RuntimeError(
            f"a tensor arrived in shared ring {ring_id!r}, which process {os.getpid()} does "
            f"not have: it belongs to a runner that is closed"
        )
    return ring.take(offset, nbytes)


def _rebuild_shared_storage(
    moved: bool, nbytes: int, rebuild: Callable[..., Any], args: tuple[Any, ...]
) -> Any:
    """Rebuild a storage sent torch's way; keep a private copy where descriptors are scarce.

    A storage that moved to shared memory only to travel (``moved``) holds a file
    descriptor here while it lives; a consumer that keeps thousands would exceed the
    descriptor limit, so past ``_DESCRIPTORS``' reserve it gets a copy and the descriptor
    closes at once.
    """
    _OUT_OF_BAND.bytes += nbytes
    try:
        storage = rebuild(*args)
    except (OSError, RuntimeError) as err:
        _raise_if_out_of_descriptors(err, "receive a tensor")
        raise
    if moved and not _DESCRIPTORS.have_room():
        private = torch.empty((storage.nbytes(),), dtype=torch.uint8).untyped_storage()
        ctypes.memmove(private.data_ptr(), storage.data_ptr(), storage.nbytes())
        return private
    return storage


# -- Internals: file descriptors --------------------------------------------------------------
#
# torch's "file_descriptor" sharing strategy (its default on Linux) keeps one descriptor
# open per shared storage, in the sender and in the receiver, while the storage lives.
# Near the limit (`ulimit -n`, often 1024) our runners copy instead: a large tensor goes
# by value like a small one, and a received one becomes a private copy.

_DESCRIPTOR_RESERVE: Final = 64  # left for the user's files, sockets and our transfers
# Where the open descriptors are listed: Linux, then macOS and the BSDs.
_DESCRIPTOR_DIRS: Final = ("/proc/self/fd", "/dev/fd")


class _DescriptorBudget:
    """Tell, cheaply, whether this process may keep one more descriptor for a tensor.

    Counting the open descriptors lists a directory; after a count that found ``n`` to
    spare beyond the reserve, the next ``n // 2`` answers are yes without counting.
    """

    def __init__(self) -> None:
        self._uncounted = 0

    def have_room(self) -> bool:
        if _sharing_strategy() != "file_descriptor":
            return True  # torch shares by name: no descriptor stays open
        if self._uncounted > 0:
            self._uncounted -= 1
            return True
        usage = _descriptor_usage()
        if usage is None:
            return True
        spare = usage[1] - usage[0] - _DESCRIPTOR_RESERVE
        self._uncounted = max(0, spare // 2)
        return spare > 0


def _descriptor_usage() -> tuple[int, int] | None:
    """Return (descriptors open, soft limit), or ``None`` where either is unknown."""
    if sys.platform == "win32":  # torch shares tensors by name there: no descriptors
        return None
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    for directory in _DESCRIPTOR_DIRS:
        try:
            return len(os.listdir(directory)), limit
        except OSError:
            continue
    return None


def _raise_if_out_of_descriptors(err: BaseException, action: str) -> None:
    """Explain a failed transfer if this process ran out of file descriptors."""
    usage = _descriptor_usage()
    if usage is None or usage[1] - usage[0] > _DESCRIPTOR_RESERVE // 2:
        return
    raise OSError(
        errno.EMFILE,
        f"process {os.getpid()} cannot {action} through shared memory: it holds "
        f"{usage[0]} open file descriptors, its limit is {usage[1]} (ulimit -n), and "
        f"torch's 'file_descriptor' sharing strategy holds one per shared tensor while it "
        f"lives ({type(err).__name__}: {err}). Raise the limit (ulimit -n 65536, or "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ...)), or call "
        f"torch.multiprocessing.set_sharing_strategy('file_system') in this process and "
        f"in producer_init, or keep fewer tensors alive at once.",
    ) from err


_DESCRIPTORS: Final = _DescriptorBudget()


# -- Internals: shared-memory rings ---------------------------------------------------------


class _SharedRing:
    """A ring buffer in shared memory: one process copies tensors in, others copy them out.

    The writer (one thread of one process) appends records and remembers them, oldest
    first; a reader copies a record out and sets its state byte to free. The writer reuses
    space from the oldest record on once it is free. With no room it returns ``None`` and
    the tensor goes another way, so the ring never waits for anyone.
    """

    def __init__(self, ring_id: str, fd: int) -> None:
        self.id = ring_id
        self._fd = fd
        self._memory = mmap.mmap(fd, os.fstat(fd).st_size)
        self._size = len(self._memory)
        self._view = memoryview(self._memory)  # the state bytes
        self._address = ctypes.addressof(ctypes.c_char.from_buffer(self._memory))
        self._records: collections.deque[tuple[int, int]] = collections.deque()
        self._head = 0  # where the next record goes
        weakref.finalize(self, os.close, fd)
        _RINGS[ring_id] = self

    @classmethod
    def create(cls) -> _SharedRing | None:
        """Make a ring, or return ``None`` where this platform or process cannot."""
        if not _HAS_MEMFD:
            return None
        try:
            fd = os.memfd_create("easycore-torch-ring", os.MFD_CLOEXEC)
        except OSError:  # too many open files, or a kernel without memfd
            return None
        try:
            os.ftruncate(fd, _RING_BYTES)  # pages are allocated when first written
            return cls(f"{os.getpid()}-{next(_RING_IDS)}", fd)
        except BaseException:
            os.close(fd)
            raise

    def __reduce__(self) -> tuple[Any, ...]:
        # For producers started by spawn or forkserver (fork shares the mapping as is).
        return (_attach_ring, (self.id, multiprocessing.reduction.DupFd(self._fd)))

    def put(self, address: int, nbytes: int) -> int | None:
        """Copy ``nbytes`` at ``address`` into a new record; return its offset, if it fits."""
        offset = self._allocate(_RECORD_HEADER + -(-nbytes // 64) * 64)
        if offset is None:
            return None
        self._view[offset] = _IN_USE
        ctypes.memmove(self._address + offset + _RECORD_HEADER, address, nbytes)
        return offset

    def take(self, offset: int, nbytes: int) -> torch.UntypedStorage:
        """Copy a record out into a new storage and free the record."""
        storage = torch.empty((nbytes,), dtype=torch.uint8).untyped_storage()
        ctypes.memmove(storage.data_ptr(), self._address + offset + _RECORD_HEADER, nbytes)
        self.release(offset)
        return storage

    def release(self, offset: int) -> None:
        self._view[offset] = _FREE

    def _allocate(self, length: int) -> int | None:
        records = self._records
        while records and self._view[records[0][0]] == _FREE:
            records.popleft()
        start = self._find_room(length)
        if start is not None:
            records.append((start, length))
            self._head = start + length
        return start

    def _find_room(self, length: int) -> int | None:
        if not self._records:
            return 0 if length <= self._size else None
        tail, head = self._records[0][0], self._head
        if head <= tail:  # wrapped around: the free space is [head, tail)
            return head if head + length <= tail else None
        if head + length <= self._size:  # the free space is [head, end), then [0, tail)
            return head
        return 0 if length <= tail else None


def _attach_ring(ring_id: str, dup: Any) -> _SharedRing:
    ring = _RINGS.get(ring_id)
    fd = dup.detach()
    if ring is not None:  # already mapped in this process
        os.close(fd)
        return ring
    return _SharedRing(ring_id, fd)


class _Rings(NamedTuple):
    """The rings of one activation of a runner: inputs (caller to producers), results."""

    inputs: _SharedRing | None
    results: list[_SharedRing | None]

    @classmethod
    def create(cls, producers: int) -> _Rings:
        return cls(_SharedRing.create(), [_SharedRing.create() for _ in range(producers)])


# Every ring this process has mapped, by id, for the receiving side; the runner (in the
# caller), and the producer's options and transport (in a producer) keep them alive.
_RINGS: weakref.WeakValueDictionary[str, _SharedRing] = weakref.WeakValueDictionary()
_RING_IDS: Final = itertools.count()
_PRODUCER: Final = types.SimpleNamespace(results=None)  # in a producer: its results ring
