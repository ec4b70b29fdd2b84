"""numba kernels of the fused CD / PCD update of a binary-binary RBM on the CPU.

Imported lazily by :meth:`skdeepclust.nn.rbm_training.RBMUpdater.fused_step` (importing
numba costs about 0.3 s, so ``import skdeepclust`` never imports this module). Every kernel
works in place on NumPy views of the torch tensors (zero-copy) and is compiled on first use
for the compute dtype in use, float32 or float64 (``cache=True``: later processes load the machine code from numba's
cache, next to this file or, when that directory is read-only, in numba's user cache).

The update is split around the two operations that stay in torch: the random numbers (the
same draws, from the same ``torch.Generator``, as the generic sampler + ``RBMUpdater.step``
path) and, for fewer than ``_TABLE_NEG_MIN_CHAINS`` chains (``_rbm_fused.py``), the dense
product of the sampled hiddens (about half ones) with ``W^T``; from that many chains on,
only the rows ``[dlam; lam; p_loss - lam] W^T`` stay a (small) dense product.

* :func:`positive`: the ones of each binary row (row-major CSR, no index tensors), the
  visible offset move ``dmu``, ``mu W`` (kept from the last weight update when W and mu
  did not change since, else one pass over W), ``dmu W`` from the bags, the positive
  hidden probabilities (a sum of rows of W over the ones of each row, or of rows of the
  group table of W), the hidden offset move and the rows ``[dlam; h_chains - lam;
  p_loss - lam]`` of the negative visible product (with ``tab_neg``: ``[dlam; lam;
  p_loss - lam]``).
* :func:`negative_visible`: with ``tab_neg`` the chains' rows of ``h W^T`` (sums of rows
  of the group table of W^T over :func:`hidden_codes`, minus ``lam W^T``); the chains'
  visible probabilities and states, the reconstruction error of the loss rows and the
  offset moves (the model's distribution is unchanged by them).
* :func:`update`: the chains' hidden probabilities (sums of rows of W or of its group
  table), the centered statistics, and ``W += lr ((V - mu)^T (H - lam))``
  (V = [minibatch; chains]) as, per visible unit, a sum of rows of ``H - lam`` over the
  ones of its column (a transposed CSR built by counting; no sum for a column of none or
  one; or the sums of :func:`group_sums`) minus the rank-one ``mu_j B <h - lam>``, fused
  with weight decay, momentum and the next step's ``mu W`` in one loop per row of W (one
  pass over W: on sparse data most rows see no ones); then the bias updates (momentum,
  sparsity).

Group tables (for large batches, chosen in ``_rbm_fused.numba_step``): :func:`table`
builds, for each four rows of W (or of W^T), their 15 nonzero subset sums; a sum of rows
over a binary pattern is then at most one table row per group of four units
(:func:`codes`, :func:`hidden_codes` list them). Binary MNIST rows have 104 ones but 45
nonzero groups, the chains 152 and 87, the sampled hiddens (about half ones) 250 and 117:
about half the rows to add, for a table built once per update. :func:`group_sums` uses the
same grouping for the weight step's column sums.

The helpers (``_sigmoid``, ``_bag``, ``_csr``) are each compiled for one signature, and the
first fit of a small batch calls only the three kernels above: a cold numba cache compiles
six functions; the group-table kernels are compiled on the first large-batch update.
"""


from __future__ import annotations

import numpy as np
from numba import njit

from .._numba_cache import install_cache_locator

# compiled kernels go to one user cache shared by every install of the same source
# (a reinstall or another environment loads them instead of compiling again)
install_cache_locator()

# No "nnan"/"ninf": sigmoid(-100) needs exp(100) = inf -> 1 / inf = 0.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_OPTS = {"fastmath": _FASTMATH, "nogil": True, "error_model": "numpy", "boundscheck": False}


