"""Data-parallel training with :mod:`torch.distributed`, used by the one training loop.

When a process group is initialised (e.g. under ``torchrun --nproc_per_node=N``) and holds
more than one rank, :func:`skdeepclust._training.train_loop` trains data-parallel through a
:class:`DataParallel` helper, so that no estimator knows about it:

- every rank holds the same training set and draws the same permutation (a copy of rank
  0's generator); a global minibatch has ``batch_size * world_size`` rows and rank ``r``
  takes its ``r``-th contiguous share (``batch_size`` is per rank);
- after each backward pass the gradients of every tensor the loss reaches (the optimizer's
  parameters and any other leaf, e.g. per-sample codes stepped by an optimizer of their
  own) are averaged across ranks, each rank's weighted by its share of the global batch,
  in one ``all_reduce`` of a flat buffer that also carries the minibatch loss. The mean
  loss of a global batch is the share-weighted mean of the ranks' mean losses, so the
  averaged gradient is the gradient one process computes on the whole global batch;
- a step that updates its parameters itself (``optimizer=None``) declares its state
  (``sync_state``: modules, whose parameters and floating buffers count, and tensors such
  as momentum buffers), which is averaged the same way after each step: exact for updates
  affine in the minibatch statistics (SGD with momentum and weight decay, contrastive
  divergence without norm clipping); such a loop that declares nothing trains on every
  rank on the whole data (replicated);
- stop decisions (``before_step``, ``on_epoch_end``) are combined across ranks (one rank
  stopping stops all), and the epoch loss is the global mean, so every rank leaves the
  loop at the same step;
- rank 0's parameters are broadcast at the start (a guard, e.g. for ``random_state=None``)
  and at the end, so the fitted model is the same on every rank.

Before training, the ranks compare the data and model they are about to train on (number
of rows, parameter shapes and dtype, batch size, epochs, phase) and all raise the same
:class:`ValueError` when they disagree. Every collective waits at most the process group's
``timeout`` (set by ``init_process_group(timeout=...)``): a rank that fails on its own (an
error in its data, out of memory) makes the others raise after that time instead of
hanging.

Inside ``with data_parallel(False):`` fits run locally even under a process group.
"""

from __future__ import annotations

import contextlib
import contextvars
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
import torch.distributed as dist

__all__ = ["DataParallel", "data_parallel", "world"]

_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "skdeepclust_data_parallel", default=True
)


@contextlib.contextmanager
def data_parallel(enabled: bool = True) -> Iterator[None]:
    """Turn data-parallel training on or off for the fits run inside the block.

    By default every fit trains data-parallel when a process group with more than one rank
    is initialised. Use ``with data_parallel(False):`` where the ranks should fit models of
    their own (e.g. one model per rank on different data, in a job that initialised the
    process group for something else): the fits then run locally, without any collective.

    Parameters
    ----------
    enabled : bool, default=True
    """
    token = _enabled.set(bool(enabled))
    try:
        yield
    finally:
        _enabled.reset(token)

