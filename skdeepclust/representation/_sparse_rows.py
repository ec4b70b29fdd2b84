"""Sparse training data for the AutoEncoder: CSR rows densified one minibatch at a time."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor


class SparseRows:
    """A CSR matrix on the device whose ``index_select(0, rows)`` gives dense rows.

    The training set stays sparse (its three CSR arrays moved to the device once); each
    minibatch is scattered into a dense ``(batch, n_features)`` tensor on the device, so no
    dense copy of the whole matrix is ever made. It stands in for the dense training
    tensor in the step function.
    """

    def __init__(self, X: sp.csr_matrix, device: torch.device, dtype: torch.dtype) -> None:
        self.indptr = torch.as_tensor(X.indptr.astype(np.int64), device=device)
        # column indices as int32 (n_features < 2**31): 8 bytes per non-zero with float32
        self.indices = torch.as_tensor(X.indices.astype(np.int32), device=device)
        self.data = torch.as_tensor(X.data, device=device).to(dtype)
        self.shape = X.shape
        self.dtype = dtype

    def index_select(self, dim: int, rows: Tensor) -> Tensor:
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
                           accumulate=True)
        return out