def _jit(func=None, **extra):
    """``njit(cache=True)``; without the on-disk cache when numba finds no writable cache
    directory (neither next to this file nor a user cache dir): compiled per process."""
    if func is None:
        return lambda f: _jit(f, **extra)
    try:
        return njit(cache=True, **_OPTS, **extra)(func)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(cache=False, **_OPTS, **extra)(func)



@_jit
def _sigmoid(x, ib, fb, fast):
    """x <- 1 / (1 + exp(-x)) in place (1-D). ``fast`` (float32 only): a branch-free
    Cephes-style expf that vectorizes (relative error ~1e-7; ib/fb: an int32 scratch and its
    float32 view, for 2^k); otherwise libm's exp."""
    n = x.shape[0]
    if fast:
        for i in range(n):
            # -x clipped to [-87, 88] by selects (numba's min / max: two more compilations)
            z = -x[i]
            z = z if z > np.float32(-87.0) else np.float32(-87.0)  # noqa: FURB136
            z = z if z < np.float32(88.0) else np.float32(88.0)  # noqa: FURB136
            k = np.floor(z * np.float32(1.44269504088896341) + np.float32(0.5))
            r = z - k * np.float32(0.693359375) + k * np.float32(2.12194440e-4)
            q = np.float32(1.9875691500e-4)
            q = q * r + np.float32(1.3981999507e-3)
            q = q * r + np.float32(8.3334519073e-3)
            q = q * r + np.float32(4.1665795894e-2)
            q = q * r + np.float32(1.6666665459e-1)
            q = q * r + np.float32(5.0000001201e-1)
            x[i] = q * r * r + r + np.float32(1.0)
            ib[i] = (np.int32(k) + np.int32(127)) << np.int32(23)
        for i in range(n):
            x[i] = np.float32(1.0) / (np.float32(1.0) + x[i] * fb[i])
    else:
        for i in range(n):
            x[i] = 1.0 / (1.0 + np.exp(-x[i]))


@_jit
def _bag(dst, src, ids, start, stop):
    """dst += the sum of the rows src[ids[p]] for p in [start, stop), eight rows at a time
    (one read-modify-write of dst per eight rows: ~45 ns per 500-float row here)."""
    n = dst.shape[0]
    p = start
    while p + 8 <= stop:
        a0 = src[ids[p]]
        a1 = src[ids[p + 1]]
        a2 = src[ids[p + 2]]
        a3 = src[ids[p + 3]]
        a4 = src[ids[p + 4]]
        a5 = src[ids[p + 5]]
        a6 = src[ids[p + 6]]
        a7 = src[ids[p + 7]]
        for h in range(n):
            dst[h] += ((a0[h] + a1[h]) + (a2[h] + a3[h])) + ((a4[h] + a5[h]) + (a6[h] + a7[h]))
        p += 8
    while p < stop:
        a0 = src[ids[p]]
        for h in range(n):
            dst[h] += a0[h]
        p += 1


@_jit
def _csr(X, Xw, ptr, idx, counts):
    """The ones of each row of the bool matrix X (row-major CSR: ptr, idx; branch-free);
    adds the column counts to ``counts``. ``Xw``: X viewed as uint64 words, shape
    (n_rows, n_cols // 8), to skip eight zeros at a time (or shape (n_rows, 0))."""
    nv = X.shape[1]
    nw = Xw.shape[1]
    nnz = 0
    ptr[0] = 0
    for i in range(X.shape[0]):
        for w in range(nw):
            if Xw[i, w] != 0:
                for j in range(8 * w, 8 * w + 8):
                    x = X[i, j]
                    idx[nnz] = j
                    nnz += x
                    counts[j] += x
        for j in range(8 * nw, nv):
            x = X[i, j]
            idx[nnz] = j
            nnz += x
            counts[j] += x
        ptr[i + 1] = nnz



