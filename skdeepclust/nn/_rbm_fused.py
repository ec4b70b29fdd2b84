"""The fused binary update of :meth:`skdeepclust.nn.rbm_training.RBMUpdater.fused_step`.

The same CD-k / PCD-k update of a binary-binary RBM as the generic sampler +
:meth:`~skdeepclust.nn.rbm_training.RBMUpdater.step` path, with the same random draws,
rearranged for speed (see ``fused_step``'s docstring), in two implementations:

* :class:`TorchFusedStep`: torch ops, dense or sparse (embedding bags over the ones of the
  binary states), any device. Its phases: positive phase, negative phase (the Gibbs chain),
  statistics, weight update, bias update.
* :func:`numba_step`: the sparse step on the CPU by the numba kernels of
  :mod:`skdeepclust.nn._rbm_kernels` (imported on first use by :func:`_numba_kernels`: numba
  is never imported by ``import skdeepclust``), around the random draws and one dense product
  that stay in torch.

The work tensors of both are cached on the updater (``_buffers``, ``_nb_buffers``) for the
last batch shape. Not public: the updater is the interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

if TYPE_CHECKING:
    from .rbm_training import RBMUpdater

#: The fused sparse update forms the weight update V^T H with an embedding bag per visible
#: unit from this many rows of V = [minibatch; chains] on, below with one dense addmm_
#: (crossover measured on 784-500 binary MNIST, one CPU thread: dense is faster at 32 rows,
#: the bags at 64; a sparse CSR addmm_ was slower than either).
_EMB_OUTER_ROWS = 48
#: Up to this many rows of [minibatch; chains] the ranks of the ones in their columns come
#: from a cumsum over rows; beyond, over a transposed copy (a strided cumsum over 2000 rows
#: took 38 ms, the copy + contiguous cumsum 10 ms; at 200 rows 0.34 vs 0.5 ms).
_CUMSUM_ROWS = 256
#: The sparse fused step runs numba kernels (``skdeepclust.nn._rbm_kernels``) on the CPU
#: when numba imports; False forces the pure-torch kernels.
_USE_NUMBA = True
_KERNELS = None  # the kernels module once imported; False when numba is unavailable
_NUMBA_DTYPES = (torch.float32, torch.float64)
#: From this many chains on, the numba step computes the chains' negative visible input
#: h W^T as sums of rows of a group table of W^T (``_rbm_kernels.table``: for each four
#: hidden units the 15 nonzero sums of their rows of W^T; one row per group with a one,
#: 117 rows instead of 250 ones at half ones), built each update from a contiguous copy
#: of W^T; below (or when the table would exceed ``_TABLE_MAX_BYTES``), as a dense mm.
#: Measured on 784-500 binary MNIST, one thread, 1000 chains, ms per update: dense mm 8.5,
#: sums of rows of W^T over the ones 9.4 (+ 1.5 to keep the copy W^T in the weight
#: step's pass), table 5.4 + 0.2 (copy) + 0.1-0.5 (build); at 100 chains the table does
#: not beat the 1.0 ms mm.
_TABLE_NEG_MIN_CHAINS = 256
#: The hidden inputs v W of the minibatch and of the chains are sums of rows of a group
#: table of W (four visible units per group; MNIST's ones cluster: 104 ones but 45 groups
#: per row; 1000 rows: 2.3 ms over the ones, 1.2 ms over the table) when the rows saved
#: on the batch (ones minus groups, times 1 + chains / batch) exceed this many times the
#: table's rows (its build writes 3.75 times W: at batch 100 it did not pay);
#: negative: never. Considered (the groups counted) from ``_TABLE_MIN_ROWS`` rows of
#: minibatch + chains on, and only up to ``_TABLE_MAX_BYTES``.
_TABLE_COST = 10.0
_TABLE_MIN_ROWS = 400
_TABLE_MAX_BYTES = 64 << 20
#: The weight update sums the rows of the centered hidden statistics per pattern of four
#: visible units (``_rbm_kernels.group_sums``: 132k instead of 255k rows of 500 at batch
#: 1000 with 1000 chains, 8.1 -> 5 ms) when the rows saved on the minibatch and chains
#: (ones minus groups) exceed this many times the group table's rows (the same counts as
#: ``_TABLE_COST``); negative: never.
_GROUP_UPDATE_COST = 10.0
#: From this many uniforms per update on, the numba step draws them with the numba
#: mt19937 of ``_rbm_kernels.uniform`` (torch's numbers from the generator's own state:
#: 0.8 ns per number against torch.rand's 2.9 here), checked against torch.rand once per
#: process and dtype (:func:`numba_rng_ok`); below, torch.rand (the kernel is compiled on
#: the first update with that many draws).
_NUMBA_RNG_MIN = 32768
_RNG_OK: dict = {}  # dtype -> whether the numba draws equal torch.rand's in this process
#: Bytes of a CPU ``torch.Generator``'s state (CPUGeneratorImplState: seed, left (int32
#: at byte 8), next (uint64 at 16), the 624 mt19937 words as uint64 from byte 24, then the
#: normal samples' cache).
_STATE_BYTES = 5056
#: Rows of the pattern sums (code - 1) whose codes have bit k set, for k = 0, 1, 2, 3.
_PATTERN_ROWS = np.array([c - 1 for k in range(4) for c in range(1, 16) if c >> k & 1],
                         np.int32)


def draw_uniform(K, generator: torch.Generator | None, outs) -> None:
    """Fill the CPU tensors ``outs`` in turn with torch.rand's numbers from ``generator``
    (None: torch's default one), by ``K.uniform`` on a copy of its mt19937 state, written
    back: the generator then stands where torch.rand would have left it."""
    g = torch.default_generator if generator is None else generator
    state = g.get_state()  # a copy
    raw = state.numpy()
    mt = raw[24:24 + 624 * 8].view(np.uint64).astype(np.uint32)
    pos = np.array([raw[8:12].view(np.int32)[0], raw[16:24].view(np.uint64)[0]], np.int64)
    for out in outs:
        f = out.view(-1).numpy()
        K.uniform(mt, pos, f.view(np.uint32), f)
    raw[8:12].view(np.int32)[0] = pos[0]
    raw[16:24].view(np.uint64)[0] = pos[1]
    raw[24:24 + 624 * 8].view(np.uint64)[:] = mt
    g.set_state(state)


def numba_rng_ok(K, dtype: torch.dtype) -> bool:
    """Whether :func:`draw_uniform` makes torch.rand's numbers in this process (checked
    once per dtype on a private generator, across a twist of the state, with the state
    after; False, and torch.rand is used, when torch's generator state is laid out
    otherwise)."""
    ok = _RNG_OK.get(dtype)
    if ok is None:
        ok = False
        a = torch.Generator().manual_seed(20261206)
        if a.get_state().numel() == _STATE_BYTES:
            torch.rand(5, generator=a)
            b = torch.Generator().set_state(a.get_state())
            mine = [torch.empty(700, dtype=dtype), torch.empty(3, 5, dtype=dtype)]
            draw_uniform(K, a, mine)
            ref = [torch.rand(700, generator=b, dtype=dtype),
                   torch.rand(3, 5, generator=b, dtype=dtype)]
            ok = (all(torch.equal(x, y) for x, y in zip(mine, ref))
                  and torch.equal(torch.rand(9, generator=a), torch.rand(9, generator=b)))
        _RNG_OK[dtype] = ok
    return ok


def _words(X: np.ndarray) -> np.ndarray:
    """A C-contiguous bool matrix as uint64 words (8 columns each) when its rows split into
    whole words, else an empty (n_rows, 0) view: the numba CSR builds skip zero words."""
    if X.shape[1] % 8 == 0:
        return X.view(np.uint64)
    return np.empty((X.shape[0], 0), np.uint64)


def _numba_kernels():
    """The numba kernels module, imported on first use (numba's import costs ~0.3 s), or None."""
    global _KERNELS
    if _KERNELS is None:
        try:
            from . import _rbm_kernels
        except Exception:  # noqa: BLE001 - numba missing or broken: the torch kernels run
            _KERNELS = False
        else:
            _KERNELS = _rbm_kernels
    return _KERNELS or None


def numba_kernels_for(W: Tensor):
    """The numba kernels module when the sparse step can run them on ``W`` (CPU, float32 or
    float64, ``_USE_NUMBA`` and numba importable), else None."""
    if _USE_NUMBA and W.device.type == "cpu" and W.dtype in _NUMBA_DTYPES:
        return _numba_kernels()
    return None


def fused_buffers(upd: RBMUpdater, B: int, n_ch: int, n_loss: int, sparse: bool,
                  W: Tensor) -> dict:
    """The work tensors of :class:`TorchFusedStep` for one batch shape, cached on the
    updater (views of a few allocations, reused between calls)."""
    key = (B, n_ch, n_loss, sparse, W.dtype, W.device, W.data_ptr())
    cache = upd.__dict__.setdefault("_buffers", {})
    if key in cache:
        return cache[key]
    nv, nh = W.shape
    n_all = B + n_ch
    kw = {"dtype": W.dtype, "device": W.device}
    long = {"dtype": torch.long, "device": W.device}
    wB = torch.full((n_all,), 1.0 / B, **kw)
    Hv = torch.empty((1 + n_ch + n_loss, nh), **kw)  # rows: dlam, chains - lam, loss rows
    Av = torch.empty((1 + n_ch + n_loss, nv), **kw)
    emb = sparse and n_all >= _EMB_OUTER_ROWS
    Hc = torch.empty((n_all, nh), **kw)
    buf = {"wB": wB, "wB_pos": wB[:B], "wn": torch.full((n_ch,), 1.0 / n_ch, **kw),
           "vmean": torch.empty(nv, **kw), "pmean": torch.empty(nh, **kw),
           "Hv": Hv, "dlam": Hv[0], "Hv_ch": Hv[1:1 + n_ch], "Hv_loss": Hv[1 + n_ch:],
           "Av": Av, "db": Av[0], "Av_rest": Av[1:], "pv_ch": Av[1:1 + n_ch],
           "pv_loss": Av[1 + n_ch:], "WT": W.T,
           "Uh": torch.empty((n_ch, nh), **kw), "Hc": Hc, "Hc_pos": Hc[:B],
           "Hc_neg": Hc[B:n_all], "HcT": Hc[:n_all].T, "emb": emb,
           "dl": torch.empty((n_loss, nv), **kw)}
    buf["dl_flat"] = buf["dl"].view(-1)
    if sparse:
        both = torch.empty((n_all, nv), dtype=torch.bool, device=W.device)
        off_pos = torch.zeros(B + 1, **long)
        off_neg = torch.zeros(n_ch + 1, **long)
        crow = torch.zeros(nv + 1, **long)
        buf.update(dmu=torch.empty(nv, **kw), muW=torch.empty(nh, **kw),
                   dc=torch.empty(nh, **kw), cw=torch.empty(nh, **kw), off_pos=off_pos,
                   off_pos_end=off_pos[1:], off_neg=off_neg, off_neg_end=off_neg[1:],
                   crow=crow,
                   crow_end=crow[1:], both=both, both_pos=both[:B], v_loss=both[:n_loss],
                   both_neg=both[B:n_all], Uv=torch.empty((n_ch, nv), **kw))
        if emb:
            buf["gcB"] = torch.empty(nh, **kw)
            if n_all > _CUMSUM_ROWS:  # the column-wise cumsum on a transposed copy
                buf["both_T"] = torch.empty((nv, n_all), dtype=torch.bool, device=W.device)
        else:  # one dense addmm_ of ([v_pos; v_neg] - mu)^T Hc
            S = torch.empty((n_all, nv), **kw)
            buf.update(S=S, S_T=S.T, nmu=torch.empty(nv, **kw))
    else:
        S = torch.empty((1 + B + n_ch, nv), **kw)  # rows: dmu, v_pos - mu, v_neg - mu
        A = torch.empty((1 + B, nh), **kw)
        buf.update(S=S, dmu=S[0], S_pos=S[1:1 + B], S_neg=S[1 + B:], S_A=S[:1 + B],
                   S_T=S[1:].T, A=A, dc=A[0], A_rest=A[1:])
    cache.clear()  # at most the full and the last (smaller) batch shapes alive
    cache[key] = buf
    return buf


class TorchFusedStep:
    """One fused CD-k / PCD-k update by torch ops (``RBMUpdater.fused_step`` without numba),
    dense or sparse (``sparse``: the minibatch as bools).

    The phases run in this order and share the minibatch's work tensors (:func:`fused_buffers`)
    as attributes: :meth:`positive_phase`, :meth:`negative_phase` (the Gibbs chain),
    :meth:`statistics`, :meth:`update_weights`, :meth:`update_biases`. :meth:`run` calls
    them.
    """

    def __init__(self, upd: RBMUpdater, v_pos: Tensor | None, chain_prob: Tensor | None,
                 sparse: Tensor | None, n_loss: int) -> None:
        m = upd.model
        self.upd, self.model = upd, m
        self.W, self.b, self.c = m.weight, m.visible_bias, m.hidden_bias
        self.mu, self.lam = m.visible_offset, m.hidden_offset
        self.v_pos, self.chain_prob, self.sparse = v_pos, chain_prob, sparse
        self.sp = sparse is not None
        self.B, self.nv = (sparse if self.sp else v_pos).shape
        self.n_ch = self.B if chain_prob is None else chain_prob.shape[0]
        self.n_loss = min(int(n_loss), self.B)
        self.buf = fused_buffers(upd, self.B, self.n_ch, self.n_loss, self.sp, self.W)
        self.rv, self.rh = upd.offset_rate
        self.tv, self.th = upd.offset_type
        self.moving = bool(self.rv or self.rh)
        self.n_all = self.B + self.n_ch

    def run(self, generator: torch.Generator | None, k: int):
        """The update; returns ``(v_neg, p_neg, loss)`` as ``RBMUpdater.fused_step``."""
        self.positive_phase()
        v_neg, loss = self.negative_phase(generator, k)
        p_neg, gb, gc = self.statistics(v_neg)
        self.update_weights(gc)
        self.update_biases(gb, gc)
        self.upd.negative_hidden_prob = p_neg
        return v_neg, p_neg, loss

    def positive_phase(self) -> None:
        """p(h | v_pos), the visible offset move ``dmu`` with its ``dmu W`` (``dc``) and the
        hidden offset move ``dlam``."""
        buf, W, c, mu, lam, B, rv, rh = (self.buf, self.W, self.c, self.mu, self.lam,
                                         self.B, self.rv, self.rh)
        # vbar = vscale * <v_pos>: the column sums (sparse) or means (dense)
        if self.sp:
            self.both, both_pos = buf["both"], buf["both_pos"]
            both_pos.copy_(self.sparse)
            self.vbar = torch.sum(both_pos, 0, dtype=W.dtype, out=buf["vmean"])
            self.vscale = B
            self.v_loss = buf["v_loss"]  # the loss rows below read them as 0 / 1
        else:
            self.vbar = torch.mv(self.v_pos.t(), buf["wB_pos"], out=buf["vmean"])
            self.vscale = 1
            self.v_loss = self.v_pos[:self.n_loss]
        self.dmu = dmu = buf["dmu"]
        if self.tv == "D":  # rv (<v_pos> - mu)
            torch.sub(self.vbar, mu, alpha=self.vscale, out=dmu).mul_(rv / self.vscale)
        else:
            torch.mul(mu, -rv, out=dmu)
        if self.sp:
            muW = torch.mv(buf["WT"], mu, out=buf["muW"])
            self.cw = torch.sub(c, muW, out=buf["cw"])  # hidden input = v W + cw, move-invariant
            self.nz_pos = both_pos.nonzero()
            torch.cumsum(torch.bincount(self.nz_pos[:, 0], minlength=B), 0,
                         out=buf["off_pos_end"])
            vW = F.embedding_bag(self.nz_pos[:, 1], W, buf["off_pos"], mode="sum",
                                 include_last_offset=True)
            self.dc = dc = buf["dc"]  # dmu W = rv (<v_pos W> - mu W), no second pass over W
            if self.tv == "D":
                torch.addmv(muW, vW.t(), buf["wB_pos"], beta=-rv, alpha=rv, out=dc)
            else:
                torch.mul(muW, -rv, out=dc)
            self.p_pos = vW.add_(self.cw).sigmoid_()
        else:
            torch.sub(self.v_pos, mu, out=buf["S_pos"])
            torch.mm(buf["S_A"], W, out=buf["A"])  # its first row: dmu W
            self.dc = buf["dc"]
            self.p_pos = buf["A_rest"].add_(c).sigmoid_()
        self.dlam = dlam = buf["dlam"]
        if self.th == "D":  # rh (<p_pos> - lam) in one op
            torch.addmv(lam, self.p_pos.t(), buf["wB_pos"], beta=-rh, alpha=rh, out=dlam)
        else:
            torch.mul(lam, -rh, out=dlam)

    def negative_phase(self, generator: torch.Generator | None, k: int):
        """The Gibbs chain: the chains' first hidden draw, then the visible one (with the
        loss rows and ``W dlam`` as extra rows of the same product), the offset moves, then
        ``k - 1`` ordinary Gibbs steps. Returns ``(v_neg, loss)``."""
        buf, W, b, lam, n_ch, nv = self.buf, self.W, self.b, self.lam, self.n_ch, self.nv
        hp = self.p_pos if self.chain_prob is None else self.chain_prob
        u = torch.rand(hp.shape, generator=generator, out=buf["Uh"]).lt_(hp)
        torch.sub(u, lam, out=buf["Hv_ch"])
        if self.n_loss:
            torch.sub(self.p_pos[:self.n_loss], lam, out=buf["Hv_loss"])
        torch.mm(buf["Hv"], buf["WT"], out=buf["Av"])
        db = buf["db"]
        buf["Av_rest"].add_(b).sigmoid_()  # p(v = 1 | h): chains' rows, then loss rows
        pv_ch = buf["pv_ch"]
        if self.sp:
            u = torch.rand((n_ch, nv), generator=generator, out=buf["Uv"])
            self.neg_bool = torch.lt(u, pv_ch, out=buf["both_neg"])
            v_neg = self.neg_bool.to(W.dtype)
        else:
            v_neg = torch.rand((n_ch, nv), generator=generator, dtype=W.dtype,
                               device=W.device).lt_(pv_ch)
        loss = None
        if self.n_loss:  # mean squared reconstruction error of the first n_loss rows
            d = buf["dl_flat"]
            torch.add(buf["pv_loss"], self.v_loss, alpha=-1.0, out=buf["dl"])
            loss = torch.dot(d, d).div_(d.shape[0])
        if self.moving:  # the offsets move; the model's distribution does not
            b.add_(db)
            lam.add_(self.dlam)
            self.c.add_(self.dc)
            self.mu.add_(self.dmu)
        m = self.model
        for _ in range(int(k) - 1):
            v_neg = m.sample_v(m.sample_h(v_neg, None, generator), None, generator)
            if self.sp:
                torch.ne(v_neg, 0, out=self.neg_bool)
        return v_neg, loss

    def statistics(self, v_neg: Tensor):
        """p(h | v_neg) and the centered bias gradients at the new offsets: returns
        ``(p_neg, gb, gc)`` with ``gb = <v>_data - <v>_model`` and
        ``gc = <h - lam>_data - <h - lam>_model``; ``Hc`` holds ``[h_pos - lam; lam - h_neg]``
        for the weight step."""
        buf, W, mu, lam, B, n_ch = self.buf, self.W, self.mu, self.lam, self.B, self.n_ch
        if self.sp:
            self.nz_neg = self.neg_bool.nonzero()
            torch.cumsum(torch.bincount(self.nz_neg[:, 0], minlength=n_ch), 0,
                         out=buf["off_neg_end"])
            p_neg = F.embedding_bag(self.nz_neg[:, 1], W, buf["off_neg"], mode="sum",
                                    include_last_offset=True).add_(self.cw).sigmoid_()
        else:
            if self.moving:
                buf["S_pos"].sub_(self.dmu)
            torch.sub(v_neg, mu, out=buf["S_neg"])
            p_neg = torch.addmm(self.c, buf["S_neg"], W).sigmoid_()
        torch.sub(self.p_pos, lam, out=buf["Hc_pos"])
        torch.sub(lam, p_neg, out=buf["Hc_neg"])
        if n_ch != B:
            buf["Hc_neg"].mul_(B / n_ch)
        gc = torch.mv(buf["HcT"], buf["wB"])  # <h - lam>_data - <h - lam>_model
        gb = torch.addmv(self.vbar, v_neg.t(), buf["wn"], beta=1.0 / self.vscale, alpha=-1.0)
        return p_neg, gb, gc

    def _outer_bags(self, gc: Tensor) -> Tensor:
        """``B`` times the centered weight statistic ``(V - mu)^T Hc`` (V = [v_pos; v_neg]
        binary) by an embedding bag per visible unit over the visible-major (transposed
        CSR) order of the ones of V, then the rank one ``-mu (B gc)^T``. The rank of each
        one in its column is read off the column-wise cumulative sum (no sort, no
        transposed nonzero)."""
        buf, B, nv, n_all = self.buf, self.B, self.nv, self.n_all
        nz_pos, nz_neg, both = self.nz_pos, self.nz_neg, self.both
        rows = torch.cat([nz_pos[:, 0], nz_neg[:, 0].add_(B)])
        cols = torch.cat([nz_pos[:, 1], nz_neg[:, 1]])
        crow = buf["crow"]
        if n_all <= _CUMSUM_ROWS:
            C = both.cumsum(0, dtype=torch.int32)
            torch.cumsum(C[-1], 0, out=buf["crow_end"])
            flat = torch.add(cols, rows, alpha=nv)
        else:  # a long strided cumsum over rows is cache-bound: transpose first
            C = buf["both_T"].copy_(both.t()).cumsum(1, dtype=torch.int32)
            torch.cumsum(C[:, -1], 0, out=buf["crow_end"])
            flat = torch.add(rows, cols, alpha=n_all)
        at = crow.take(cols).add_(C.view(-1).take(flat))
        rows_t = torch.empty_like(rows).index_copy_(0, at.sub_(1), rows)
        outer = F.embedding_bag(rows_t, buf["Hc"], crow, mode="sum", include_last_offset=True)
        return outer.addr_(self.mu, torch.mul(gc, B, out=buf["gcB"]), alpha=-1.0)

    def update_weights(self, gc: Tensor) -> None:
        """``W += lr (<(v - mu)(h - lam)>_data - <.>_model)`` in place, with L2 decay and
        momentum (no gradient tensor: the product goes into W or the velocity)."""
        upd, buf, W, B = self.upd, self.buf, self.W, self.B
        rate = upd.learning_rate["weight"]
        if not rate:
            return
        Hc = buf["Hc"]
        outer = lhs = rhs = None  # the step is outer, or the product lhs @ rhs
        if self.sp and buf["emb"]:
            outer = self._outer_bags(gc)
        elif self.sp:  # [v_pos; v_neg] - mu as floats, one dense addmm_
            nmu = torch.neg(self.mu, out=buf["nmu"])
            torch.add(nmu, self.both, out=buf["S"])
            lhs, rhs = buf["S_T"], Hc
        else:
            lhs, rhs = buf["S_T"], Hc
        if upd.momentum:
            vel = upd.velocity.get("weight")
            if vel is None:
                vel = upd.velocity["weight"] = torch.zeros_like(W)
            else:
                vel.mul_(upd.momentum)
            if upd.l2:
                vel.add_(W, alpha=-rate * upd.l2)
            if outer is not None:
                vel.add_(outer, alpha=rate / B)
            else:
                vel.addmm_(lhs, rhs, alpha=rate / B)
            W.add_(vel)
        else:
            if upd.l2:
                W.mul_(1.0 - rate * upd.l2)
            if outer is not None:
                W.add_(outer, alpha=rate / B)
            else:
                W.addmm_(lhs, rhs, alpha=rate / B)

    def update_biases(self, gb: Tensor, gc: Tensor) -> None:
        """The bias steps by :meth:`RBMUpdater.apply` (momentum, sparsity term)."""
        upd = self.upd
        pmean = None  # <p_pos>, for the sparsity term only
        if upd.sparsity_weight and upd.sparsity_target is not None:
            pmean = torch.mv(self.p_pos.T, self.buf["wB_pos"], out=self.buf["pmean"])
        upd.apply({"visible_bias": gb, "hidden_bias": gc}, hidden_mean=pmean)


def numba_buffers(upd: RBMUpdater, B: int, n_ch: int, n_loss: int, params: tuple) -> dict:
    """The NumPy work arrays of :func:`numba_step` for one batch shape, cached on the
    updater."""
    # params: W, b, c, mu, lam; their NumPy views live in the buffer (the views keep
    # the storage alive, so equal data pointers mean the same storage)
    W = params[0]
    key = (B, n_ch, n_loss, W.dtype, *(p.data_ptr() for p in params))
    cache = upd.__dict__.setdefault("_nb_buffers", {})
    if key in cache:
        return cache[key]
    nv, nh = W.shape
    kw = {"dtype": W.dtype}
    n_all = B + n_ch
    ng_v, ng_h = -(-nv // 4), -(-nh // 4)  # groups of the tables (four units each)
    fits = 15 * max(ng_v * nh, ng_h * nv) * W.element_size() <= _TABLE_MAX_BYTES
    # rows of Hv: [dlam; h_chains - lam; p_loss - lam], or with tab_neg [dlam; lam;
    # p_loss - lam] (Av: those rows times W^T, then the chains' rows by the kernel)
    tab_neg = n_ch >= _TABLE_NEG_MIN_CHAINS and fits
    tab_vis = _TABLE_COST >= 0 and fits and n_all >= _TABLE_MIN_ROWS
    n_hv = 2 + n_loss if tab_neg else 1 + n_ch + n_loss
    t = {"Uh": torch.empty((n_ch, nh), **kw), "Uv": torch.empty((n_ch, nv), **kw),
         "Hv": torch.empty((n_hv, nh), **kw),
         "Av": torch.empty((1 + n_ch + n_loss + tab_neg, nv), **kw),
         "WT": torch.empty((nh, nv) if tab_neg else (1, 1), **kw),
         "TWT": torch.empty((15 * ng_h, nv) if tab_neg else (0, 1), **kw),
         "TW": torch.empty((15 * ng_v, nh) if tab_vis else (0, 1), **kw)}
    t["Av_d"] = t["Av"][:n_hv]
    dt = t["Uh"].numpy().dtype
    i32 = np.int32 if n_all * nv < 2**31 else np.int64
    buf = {"t": t, **{k: v.numpy() for k, v in t.items()},
           "params": tuple(p.detach().numpy() for p in params), "tab_neg": tab_neg,
           "tab_vis": tab_vis, "hptr": np.zeros(n_ch + 1, np.int64),
           "hidx": np.zeros(n_ch * ng_h if tab_neg else 1, np.int32),
           "gptr": np.zeros(n_all + 1, np.int64),
           "gidx": np.zeros(n_all * ng_v if tab_vis else 1, i32),
           "bptr": np.zeros(15 * ng_v + 1 if tab_vis else 1, np.int64),
           "brows": np.zeros(n_all * ng_v if tab_vis else 1, i32),
           "S": np.zeros((15, nh), dt), "kidx": _PATTERN_ROWS.astype(i32),
           "A": np.zeros((nv, nh) if tab_vis else (1, 1), dt)}
    buf.update(
        ptr=np.zeros(B + 1, np.int64), idx=np.zeros(B * nv, i32),
        nptr=np.zeros(n_ch + 1, np.int64), nidx=np.zeros(n_ch * nv, i32),
        cptr=np.zeros(nv + 1, np.int64), crows=np.zeros(n_all * nv, i32),
        vbar=np.zeros(nv, dt), dmu=np.zeros(nv, dt), acc=np.zeros((3, nh), dt),
        muW=np.zeros(nh, dt), cw=np.zeros(nh, dt), dc=np.zeros(nh, dt),
        dlam=np.zeros(nh, dt), pmean=np.zeros(nh, dt), gc=np.zeros(nh, dt),
        p_pos=np.zeros((B, nh), dt), Hc=np.zeros((n_all, nh), dt),
        neg=np.zeros((n_ch, nv), np.bool_), none=np.zeros(1, dt), gb=np.zeros(nv, dt),
        ib=np.zeros(max(nv, nh), np.int32))
    buf["fb"] = buf["ib"].view(np.float32)
    buf["negw"] = _words(buf["neg"])
    buf["fast"] = dt == np.float32
    cache.clear()  # at most the full and the last (smaller) batch shapes alive
    cache[key] = buf
    return buf


def numba_step(upd: RBMUpdater, K, sparse: Tensor, chain_prob: Tensor | None, generator,
               k: int, n_loss: int):
    """:meth:`~skdeepclust.nn.rbm_training.RBMUpdater.fused_step` (sparse, CPU) by the numba
    kernels ``K`` of ``_rbm_kernels``."""
    m = upd.model
    W = m.weight
    B, nv = sparse.shape
    nh = W.shape[1]
    n_ch = B if chain_prob is None else chain_prob.shape[0]
    n_loss = min(int(n_loss), B)
    mu_t = m.visible_offset
    buf = numba_buffers(upd, B, n_ch, n_loss, (W, m.visible_bias, m.hidden_bias, mu_t,
                                               m.hidden_offset))
    Wn, b, c, mu, lam = buf["params"]
    dt = Wn.dtype.type
    one = dt(1.0)
    X = sparse.contiguous().numpy()
    rv, rh = upd.offset_rate
    tv, th = upd.offset_type
    t = buf["t"]
    # the same draws as the generic path: the chains' hidden states, then visible ones
    if n_ch * (nh + nv) >= _NUMBA_RNG_MIN and numba_rng_ok(K, W.dtype):
        draw_uniform(K, generator, (t["Uh"], t["Uv"]))
    else:
        torch.rand((n_ch, nh), generator=generator, out=t["Uh"])
        torch.rand((n_ch, nv), generator=generator, out=t["Uv"])
    p_pos = buf["p_pos"]
    hp = p_pos if chain_prob is None else np.ascontiguousarray(chain_prob.detach().numpy())
    ib, fb, fast = buf["ib"], buf["fb"], buf["fast"]
    # mu W from the last update's pass over W, unless a torch op changed W or mu since
    # (in-place torch ops bump a tensor's version; the kernels' numpy writes do not)
    have_muW = buf.get("muW_version") == (W._version, mu_t._version)
    tab_neg, tab_vis, TW = buf["tab_neg"], buf["tab_vis"], buf["TW"]
    gptr, gidx = buf["gptr"], buf["gidx"]
    use_tw = False
    if tab_vis:  # the group table of W pays when the rows saved outweigh its rows
        n_groups, n_ones = K.codes(X, _words(X), gptr, gidx, 0)
        use_tw = (n_ones - n_groups) * (1 + n_ch / B) > _TABLE_COST * TW.shape[0]
        if use_tw:
            K.table(buf["TW"], Wn)
    K.positive(X, _words(X), Wn, c, mu, lam, hp, buf["Uh"], dt(rv), dt(rh), tv == "D",
               th == "D", one, dt(1.0 / B), fast, have_muW, buf["ptr"], buf["idx"],
               buf["vbar"], buf["dmu"], buf["muW"], buf["cw"], buf["dc"], buf["dlam"], p_pos,
               buf["pmean"], buf["Hv"], n_loss, ib, fb, tab_neg, use_tw, TW, gptr, gidx)
    # dense: the sampled hiddens are ~50 % ones (with tab_neg only [dlam; lam; loss rows])
    torch.mm(t["Hv"], W.T, out=t["Av_d"])
    if tab_neg:  # the group table of W^T (from a contiguous copy: torch's blocked transpose)
        K.table(buf["TWT"], t["WT"].copy_(W.T).numpy())
        K.hidden_codes(buf["Uh"], hp, buf["hptr"], buf["hidx"])
    v_neg = torch.empty((n_ch, nv), dtype=W.dtype)
    neg = buf["neg"]
    loss = K.negative_visible(buf["Av"], b, buf["Uv"], X, neg, v_neg.numpy(), n_loss, one,
                              fast, bool(rv or rh), lam, buf["dlam"], c, buf["dc"], mu,
                              buf["dmu"], ib, fb, tab_neg, buf["TWT"], buf["hptr"],
                              buf["hidx"])
    for _ in range(int(k) - 1):
        v_neg = m.sample_v(m.sample_h(v_neg, None, generator), None, generator)
    if k > 1:
        np.not_equal(v_neg.numpy(), 0, out=neg)
    lr = upd.learning_rate
    mom = upd.momentum
    vel = [buf["none"].reshape(1, 1), buf["none"], buf["none"]]
    if mom:
        for i, (name, p) in enumerate((("weight", W), ("visible_bias", m.visible_bias),
                                       ("hidden_bias", m.hidden_bias))):
            v = upd.velocity.get(name)
            if v is None:  # as a zero velocity: the same first step as apply()
                v = upd.velocity[name] = torch.zeros_like(p)
            vel[i] = v.numpy()
    sw = upd.sparsity_weight if upd.sparsity_target is not None else 0.0
    st = upd.sparsity_target if upd.sparsity_target is not None else 0.0
    use_gw = False
    if tab_vis and (use_tw or lr["weight"]):  # the chains' table rows after the data's
        n_groups_ch, n_ones_ch = K.codes(neg, buf["negw"], gptr, gidx, B)
        use_gw = bool(lr["weight"]) and (
            n_ones + n_ones_ch - n_groups - n_groups_ch > _GROUP_UPDATE_COST * TW.shape[0])
    p_neg = torch.empty((n_ch, nh), dtype=W.dtype)
    args = (X, neg, buf["negw"], buf["ptr"], buf["idx"], buf["nptr"], buf["nidx"],
            buf["cptr"], buf["crows"], Wn, buf["cw"], p_pos, p_neg.numpy(), lam, mu, b, c,
            buf["vbar"], buf["Hc"], buf["gc"], buf["gb"], buf["acc"], one, dt(1.0 / B),
            dt(1.0 / n_ch), dt(B), fast, dt(lr["weight"]), dt(lr["visible_bias"]),
            dt(lr["hidden_bias"]), dt(mom), dt(upd.l2), vel[0], vel[1], vel[2], dt(sw),
            dt(st), buf["pmean"], ib, fb, buf["muW"], use_tw, TW, gptr, gidx, use_gw,
            buf["A"])
    if use_gw:  # the statistics, the column sums of the weight step per group, the step
        K.update(*args, 1)
        K.group_sums(buf["Hc"], gptr, gidx, B + n_ch, buf["bptr"], buf["brows"], buf["S"],
                     buf["kidx"], buf["A"])
        K.update(*args, 2)
    else:
        K.update(*args, 0)
    # buf["muW"] is now mu W of the new weights (unless the weights did not move)
    buf["muW_version"] = (W._version, mu_t._version) if lr["weight"] else None
    upd.negative_hidden_prob = p_neg
    out = torch.tensor(loss, dtype=W.dtype) if n_loss else None
    return v_neg, p_neg, out