_DTYPE_CODES = {torch.float16: 1, torch.bfloat16: 2, torch.float32: 3, torch.float64: 4}
_DTYPE_NAMES = {code: str(dtype).removeprefix("torch.") for dtype, code in _DTYPE_CODES.items()}
_FIELDS = ("n_samples", "batch_size", "max_epochs", "shuffle", "phase", "n_tensors",
           "n_values", "dtype", "shapes", "first_shape")


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group; ``(0, 1)`` without one or
    inside ``data_parallel(False)``."""
    if _enabled.get() and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


def _graph_leaves(loss: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors requiring grad that ``loss`` depends on (its autograd graph)."""
    leaves, seen, stack = [], set(), [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        variable = getattr(fn, "variable", None)  # AccumulateGrad nodes hold the leaf
        if variable is not None:
            leaves.append(variable)
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return leaves


class DataParallel:
    """The data-parallel side of one :func:`~skdeepclust._training.train_loop` call.

    Parameters
    ----------
    params : list of Tensor
        The optimizer's parameters (empty when the step updates its parameters itself).
    sync_state : sequence of torch.nn.Module or Tensor, or a callable returning one
        What the step updates itself: modules (their parameters and floating buffers) and
        tensors; averaged after each step. A callable is called at each step (for state
        that is created lazily or replaced by the step, e.g. momentum buffers).
    generator : torch.Generator
        The fit's generator; the permutations come from a copy of rank 0's.
    device : torch.device
        Where the collectives' buffers live (the training device: CPU tensors need gloo,
        CUDA tensors NCCL or gloo).
    """

    def __init__(self, params: list[torch.Tensor],
                 sync_state: Sequence[torch.nn.Module | torch.Tensor]
                 | Callable[[], Sequence[torch.nn.Module | torch.Tensor]],
                 generator: torch.Generator, device: torch.device) -> None:
        self.rank, self.world_size = world()
        self.device = device
        self.params = list(params)
        self._sync_state = sync_state
        self.generator = generator
        self.grad_tensors: list[torch.Tensor] | None = None  # fixed at the first step

    @property
    def module_tensors(self) -> list[torch.Tensor]:
        """The floating tensors of ``sync_state``, as they are now."""
        state = self._sync_state() if callable(self._sync_state) else self._sync_state
        return [
            t for item in state
            for t in ((item,) if isinstance(item, torch.Tensor)
                      else (*item.parameters(), *item.buffers()))
            if t.is_floating_point()
        ]

    # ---------------------------------------------------------------- set-up
    def check_consistent(self, *, phase: str, n_samples: int, batch_size: int,
                         max_epochs: int, shuffle: bool) -> None:
        """All ranks compare what they are about to train; the same ValueError on each."""
        tensors = self.params or self.module_tensors
        shapes = [tuple(t.shape) for t in tensors]
        dtypes = {t.dtype for t in tensors}
        first = (list(shapes[0]) if shapes else [])[:4]
        row = [n_samples, batch_size, max_epochs, int(shuffle), _crc(phase), len(tensors),
               sum(t.numel() for t in tensors),
               _DTYPE_CODES.get(dtypes.pop(), 0) if len(dtypes) == 1 else 0,
               _crc(repr(shapes)), len(first), *first, *[0] * (4 - len(first))]
        mine = torch.tensor(row, dtype=torch.int64, device=self.device)
        rows = [torch.empty_like(mine) for _ in range(self.world_size)]
        dist.all_gather(rows, mine)
        table = torch.stack(rows).cpu().tolist()
        differ = [i for i in range(len(_FIELDS)) if len({r[i] for r in table}) > 1]
        if not differ:
            return

        def describe(r: list[int]) -> str:
            shape = tuple(r[10 : 10 + r[9]])
            return (f"n_samples={r[0]}, batch_size={r[1]}, max_epochs={r[2]}, "
                    f"{r[5]} parameter tensors of {r[6]} values in "
                    f"{_DTYPE_NAMES.get(r[7], 'mixed dtypes')}, first of shape {shape}")

        names = ", ".join(dict.fromkeys(
            "the parameter shapes" if _FIELDS[i] in ("shapes", "first_shape", "n_values",
                                                     "n_tensors") else _FIELDS[i]
            for i in differ))
        ranks = "; ".join(f"rank {k}: {describe(r)}" for k, r in enumerate(table))
        raise ValueError(
            f"The {self.world_size} ranks of the process group disagree on what to train "
            f"in {phase!r} ({names} differ): {ranks}. Under torch.distributed every rank "
            "must fit the same estimator (same hyper-parameters and random_state) on the "
            "same X (same n_samples, n_features and dtype); a different n_features or dtype "
            "shows as different parameter shapes or dtypes."
        )

    def _flat_broadcast(self, tensors: list[torch.Tensor]) -> None:
        if not tensors:
            return
        dtype = tensors[0].dtype if len({t.dtype for t in tensors}) == 1 else torch.float64
        with torch.no_grad():
            flat = torch.cat([t.detach().reshape(-1).to(self.device, dtype) for t in tensors])
            dist.broadcast(flat, src=0)
            offset = 0
            for t in tensors:
                t.copy_(flat[offset : offset + t.numel()].view(t.shape))
                offset += t.numel()

    def start(self) -> torch.Generator:
        """Broadcast rank 0's parameters; return the permutation generator (a copy of rank
        0's generator, the same on every rank)."""
        self._flat_broadcast(self.params or self.module_tensors)
        state = self.generator.get_state()
        buf = state.to(self.device)
        dist.broadcast(buf, src=0)
        perm = torch.Generator(device=self.generator.device)
        perm.set_state(buf.cpu())
        return perm

    def finish(self, perm_generator: torch.Generator) -> None:
        """Broadcast rank 0's parameters again; continue the fit's generator from the
        permutation stream (what one process's generator would hold after a loop whose
        steps draw nothing)."""
        self._flat_broadcast(self.params or self.module_tensors)
        self.generator.set_state(perm_generator.get_state())

    # ---------------------------------------------------------------- per step
    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a global minibatch of indices."""
        return torch.tensor_split(idx, self.world_size)[self.rank]

    def any(self, flag: bool) -> bool:
        """Whether any rank's flag is set (one small all_reduce)."""
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _dtype(self, tensors: Iterable[torch.Tensor]) -> torch.dtype:
        dtypes = {t.dtype for t in tensors}
        return dtypes.pop() if len(dtypes) == 1 else torch.float64

    def reduce_gradients(self, loss: torch.Tensor | None, n_local: int,
                         n_global: int) -> torch.Tensor:
        """Average the gradients across ranks (weights ``n_local / n_global``); return the
        global batch's summed loss (``loss`` is this rank's mean loss, None when this rank
        had no rows)."""
        if self.grad_tensors is None:
            found = {id(p): p for p in self.params}
            if loss is not None and loss.grad_fn is not None:
                for leaf in _graph_leaves(loss):
                    found.setdefault(id(leaf), leaf)
            self.grad_tensors = list(found.values())
        tensors = self.grad_tensors
        dtype = self._dtype(tensors)
        grads = [t.grad for t in tensors]
        # one flat buffer: the gradients, a has-gradient flag per tensor, the summed loss
        parts = [torch.zeros(t.numel(), dtype=dtype, device=self.device) if g is None
                 else g.detach().reshape(-1).to(self.device, dtype)
                 for t, g in zip(tensors, grads)]
        parts.append(torch.tensor([0.0 if g is None else 1.0 for g in grads], dtype=dtype,
                                  device=self.device))
        parts.append(torch.zeros(1, dtype=dtype, device=self.device) if loss is None
                     else loss.detach().reshape(1).to(self.device, dtype) * n_local)
        flat = torch.cat(parts)
        sizes = [t.numel() for t in tensors]
        n_values = sum(sizes)
        if n_local != n_global:
            flat[:n_values].mul_(n_local / n_global)
        dist.all_reduce(flat)
        seen = flat[n_values : n_values + len(tensors)].tolist()
        for t, g, flag in zip(tensors, torch.split(flat[:n_values], sizes), seen):
            if flag > 0:
                t.grad = g.view(t.shape).to(t.dtype)
        return flat[-1]

    def reduce_modules(self, loss: torch.Tensor | None, n_local: int,
                       n_global: int) -> torch.Tensor:
        """Average the declared state (``sync_state``) after a step that updated it
        (weights ``n_local / n_global``); return the global batch's summed loss."""
        tensors = self.module_tensors
        dtype = self._dtype(tensors)
        weight = n_local / n_global
        loss_sum = 0.0 if loss is None else loss.detach().to(self.device, dtype) * n_local
        tail = torch.zeros(1, dtype=dtype, device=self.device)
        tail[0] = loss_sum
        with torch.no_grad():
            flat = torch.cat([*(t.detach().reshape(-1).to(self.device, dtype) * weight
                                for t in tensors), tail])
            dist.all_reduce(flat)
            offset = 0
            for t in tensors:
                t.copy_(flat[offset : offset + t.numel()].view(t.shape))
                offset += t.numel()
        return flat[-1]