@_jit
def uniform(mt, pos, w, f):
    """torch's CPU ``uniform_`` on [0, 1) from an mt19937 state, the same numbers (see
    ``_rbm_fused.draw_uniform``): ``mt`` the 624 state words, ``pos`` ``[left, next]``
    (both advanced here). ``f`` (1-D, float32 or float64) is filled through ``w``, the same
    memory as uint32 words: each float32 from the low 24 bits of one draw, each float64
    from the low 53 bits of two (the first the high word)."""
    n = w.shape[0]
    left = pos[0]
    nxt = pos[1]
    i = 0
    um = np.uint32(0x80000000)
    lm = np.uint32(0x7FFFFFFF)
    ma = np.uint32(0x9908B0DF)
    one = np.uint32(1)
    zero = np.uint32(0)
    while i < n:
        if left == 1:  # the next draw twists the state (mt19937's next_state)
            for j in range(227):
                y = ((mt[j] & um) | (mt[j + 1] & lm)) >> one
                mt[j] = mt[j + 397] ^ y ^ (ma if mt[j + 1] & one else zero)
            for j in range(227, 623):
                y = ((mt[j] & um) | (mt[j + 1] & lm)) >> one
                mt[j] = mt[j - 227] ^ y ^ (ma if mt[j + 1] & one else zero)
            y = ((mt[623] & um) | (mt[0] & lm)) >> one
            mt[623] = mt[396] ^ y ^ (ma if mt[0] & one else zero)
            left = 625
            nxt = 0
        c = left - 1
        if c > n - i:  # noqa: PLR1730 (numba's min: one more compilation)
            c = n - i
        src = mt[nxt:nxt + c]
        dst = w[i:i + c]
        for k in range(c):  # tempering
            y = src[k]
            y ^= y >> np.uint32(11)
            y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
            y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
            y ^= y >> np.uint32(18)
            dst[k] = y
        i += c
        nxt += c
        left -= c
    pos[0] = left
    pos[1] = nxt
    if f.shape[0] == n:  # float32: (x & (2^24 - 1)) / 2^24, in place
        for k in range(n):
            f[k] = (w[k] & np.uint32(0xFFFFFF)) * 5.9604644775390625e-08
    else:  # float64: ((hi << 32 | lo) & (2^53 - 1)) / 2^53, in place (f[k] is w[2k:2k + 2])
        mask = np.uint64((1 << 53) - 1)
        for k in range(f.shape[0]):
            x = (np.uint64(w[2 * k]) << np.uint64(32)) | np.uint64(w[2 * k + 1])
            f[k] = (x & mask) * 1.1102230246251565e-16


