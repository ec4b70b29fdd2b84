"""Sparse (CSR / CSC) input: minibatch rows densified on the device, column statistics and
chunked inference, never a dense copy of the whole matrix."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

#: The sparse formats the estimators that take sparse input accept (``accept_sparse``).
SPARSE_FORMATS = ("csr", "csc")


def as_csr(X):
    """``X`` as CSR in canonical form (sorted, no duplicate entries): a CSC matrix is
    converted once (minibatches slice rows), a non-canonical one copied; dense ``X`` is
    returned as it is."""
    if not sp.issparse(X):
        return X
    X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


class SparseRows:
    """A CSR matrix on the device whose ``index_select(0, rows)`` gives dense rows.

    The training set stays sparse (its three CSR arrays moved to the device once); each
    minibatch is scattered into a dense ``(batch, n_features)`` tensor on the device, so no
    dense copy of the whole matrix is ever made. It stands in for the dense training
    tensor in the step function. With ``dtype=torch.bool`` the rows are the non-zero
    pattern (``X != 0``: the binary RBM's sparse kernels read only that).
    """

    def __init__(self, X: sp.csr_matrix, device: torch.device, dtype: torch.dtype) -> None:
        self.indptr = torch.as_tensor(X.indptr.astype(np.int64), device=device)
        # column indices as int32 (n_features < 2**31): 8 bytes per non-zero with float32
        self.indices = torch.as_tensor(X.indices.astype(np.int32), device=device)
        if dtype == torch.bool:  # one byte per non-zero; duplicates need no accumulation
            self.data = torch.as_tensor(X.data != 0, device=device)
        else:
            self.data = torch.as_tensor(X.data, device=device).to(dtype)
        self.shape = X.shape
        self.dtype = dtype

    def pattern(self) -> SparseRows:
        """The same rows as bools (``X != 0``), sharing the index arrays."""
        out = object.__new__(SparseRows)
        out.indptr, out.indices, out.shape = self.indptr, self.indices, self.shape
        out.data = self.data != 0
        out.dtype = torch.bool
        return out

    def index_select(self, dim: int, rows: Tensor) -> Tensor:
        if self.dtype == torch.bool and self.data.device.type == "cpu":
            return self._bool_rows_numpy(rows)
        start = self.indptr[rows]
        counts = self.indptr[rows + 1] - start
        total = int(counts.sum())
        out = torch.zeros((rows.shape[0], self.shape[1]), dtype=self.dtype,
                          device=self.data.device)
        if total:
            batch_row = torch.repeat_interleave(
                torch.arange(rows.shape[0], device=rows.device), counts, output_size=total
            )
            # position of each stored entry: its row's start plus its rank within the row
            first = torch.cumsum(counts, 0) - counts
            pos = start[batch_row] + torch.arange(total, device=rows.device) - first[batch_row]
            out.index_put_((batch_row, self.indices[pos].long()), self.data[pos],
                           accumulate=self.dtype != torch.bool)
        return out

    def _bool_rows_numpy(self, rows: Tensor) -> Tensor:
        """:meth:`index_select` of bool rows on the CPU by NumPy fancy indexing (a third of
        the torch ops' time on a 100-row minibatch: the binary RBM's sparse step runs it
        at every update)."""
        indptr, indices, data = self.indptr.numpy(), self.indices.numpy(), self.data.numpy()
        r = rows.numpy()
        start = indptr[r]
        counts = indptr[r + 1] - start
        out = np.zeros((r.shape[0], self.shape[1]), dtype=bool)
        total = int(counts.sum())
        if total:
            batch_row = np.repeat(np.arange(r.shape[0]), counts)
            # position of each stored entry: its row's start plus its rank within the row
            pos = np.repeat(start - (np.cumsum(counts) - counts), counts) + np.arange(total)
            out[batch_row, indices[pos]] = data[pos]
        return torch.from_numpy(out)


def stored_values(X) -> np.ndarray:
    """The values of ``X`` a range check needs: a dense array as it is, a sparse matrix's
    stored values plus one 0 when it has implicit zeros (never densified)."""
    if not sp.issparse(X):
        return np.asarray(X)
    n, d = X.shape
    data = X.data
    return np.append(data, data.dtype.type(0)) if X.nnz < n * d else data


def column_moments(X: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Column means and (biased) variances of a sparse matrix in float64, from its stored
    values (E[x^2] - E[x]^2, clipped at 0). Binary columns get their exact means: the
    column sums are integers, divided once by ``n_samples``."""
    n = X.shape[0]
    mean = np.asarray(X.sum(axis=0, dtype=np.float64)).ravel() / n
    sq = X.copy()
    sq.data = np.square(sq.data, dtype=np.float64)
    var = np.asarray(sq.sum(axis=0)).ravel() / n - mean * mean
    return mean, np.maximum(var, 0.0)


def chunked_inference(estimator, fn: Callable, X, **kwargs):
    """``estimator._inference(fn, X)``; a sparse ``X`` is densified one chunk of rows at a
    time, the chunks of the dense path (``_inference_batch_size`` rows in the wider of the
    input and compute dtypes: the ``working_memory`` budget), so that the results equal
    those of ``X.toarray()``, random draws included."""
    if not sp.issparse(X):
        return estimator._inference(fn, X, **kwargs)
    X = X.tocsr()
    compute = np.dtype(getattr(estimator, "_compute_dtype", X.dtype))
    step = estimator._inference_batch_size(max(compute.itemsize, X.dtype.itemsize))
    parts = [estimator._inference(fn, X[i:i + step].toarray(), **kwargs)
             for i in range(0, X.shape[0], step)]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts))
    return np.concatenate(parts)
