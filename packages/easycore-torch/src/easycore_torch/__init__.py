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

What this module adds to the easycore_parallel engine, which it subclasses:

- Tensors: a CPU tensor of at least 1 MiB crosses processes through shared memory (the pipe
  carries a handle, not the data); a smaller one is copied through the pipe, which is faster
  at that size and keeps no file descriptor open. CUDA tensors use torch's CUDA IPC.
- Threads: each producer runs ``torch.set_num_threads(max(1, cores // producers))``
  (``threads_per_producer=`` overrides it), so the producers share the cores instead of
  oversubscribing them.
- Start methods: CUDA devices get ``spawn``, CPU devices ``forkserver`` (it imports torch
  once, then forks clean producers). Never ``fork`` by default: a child forked after torch's
  intra-op thread pool started waits forever the first time it uses that pool.
- CUDA: each producer calls ``torch.cuda.set_device`` for its device, and a CUDA device that
  this machine lacks fails at once with an error naming it.

Who sends what (one duplex pipe per producer, as in easycore_parallel)::

    caller's process (the consumer thread)            producer process (one per device)
    --------------------------------------            ---------------------------------
                                                      set threads, torch.cuda.set_device
    data_iter -> batches --- items: small tensors --->  producer_init, then producer_work
                             copied, large ones as a            |
                             shared-memory handle               |
    consumer_work(cfg, result) <--- results, tensors the same way --+

Environment variables: none (``threads_per_producer`` takes precedence over
``OMP_NUM_THREADS`` inside producers).
"""

# SPDX-License-Identifier: MIT

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import types
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any, Callable, Final, Iterable, Mapping

import torch
import torch.multiprocessing
import torch.multiprocessing.reductions

import easycore_parallel
from easycore_parallel import (
    NotPicklableError,
    ProducerDiedError,
    RunnerClosedError,
    RunnerError,
)

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

__version__ = "0.1.0"

__all__ = [
    "BaseRunner",
    "NotPicklableError",
    "OrderedRunner",
    "ProducerDiedError",
    "RunnerClosedError",
    "RunnerError",
    "UnorderedRunner",
]


# -- Errors ---------------------------------------------------------------------------------
#
# The runners raise the errors of easycore_parallel, re-exported above as the same classes,
# so ``except easycore_parallel.RunnerError`` catches the errors of both packages.


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
        backend: ``"process"`` (default) or ``"thread"`` (producers are threads of this
            process; their torch thread count is left alone, since it is per process).
        progress: Show a tqdm progress bar per call (needs
            ``pip install 'easycore-parallel[progress]'``).

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An empty device list, a device string torch does not know, a CUDA
            device this machine lacks (the message names it), ``fork`` where it is unsafe,
            a non-positive ``queue_scale`` or ``threads_per_producer``.
        NotPicklableError: The runner class or ``cfg`` cannot be sent to producers
            started with ``spawn`` or ``forkserver``.
        Exception: Whatever ``producer_init`` raised, with the producer's traceback.
    """

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
    ) -> None:
        # Set first: the engine's constructor starts the producers.
        self._threads_per_producer = _parse_threads(threads_per_producer)
        super().__init__(
            devices,
            cfg,
            queue_scale,
            start_method=start_method,
            backend=backend,
            progress=progress,
        )

    # -- Seams of easycore_parallel (and ``_pickler``, set under "tensor transport") -----

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
        _parse_device(device)  # a typo fails here, before any process starts
        return {
            "threads": self._threads_per_producer,
            "producers": len(self._devices),
            "caller_pid": os.getpid(),
        }

    @staticmethod
    def _setup_producer(device: str, options: Mapping[str, Any]) -> None:
        # Threads are per process: a producer thread (backend="thread") leaves them alone.
        if os.getpid() != options["caller_pid"]:
            torch.set_num_threads(options["threads"] or _default_threads(options["producers"]))
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

_SHARED_MIN_BYTES: Final = 1 << 20  # 1 MiB: below it a copy through the pipe is faster
# than a shared-memory segment (about 0.4 ms to set up and hand over each), and holds no
# file descriptor open while the tensor lives (thousands of them hit `ulimit -n` 1024).

# torch.multiprocessing's reducer: the storage moves to shared memory (CUDA: IPC handle).
_reduce_shared: Callable[[torch.Tensor], Any] = torch.multiprocessing.reductions.reduce_tensor


class _TensorPickler(ForkingPickler):
    """A ForkingPickler that copies small CPU tensors and shares the others.

    torch.multiprocessing registers its reducers on ForkingPickler for the whole process;
    this pickler changes the choice for plain tensors only, and only for our runners.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Tensors made while pickling must outlive it: the pickler reads their memory.
        self._kept: list[torch.Tensor] = []
        self.dispatch_table = {**self.dispatch_table, torch.Tensor: self._reduce_tensor}

    def _reduce_tensor(self, tensor: torch.Tensor) -> Any:
        if tensor.is_conj() or tensor.is_neg():  # torch's reducer would drop these bits
            tensor = self._keep(tensor.resolve_conj().resolve_neg())
        if not _is_copied(tensor):
            return _reduce_shared(tensor)
        if not tensor.is_contiguous():
            tensor = self._keep(tensor.contiguous())
        # The pickler copies the tensor's memory straight into its output (a bytearray,
        # protocol 5). No torch op runs here: in the caller's process one would wake
        # torch's intra-op threads, which then spin on the cores the producers need.
        nbytes = tensor.numel() * tensor.element_size()
        memory = (ctypes.c_char * nbytes).from_address(tensor.data_ptr()) if nbytes else b""
        data = pickle.PickleBuffer(memoryview(memory).cast("B"))
        return (_rebuild_copied_tensor, (data, tensor.dtype, tuple(tensor.shape)))

    def _keep(self, tensor: torch.Tensor) -> torch.Tensor:
        self._kept.append(tensor)
        return tensor


# The engine pickles every batch and result of our runners with it.
BaseRunner._pickler = _TensorPickler


def _is_copied(tensor: torch.Tensor) -> bool:
    """Tell whether a tensor travels by value: small, on the CPU, and plain."""
    return (
        tensor.device.type == "cpu"
        and tensor.layout == torch.strided
        and tensor.numel() * tensor.element_size() < _SHARED_MIN_BYTES
        and not tensor.requires_grad  # torch's reducer applies autograd's rules
        and not tensor.untyped_storage().is_shared()  # already shared (Hogwild!): keep it so
        and not tensor.is_quantized
        and not tensor.is_nested
    )


def _rebuild_copied_tensor(
    data: bytearray, dtype: torch.dtype, shape: tuple[int, ...]
) -> torch.Tensor:
    if not data:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(data, dtype=dtype).view(shape)  # the tensor keeps data alive