@_jit
def table(T, S):
    """The group table of the rows of S into T: for each group g of four consecutive rows
    ``S[4g:4g + 4]`` (missing rows of the last group read as zeros), its 15 nonzero subset
    sums, row ``15 g + code - 1`` of T holding the sum of the rows ``4g + k`` with bit k of
    ``code`` set (4 row copies and 11 row additions per group). A sum of rows of S over a
    binary pattern is then a sum of at most one row of T per group (:func:`codes`)."""
    n_src, n = S.shape
    for g in range(T.shape[0] // 15):
        base = 15 * g
        for k in range(4):
            one = 1 << k
            d = T[base + one - 1]
            if 4 * g + k < n_src:
                s = S[4 * g + k]
                for h in range(n):
                    d[h] = s[h]
            else:
                for h in range(n):
                    d[h] = 0
            for c in range(1, one):
                a = T[base + c - 1]
                e = T[base + one + c - 1]
                for h in range(n):
                    e[h] = d[h] + a[h]


@_jit
def codes(X, Xw, gptr, gidx, r0):
    """The rows of a group table (:func:`table`) that each row of the bool matrix X sums:
    for each group of four columns with a one, ``15 g + code - 1`` (row-major CSR: gptr,
    gidx), as the rows ``r0, r0 + 1, ...`` of the CSR (``gptr[r0]``: where they start). Returns the number of groups found and the number of ones. ``Xw``: X as uint64
    words (or shape (n_rows, 0)): a zero word skips two groups."""
    nv = X.shape[1]
    nw = Xw.shape[1]
    ng = (nv + 3) // 4
    n0 = gptr[r0]
    n = n0
    ones = 0
    for i in range(X.shape[0]):
        for w in range(nw):
            if Xw[i, w] != 0:
                for g in range(2 * w, 2 * w + 2):
                    j = 4 * g
                    x0, x1 = np.int32(X[i, j]), np.int32(X[i, j + 1])
                    x2, x3 = np.int32(X[i, j + 2]), np.int32(X[i, j + 3])
                    code = x0 | (x1 << 1) | (x2 << 2) | (x3 << 3)
                    ones += (x0 + x1) + (x2 + x3)
                    gidx[n] = 15 * g + code - 1
                    n += code != 0
        for g in range(2 * nw, ng):
            code = 0
            stop = 4 * g + 4 if 4 * g + 4 < nv else nv  # noqa: FURB136 (numba's min)
            for j in range(4 * g, stop):
                x = np.int32(X[i, j])
                code |= x << (j - 4 * g)
                ones += x
            gidx[n] = 15 * g + code - 1
            n += code != 0
        gptr[r0 + i + 1] = n
    return n - n0, ones


@_jit
def positive(X, Xw, W, c, mu, lam, hp, Uh, rv, rh, tv_data, th_data, one, inv_b, fast,
             have_muW, ptr, idx, vbar, dmu, muW, cw, dc, dlam, p_pos, pmean, Hv, n_loss, ib,
             fb, tab_neg, use_tw, TW, gptr, gidx):
    """Positive phase; fills ptr/idx (the ones of X), vbar, dmu, muW (unless ``have_muW``:
    then it holds mu W from the last :func:`update`), cw, dc, dlam, p_pos, pmean and Hv.
    ``hp`` is the chains' p(h) (``p_pos`` itself for CD); pmean first sums the
    pre-activations. Hv's rows: ``[dlam; h_chains - lam; p_loss - lam]``, or with
    ``tab_neg`` ``[dlam; lam; p_loss - lam]`` (the chains' hiddens: :func:`hidden_codes`).

    The hidden inputs ``v W`` are sums of rows of W over the ones of each row, or with
    ``use_tw`` sums of rows of the group table ``TW`` of W over the rows gptr/gidx of each
    row (:func:`codes`)."""
    B, nv = X.shape
    nh = W.shape[1]
    n_ch = Uh.shape[0]
    zero = one - one
    for j in range(nv):
        vbar[j] = 0
    _csr(X, Xw, ptr, idx, vbar)
    src, sptr, sidx = (TW, gptr, gidx) if use_tw else (W, ptr, idx)
    for j in range(nv):  # the visible offset move
        if tv_data:
            dmu[j] = rv * (vbar[j] * inv_b - mu[j])
        else:
            dmu[j] = -rv * mu[j]
    if not have_muW:  # mu W: one pass over W (rows with mu_j = 0 skipped)
        for h in range(nh):
            muW[h] = 0
        for j in range(nv):
            m = mu[j]
            if m != 0:
                wj = W[j]
                for h in range(nh):
                    muW[h] += m * wj[h]
    for h in range(nh):
        cw[h] = c[h] - muW[h]  # hidden input = v W + cw, unchanged by the offset moves
        pmean[h] = 0
    # positive hidden probabilities: sigmoid(cw + the sum of the rows of W of the ones)
    for i in range(B):
        row = p_pos[i]
        for h in range(nh):
            row[h] = cw[h]
        _bag(row, src, sidx, sptr[i], sptr[i + 1])
        for h in range(nh):
            pmean[h] += row[h]
        _sigmoid(row, ib, fb, fast)
    # dmu W = rv (<v> - mu) W = rv (<v W> - mu W) = rv (<pre-activation> - c)
    for h in range(nh):
        if tv_data:
            dc[h] = rv * (pmean[h] * inv_b - c[h])
        else:
            dc[h] = -rv * muW[h]
        pmean[h] = 0
    for i in range(B):
        for h in range(nh):
            pmean[h] += p_pos[i, h]
    for h in range(nh):
        pmean[h] *= inv_b
        if th_data:
            dlam[h] = rh * (pmean[h] - lam[h])
        else:
            dlam[h] = -rh * lam[h]
    # rows of the negative visible product: dlam, sampled chain hiddens - lam (or lam and
    # the group-table rows of the sampled chain hiddens), loss rows
    for h in range(nh):
        Hv[0, h] = dlam[h]
    if tab_neg:  # the chains' table rows: hidden_codes
        for h in range(nh):
            Hv[1, h] = lam[h]
        loss0 = 2
    else:
        for r in range(n_ch):
            for h in range(nh):
                Hv[1 + r, h] = (one if Uh[r, h] < hp[r, h] else zero) - lam[h]
        loss0 = 1 + n_ch
    for r in range(n_loss):
        for h in range(nh):
            Hv[loss0 + r, h] = p_pos[r, h] - lam[h]


@_jit
def hidden_codes(Uh, hp, hptr, hidx):
    """The group-table rows (as :func:`codes`) of the chains' sampled hidden states
    ``Uh < hp`` (row-major CSR: hptr, hidx), for :func:`negative_visible`'s sums of rows of
    the group table of W^T."""
    n_ch, nh = Uh.shape
    nnz = 0
    hptr[0] = 0
    for r in range(n_ch):
        u = Uh[r]
        q = hp[r]
        for g in range(nh // 4):
            j = 4 * g
            code = (np.int32(u[j] < q[j]) | (np.int32(u[j + 1] < q[j + 1]) << 1)
                    | (np.int32(u[j + 2] < q[j + 2]) << 2)
                    | (np.int32(u[j + 3] < q[j + 3]) << 3))
            hidx[nnz] = 15 * g + code - 1
            nnz += code != 0
        if nh % 4:  # the last, partial group
            g = nh // 4
            code = 0
            for j in range(4 * g, nh):
                code |= np.int32(u[j] < q[j]) << (j - 4 * g)
            hidx[nnz] = 15 * g + code - 1
            nnz += code != 0
        hptr[r + 1] = nnz


@_jit
def negative_visible(Av, b, Uv, X, neg, v_neg, n_loss, one, fast, moving, lam, dlam, c, dc,
                     mu, dmu, ib, fb, tab_neg, TWT, hptr, hidx):
    """Chains' visible states (into neg and v_neg), the loss and the offset moves.

    ``Av`` holds ``[dlam; h_chains - lam; p_loss - lam] W^T`` (its rows are overwritten),
    or with ``tab_neg`` ``[dlam; lam; p_loss - lam] W^T`` followed by n_ch rows that this
    kernel fills: ``b - lam W^T`` plus the sum of the rows of the group table ``TWT`` of
    W^T over the rows hptr/hidx of each chain's hidden state (from :func:`positive`).
    Returns the mean squared reconstruction error of the first ``n_loss`` rows of X.
    """
    n_ch, nv = Uv.shape
    zero = one - one
    ch0 = 2 + n_loss if tab_neg else 1
    loss0 = 2 if tab_neg else 1 + n_ch
    for r in range(n_ch):
        a = Av[ch0 + r]
        if tab_neg:
            lw = Av[1]
            for j in range(nv):
                a[j] = b[j] - lw[j]
            _bag(a, TWT, hidx, hptr[r], hptr[r + 1])
        else:
            for j in range(nv):
                a[j] += b[j]
        _sigmoid(a, ib, fb, fast)
        for j in range(nv):
            s = Uv[r, j] < a[j]
            neg[r, j] = s
            v_neg[r, j] = one if s else zero
    loss = 0.0
    for r in range(n_loss):
        a = Av[loss0 + r]
        for j in range(nv):
            a[j] += b[j]
        _sigmoid(a, ib, fb, fast)
        for j in range(nv):
            d = a[j] - (one if X[r, j] else zero)
            loss += d * d
    if n_loss:
        loss /= n_loss * nv
    if moving:
        for j in range(nv):
            b[j] += Av[0, j]
            mu[j] += dmu[j]
        for h in range(lam.shape[0]):
            lam[h] += dlam[h]
            c[h] += dc[h]
    return loss


@_jit
def group_sums(Hc, gptr, gidx, n_rows, bptr, brows, S, kidx, A):
    """``A[j] = the sum of the rows of Hc over the ones of column j`` of the binary rows
    whose group-table rows (:func:`codes`) are gptr/gidx (the first ``n_rows``), per group
    of four columns: one sum ``S[code - 1]`` per pattern of the group's four bits, over the
    rows with that pattern (``bptr``/``brows``: a CSR of the rows by pattern, built by
    counting), then column ``4g + k`` as the sum of the eight ``S[code - 1]`` with bit k
    set (rows ``kidx[8k:8k + 8]`` of S). On MNIST a row has fewer groups than ones (45 to
    104 on the data, 87 to 152 on the chains): fewer rows of Hc summed than column by
    column."""
    nv, nh = A.shape
    for q in range(bptr.shape[0]):
        bptr[q] = 0
    for p in range(gptr[n_rows]):
        bptr[gidx[p] + 1] += 1
    for q in range(bptr.shape[0] - 1):
        bptr[q + 1] += bptr[q]
    for i in range(n_rows):  # rows of each pattern, ascending (bptr[q] moves to its end)
        for p in range(gptr[i], gptr[i + 1]):
            q = gidx[p]
            brows[bptr[q]] = i
            bptr[q] += 1
    start = gptr[0]  # 0 (an int64 read: one signature of _bag)
    for g in range(bptr.shape[0] // 15):
        for q in range(15):
            d = S[q]
            for h in range(nh):
                d[h] = 0
            stop = bptr[15 * g + q]
            _bag(d, Hc, brows, start, stop)
            start = stop
        for j in range(4 * g, 4 * g + 4 if 4 * g + 4 < nv else nv):  # noqa: FURB136
            a = A[j]
            for h in range(nh):
                a[h] = 0
            k = j - 4 * g
            _bag(a, S, kidx, 8 * k, 8 * k + 8)


@_jit
def update(X, neg, negw, ptr, idx, nptr, nidx, cptr, crows, W, cw, p_pos, p_neg, lam, mu, b, c,
           vbar, Hc, gc, gb, acc, one, inv_b, inv_nch, Bf, fast, lr_w, lr_b, lr_c,
           momentum, l2, vel_W, vel_b, vel_c, sparsity_weight, sparsity_target, pmean, ib, fb,
           muW, use_tw, TW, gptr, gidx, use_gw, A, stage):
    """Chains' hidden probabilities (with ``use_tw`` from the group table ``TW`` of W that
    :func:`positive` built), then the weight and bias updates (in place); with a weight
    update also ``muW = mu W`` of the new weights (the next step's, when nothing else
    changes W or mu in between). ``acc``: a (3, n_hidden) scratch.

    gptr/gidx: the group-table rows (:func:`codes`) of the minibatch (rows ``0 .. B - 1``)
    and of the chains (rows ``B ..``), with ``use_tw``. ``stage``: 0 the whole update;
    1 up to the centered statistics ``Hc`` (then :func:`group_sums` fills ``A``), 2 the
    rest, the weight step taking each visible unit's sum of rows of ``Hc`` from ``A``
    (``use_gw``) instead of summing the rows of its column."""
    B, nv = X.shape
    n_ch = neg.shape[0]
    nh = W.shape[1]
    if stage != 2:  # chains' hidden probabilities, visible bias, statistics
        # the ones of the chains (row-major CSR) and column counts of [X; neg]
        # (the chains' column counts go to gb first: the float counts of positive's _csr, one
        # compiled signature)
        for j in range(nv):
            gb[j] = 0
        _csr(neg, negw, nptr, nidx, gb)
        cptr[0] = 0
        for j in range(nv):
            n_j = np.float64(gb[j])
            gb[j] = vbar[j] * inv_b - n_j * inv_nch  # <v>_data - <v>_chains
            cptr[j + 1] = np.int64(n_j + vbar[j])
        for j in range(nv):
            cptr[j + 1] += cptr[j]
        # chains' hidden probabilities with the parameters before this update
        src, sptr, sidx, r0 = (TW, gptr, gidx, B) if use_tw else (W, nptr, nidx, 0)
        for r in range(n_ch):
            row = p_neg[r]
            for h in range(nh):
                row[h] = cw[h]
            _bag(row, src, sidx, sptr[r0 + r], sptr[r0 + r + 1])
            _sigmoid(row, ib, fb, fast)
        # visible bias
        if momentum != 0:
            for j in range(nv):
                v = momentum * vel_b[j] + lr_b * gb[j]
                vel_b[j] = v
                b[j] += v
        else:
            for j in range(nv):
                b[j] += lr_b * gb[j]
        # centered hidden statistics: rows of [p_pos - lam; (lam - p_neg) B / n_ch]
        scale = Bf * inv_nch
        for h in range(nh):
            gc[h] = 0
        for i in range(B):
            for h in range(nh):
                x = p_pos[i, h] - lam[h]
                Hc[i, h] = x
                gc[h] += x
        for r in range(n_ch):
            for h in range(nh):
                x = (lam[h] - p_neg[r, h]) * scale
                Hc[B + r, h] = x
                gc[h] += x
        for h in range(nh):
            gc[h] *= inv_b
    if stage == 1:
        return
    if not use_gw:  # rows of each visible unit's column, ascending (cptr[j] moves to its end)
        for i in range(B):
            for p in range(ptr[i], ptr[i + 1]):
                j = idx[p]
                crows[cptr[j]] = i
                cptr[j] += 1
        for r in range(n_ch):
            for p in range(nptr[r], nptr[r + 1]):
                j = nidx[p]
                crows[cptr[j]] = B + r
                cptr[j] += 1
    # W += lr / B ((V - mu)^T Hc) = lr / B (sum over the column's rows of Hc) + mu_j g2 with
    # g2 = -lr gc: per visible unit one fused pass over its row of W (and velocity)
    if lr_w != 0:
        alpha = lr_w * inv_b
        decay = lr_w * l2
        keep = one - decay
        bag, g2, zrow = acc[0], acc[1], acc[2]
        for h in range(nh):
            muW[h] = 0
            g2[h] = -lr_w * gc[h]
            zrow[h] = 0
        start = ptr[0]  # 0 (an int64 read, not the literal: one signature of _bag)
        for j in range(nv):
            if use_gw:  # the column's sum from group_sums
                a = A[j]
            else:
                stop = cptr[j]
                if stop == start:  # no ones in the column: the rank-one term only
                    a = zrow
                elif stop == start + 1:
                    a = Hc[crows[start]]
                else:
                    a = bag
                    for h in range(nh):
                        a[h] = 0
                    _bag(a, Hc, crows, start, stop)
                start = stop
            m = mu[j]
            wj = W[j]
            if momentum != 0:
                vj = vel_W[j]
                for h in range(nh):
                    v = momentum * vj[h] - decay * wj[h] + (alpha * a[h] + m * g2[h])
                    vj[h] = v
                    w = wj[h] + v
                    wj[h] = w
                    muW[h] += m * w
            elif decay != 0:
                for h in range(nh):
                    w = wj[h] * keep + (alpha * a[h] + m * g2[h])
                    wj[h] = w
                    muW[h] += m * w
            else:
                for h in range(nh):
                    w = wj[h] + (alpha * a[h] + m * g2[h])
                    wj[h] = w
                    muW[h] += m * w
    # hidden bias (with the sparsity term)
    for h in range(nh):
        g = gc[h]
        if sparsity_weight != 0:
            g += sparsity_weight * (sparsity_target - pmean[h])
        if momentum != 0:
            v = momentum * vel_c[h] + lr_c * g
            vel_c[h] = v
            c[h] += v
        else:
            c[h] += lr_c * g
