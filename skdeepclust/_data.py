"""Training data that is read block by block: memory-mapped files, dask, h5py, zarr.

A fit on an in-memory numpy array moves the whole array to the device once (the fast
path). A fit on an array that slices lazily instead reads it in blocks of contiguous rows:
the training loop visits the blocks in a random order and shuffles the rows within each
block (a shuffle buffer, as streaming trainers do), so that one block at a time is in
memory, converted to the compute dtype on the device. :class:`StreamedRows` stands in
for the training tensor: the families index it as they index a tensor (``rows[idx]``,
``rows.index_select(0, idx)``, ``rows[a:b]``).
"""

from __future__ import annotations

import mmap
from numbers import Integral

import numpy as np
import torch

__all__ = ["StreamedRows", "block_rows_for", "epoch_order", "streams", "validate_streamed"]

#: Bytes of one block of training rows (in the input's dtype): large enough that reading
#: a block costs far more than the per-block overhead, small enough to be a bounded part
#: of the memory a user has.
BLOCK_BYTES = 32 * 2**20


def _is_lazy(X) -> bool:
    """An array that slices lazily: not numpy, but with a shape, a dtype and slicing
    (dask arrays, h5py and zarr datasets)."""
    if isinstance(X, np.ndarray) or not all(
        hasattr(X, a) for a in ("shape", "dtype", "__getitem__")
    ):
        return False
    module = type(X).__module__.split(".")[0]
    return module not in ("scipy", "pandas", "torch", "cupy")


def _is_memory_mapped(X) -> bool:
    """Whether ``X``'s memory is a file mapping. A copy of a memory map (``mm.copy()``,
    ``mm[:n] * 1``) keeps the :class:`numpy.memmap` class but lives in memory: numpy
    gives it no mapping (``_mmap is None``), and it is not streamed."""
    base = X
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap) and getattr(base, "_mmap", None) is not None:
            return True
        base = base.base
    return isinstance(base, mmap.mmap)


def streams(X) -> bool:
    """Whether a fit reads ``X`` block by block instead of moving it whole to the device:
    memory-mapped numpy arrays and arrays that slice lazily."""
    return _is_lazy(X) or (isinstance(X, np.ndarray) and _is_memory_mapped(X))


def validate_streamed(estimator, X, *, reset: bool):
    """The checks of ``validate_data`` that need no pass over the data.

    Shape, dtype and the number of features are checked here; the values (NaN, inf)
    are checked block by block as training reads them (:class:`StreamedRows`).
    """
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(f"Expected a 2D array, got an array of shape {shape}.")
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "fiub":
        raise TypeError(
            f"X has dtype {dtype}; streamed training data must be numeric (float32 or "
            "float64 preferred)."
        )
    n_samples, n_features = shape
    if n_samples < 1:
        raise ValueError(f"Found array with {n_samples} sample(s) (shape={shape}) while a "
                         "minimum of 1 is required.")
    if n_features < 1:
        raise ValueError(f"Found array with {n_features} feature(s) (shape={shape}) while "
                         "a minimum of 1 is required.")
    if reset:
        estimator.n_features_in_ = n_features
        estimator.__dict__.pop("feature_names_in_", None)
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return X


def output_dtype(X) -> np.dtype:
    """The dtype of a streamed array's outputs: its own when floating, else float64."""
    dtype = np.dtype(X.dtype)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def block_rows_for(X, block_bytes: int | None = None) -> int:
    """Rows per block: ``block_bytes`` (default :data:`BLOCK_BYTES`) of rows, whole
    chunks of a chunked array."""
    n, d = X.shape
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    rows = max(1, block_bytes // max(1, d * np.dtype(X.dtype).itemsize))
    chunks = getattr(X, "chunks", None)
    if isinstance(chunks, tuple) and chunks and isinstance(chunks[0], tuple):  # dask
        first = int(chunks[0][0])
        rows = max(first, rows - rows % first) if first else rows
    elif isinstance(chunks, tuple) and chunks and isinstance(chunks[0], Integral):  # h5py, zarr
        first = int(chunks[0])
        rows = max(first, rows - rows % first)
    return int(min(rows, n))


def epoch_order(n: int, block_rows: int | None, generator: torch.Generator,
                device: torch.device) -> torch.Tensor:
    """One epoch's row order: a permutation of ``range(n)``, or (``block_rows``) the
    blocks of ``block_rows`` consecutive rows in a random order, each shuffled."""
    if not block_rows or block_rows >= n:
        return torch.randperm(n, generator=generator, device=device)
    n_blocks = -(-n // block_rows)
    blocks = torch.randperm(n_blocks, generator=generator, device=device)
    parts = []
    for b in blocks.tolist():
        start = b * block_rows
        size = min(block_rows, n - start)
        parts.append(start + torch.randperm(size, generator=generator, device=device))
    return torch.cat(parts)


class StreamedRows:
    """The training rows of a fit that streams ``X`` (see the module docstring).

    Indexing returns a tensor on ``device`` in ``dtype``. Rows within the cached block
    cost a gather; rows outside it load their block (a random-access index, whose rows
    span many blocks, reads just those rows). A block with NaN or infinity raises a
    ``ValueError`` that names its rows.
    """

    def __init__(self, X, *, device: torch.device, dtype: torch.dtype,
                 block_rows: int | None = None, n_rows: int | None = None):
        self.X = X
        n = int(X.shape[0]) if n_rows is None else int(n_rows)  # the first n_rows rows
        self.shape = torch.Size((n, int(X.shape[1])))
        self.device = torch.device(device)
        self.dtype = dtype
        self.block_rows = int(block_rows or block_rows_for(X))
        self._start = -1
        self._block: torch.Tensor | None = None
        # a memory map was validated as numpy when the fit started (sklearn's finiteness
        # check streams over it); lazy arrays are checked block by block as they are read
        self._check_finite = not isinstance(X, np.ndarray)

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, index) -> torch.Tensor:
        """Rows ``index`` (a slice or sorted unique integer array) as a tensor."""
        part = self.X[index]
        if hasattr(part, "compute"):  # dask
            part = part.compute()
        part = np.asarray(part)
        if self._check_finite and part.dtype.kind == "f" and not np.isfinite(part).all():
            where = (f"rows {index.start}-{index.stop - 1}" if isinstance(index, slice)
                     else f"{len(index)} rows from {int(index[0])} to {int(index[-1])}")
            raise ValueError(f"Input X contains NaN or infinity ({where}).")
        if not part.flags.writeable:
            part = part.copy()
        return torch.as_tensor(part).to(self.device, self.dtype)

    def _load_block(self, block: int) -> None:
        start = block * self.block_rows
        stop = min(start + self.block_rows, self.shape[0])
        self._block = None  # release the old block before reading the new one
        self._block = self._read(slice(start, stop))
        self._start = start

    def __getitem__(self, idx) -> torch.Tensor:
        if isinstance(idx, slice):
            start, stop, step = idx.indices(self.shape[0])
            if step != 1:
                raise IndexError("StreamedRows supports slices with step 1 only.")
            return self._read(slice(start, stop))
        idx = torch.as_tensor(idx)
        if idx.numel() == 0:
            return torch.empty((0, self.shape[1]), dtype=self.dtype, device=self.device)
        lo, hi = int(idx.min()), int(idx.max())
        first, last = lo // self.block_rows, hi // self.block_rows
        if first == last:  # the training loop's minibatches: within one block
            if self._start != first * self.block_rows:
                self._load_block(first)
            return self._block.index_select(0, (idx - self._start).to(self.device))
        rows = idx.cpu().numpy()
        unique, inverse = np.unique(rows, return_inverse=True)
        part = self._read(unique)
        return part.index_select(0, torch.as_tensor(inverse, device=self.device))

    def index_select(self, dim: int, idx: torch.Tensor) -> torch.Tensor:
        if dim != 0:
            raise IndexError("StreamedRows selects rows only (dim=0).")
        return self[idx]
