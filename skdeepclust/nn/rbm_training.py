r"""Training an :class:`~skdeepclust.nn.rbm.RBM`: the centered (P)CD / PT parameter update.

:class:`RBMUpdater` turns positive samples (a minibatch) and negative samples (the chains of
a sampler from :mod:`skdeepclust.nn.sampling`) into one update of the model's parameters:
momentum, L1 / L2 weight decay, a hidden sparsity term, an optional norm restriction of the
weight step, a learned Gaussian sigma moved in log space, and the centering offsets moved by
exponential moving averages (Melchior, Fischer & Wiskott, JMLR 17 (2016)), or PyDeep's
centered gradient of a normal RBM.

For a binary-binary RBM, :meth:`RBMUpdater.fused_step` makes the same update (the same
random draws) with the Gibbs step and the matrix products fused; its torch and numba
implementations live in :mod:`skdeepclust.nn._rbm_fused`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _rbm_fused
from .rbm import OFFSET_TYPES, RBM

__all__ = ["RBMUpdater"]

#: Learned sigma: the largest change of log(sigma) in one update (a factor of e**0.1).
_LOG_SIGMA_STEP = 0.1


class RBMUpdater:
    r"""Momentum update of an :class:`~skdeepclust.nn.rbm.RBM` from positive and negative samples.

    ``delta <- momentum * delta + lr * (<grad>_data - <grad>_model) / batch`` with L1/L2
    weight decay, a hidden-bias sparsity term, an optional norm restriction of the weight
    update and the centering offsets moved by exponential moving averages (offset type
    ``"DD"``: data means; ``"M"`` model means, ``"A"`` their average, ``"0"`` zero).

    Parameters
    ----------
    model : RBM
    learning_rate : float or dict
        A float, or per-parameter rates with keys ``weight``, ``visible_bias``,
        ``hidden_bias`` and ``sigma`` (missing keys take ``weight``'s rate).
    momentum, l1, l2 : float
    sparsity_target : float or None and sparsity_weight : float
    max_norm : float or None and max_norm_axis : {"cols", "rows", "mat"}
        Restriction of the norm of the weight update (per hidden unit for ``"cols"``).
    offset_type : str, two letters of ``ADM0``
    offset_rate : (float, float)
        Moving-average rates of the visible and hidden offsets; (0, 0) keeps them fixed.
    use_hidden_states : bool
        Use sampled hidden states instead of probabilities in the statistics.
    gradient_offsets : (Tensor, Tensor) or None, default=None
        PyDeep's ``use_centered_gradient``: the model stays a normal RBM (its own offsets
        must be zero) and these visible and hidden offsets :math:`(\mu, \lambda)`, moved
        in place by the offset rule, center the gradient instead (see
        :meth:`center_gradient`). Without momentum, weight decay, norm restriction or a
        learned sigma this is the same update as a centered model's, expressed in the
        normal parameters (those act on the normal parameters, as in PyDeep). None (the
        default) centers through the model's offsets.
    """

    def __init__(self, model: RBM, *, learning_rate=0.01, momentum: float = 0.0,
                 l1: float = 0.0, l2: float = 0.0, sparsity_target: float | None = None,
                 sparsity_weight: float = 0.0, max_norm: float | None = None,
                 max_norm_axis: str = "cols", offset_type: str = "DD",
                 offset_rate: tuple[float, float] = (0.01, 0.01),
                 use_hidden_states: bool = False,
                 gradient_offsets: tuple[Tensor, Tensor] | None = None) -> None:
        assert offset_type in OFFSET_TYPES, f"'offset_type' should be one of {OFFSET_TYPES}."
        assert max_norm_axis in ("cols", "rows", "mat")
        if gradient_offsets is not None:
            assert not (model.visible_offset.any() or model.hidden_offset.any()), (
                "gradient_offsets needs a normal RBM (zero model offsets)")
        self.gradient_offsets = gradient_offsets
        self.model = model
        names = ["weight", "visible_bias", "hidden_bias"] + (["sigma"] if model.learn_sigma else [])
        if isinstance(learning_rate, dict):
            base = learning_rate.get("weight", 0.01)
            self.learning_rate = {n: float(learning_rate.get(n, base)) for n in names}
        else:
            self.learning_rate = {n: float(learning_rate) for n in names}
        self.momentum = float(momentum)
        self.l1, self.l2 = float(l1), float(l2)
        self.sparsity_target = sparsity_target
        self.sparsity_weight = float(sparsity_weight)
        self.max_norm = max_norm
        self.max_norm_axis = max_norm_axis
        self.offset_type = offset_type
        self.offset_rate = (float(offset_rate[0]), float(offset_rate[1]))
        self.use_hidden_states = bool(use_hidden_states)
        self.velocity: dict[str, Tensor] = {}
        #: p(h | v_neg) of the last :meth:`step` (before its parameter update).
        self.negative_hidden_prob: Tensor | None = None

    def __getstate__(self) -> dict:
        # The numba work buffers are NumPy views of torch tensors and of each other, which
        # copies and pickles would not keep: they are rebuilt on the next step.
        state = self.__dict__.copy()
        state.pop("_nb_buffers", None)
        return state

    @staticmethod
    def _offset_target(kind: str, data_mean: Tensor, model_mean: Tensor) -> Tensor:
        if kind == "D":
            return data_mean
        if kind == "M":
            return model_mean
        if kind == "A":
            return 0.5 * (data_mean + model_mean)
        return torch.zeros_like(data_mean)

    def _hidden(self, v: Tensor, generator) -> tuple[Tensor, Tensor]:
        m = self.model
        if self.use_hidden_states:
            h, p = m.sample_h(v, generator=generator, return_prob=True)
            return h, p
        p = m.prob_h(v)
        return p, p

    @torch.no_grad()
    def step(self, v_pos: Tensor, v_neg: Tensor, generator=None) -> Tensor:
        """One update from data ``v_pos`` and model samples ``v_neg``.

        Returns E[h | v_pos], the hidden means on the data (for monitoring), computed
        before the update.
        """
        m = self.model
        h_pos, p_pos = self._hidden(v_pos, generator)
        h_neg, p_neg = self._hidden(v_neg, generator)
        self.negative_hidden_prob = p_neg
        rv, rh = self.offset_rate
        if rv or rh:
            tv, th = self.offset_type
            new_v = self._offset_target(tv, v_pos.mean(0), v_neg.mean(0)) if rv else None
            new_h = self._offset_target(th, h_pos.mean(0), h_neg.mean(0)) if rh else None
            self.move_offsets(new_v, new_h)
        grads = m.gradient_difference(v_pos, h_pos, v_neg, h_neg)
        if self.gradient_offsets is not None:
            grads = self.center_gradient(grads)
        self.apply(grads, hidden_mean=p_pos.mean(0))
        return p_pos

    @torch.no_grad()
    def move_offsets(self, new_visible: Tensor | None, new_hidden: Tensor | None) -> None:
        """Move the centering offsets towards new values at ``offset_rate``: the model's
        (reparameterising its biases), or ``gradient_offsets`` when given."""
        rv, rh = self.offset_rate
        if self.gradient_offsets is None:
            self.model.update_offsets(new_visible, new_hidden, rv, rh)
            return
        mu, lam = self.gradient_offsets
        if new_visible is not None and rv:
            mu.mul_(1.0 - rv).add_(new_visible, alpha=rv)
        if new_hidden is not None and rh:
            lam.mul_(1.0 - rh).add_(new_hidden, alpha=rh)

    def center_gradient(self, grads: dict[str, Tensor]) -> dict[str, Tensor]:
        r"""PyDeep's centered gradient of a normal RBM at ``gradient_offsets`` (in place).

        With the normal model's gradient :math:`(\nabla W, \nabla b, \nabla c)` and
        :math:`s(\mu)` the offset as the weights see it (:math:`\mu / \sigma^2` for
        Gaussian units):

        .. math::
            \nabla_c W = \nabla W - s(\mu) \nabla c^\top - \nabla b\, \lambda^\top,
            \quad \nabla_c b = \nabla b - \nabla_c W \lambda,
            \quad \nabla_c c = \nabla c - \mu^\top \nabla_c W,

        the step of the centered model's parameters mapped into the normal ones
        (:math:`\mu` without the :math:`1 / \sigma^2`: :meth:`apply` multiplies the
        weight step of a Gaussian unit by :math:`\sigma^2`). A learned sigma keeps its
        normal-model gradient.
        """
        m = self.model
        mu, lam = self.gradient_offsets
        s_mu = m.interaction_input(mu)  # zero model offsets: mu, or mu / sigma^2
        gw = grads["weight"]
        gw.sub_(torch.outer(s_mu, grads["hidden_bias"])).sub_(
            torch.outer(grads["visible_bias"], lam))
        grads["visible_bias"].sub_(gw @ lam)
        grads["hidden_bias"].sub_(mu @ gw)
        return grads

    # ------------------------------------------------------------------ fused binary step
    @property
    def fused_supported(self) -> bool:
        """Whether :meth:`fused_step` applies: binary-binary RBM, no labels, no L1, no
        norm restriction, hidden probabilities in the statistics, offsets of type D or 0,
        centering through the model's offsets."""
        m = self.model
        return (m.visible == "binary" and m.hidden == "binary" and not m.n_labels
                and not self.l1 and self.max_norm is None and not self.use_hidden_states
                and set(self.offset_type) <= set("D0") and self.gradient_offsets is None)

    @torch.no_grad()
    def fused_step(self, v_pos: Tensor | None, chain_prob: Tensor | None, generator=None, *,
                   k: int = 1, sparse: Tensor | None = None, n_loss: int = 0):
        """One CD-k / PCD-k update of a binary-binary RBM with the matrix products fused.

        Same update as :meth:`step` fed by :meth:`~skdeepclust.nn.rbm.RBM.gibbs` (CD) or
        :class:`~skdeepclust.nn.sampling.PersistentGibbsSampler` (PCD) — same random
        draws, same result up to rounding — rearranged for speed: the offset moves
        ``dmu W`` and ``W dlambda`` ride along as extra rows of the positive and negative
        matrix products (sparse: ``dmu W`` from the positive bags and one ``mu W``), the
        reconstruction error of the first ``n_loss`` rows rides along the negative visible
        product, the weight update is applied in place (no gradient tensor), means are
        matrix-vector products and the work tensors are reused between calls. With
        ``sparse`` (the positive batch as a bool tensor, binary data only) the products
        with binary visible states use embedding bags: ``(v - mu) W = v W - mu W`` (a bag
        of rows of W per sample), several times cheaper on MNIST-like data (13 % ones),
        and from ``_rbm_fused._EMB_OUTER_ROWS`` rows of minibatch + chains on
        ``(v - mu)^T H = v^T H - mu (1^T H)`` (a bag of rows of H per visible unit; below,
        one dense ``addmm_``).

        With ``sparse`` on the CPU (float32 or float64) the step runs numba kernels
        (:mod:`skdeepclust.nn._rbm_kernels`: no index tensors, three kernel calls around
        the random draws and the dense negative visible product; from a few hundred rows
        of minibatch + chains on, sums over group tables of W and W^T, which add fewer
        rows on data whose ones cluster, like images), compiled on first use and
        cached on disk; without numba (or with ``_rbm_fused._USE_NUMBA = False``) the
        torch kernels above run. Both make the same draws as the generic path. The numba
        kernels write the parameters through NumPy views (their version counters do not
        move).

        Parameters
        ----------
        v_pos : Tensor of shape (B, n_visible) or None
            The minibatch (not used, and may be None, when ``sparse`` is given).
        chain_prob : Tensor of shape (n_chains, n_hidden) or None
            p(h = 1 | chains) of the persistent chains (PCD); None starts the chains at
            the minibatch (CD: its hidden probabilities).
        generator : torch.Generator or None
        k : int, default=1
            Gibbs steps.
        sparse : bool Tensor of shape (B, n_visible) or None
            The binary minibatch as bools (``v_pos != 0``): use the sparse kernels.
        n_loss : int, default=0
            Rows of the minibatch whose one-step mean-field reconstruction error is
            returned (0: the loss is None).

        Returns
        -------
        v_neg : Tensor of shape (n_chains, n_visible)
            The chains' new states.
        p_neg : Tensor of shape (n_chains, n_hidden)
            p(h = 1 | v_neg) before this update's parameter step (the next PCD step draws
            its first hidden states from it, as :meth:`step` + the sampler do).
        loss : Tensor (0-dim) or None
        """
        if sparse is not None:
            kernels = _rbm_fused.numba_kernels_for(self.model.weight)
            if kernels is not None:
                return _rbm_fused.numba_step(self, kernels, sparse, chain_prob, generator, k,
                                             n_loss)
        step = _rbm_fused.TorchFusedStep(self, v_pos, chain_prob, sparse, n_loss)
        return step.run(generator, k)

    @torch.no_grad()
    def binary_hidden_prob(self, v: Tensor, sparse: bool = True) -> Tensor:
        """p(h = 1 | v) for binary states ``v`` (e.g. the chains' first states).

        :meth:`~skdeepclust.nn.rbm.RBM.prob_h`, one dense product (called once per fit,
        ``sparse`` or not: a numba version would be one more kernel to compile on the first
        fit for one call).
        """
        return self.model.prob_h(v)

    @torch.no_grad()
    def apply(self, grads: dict[str, Tensor], hidden_mean: Tensor | None = None) -> None:
        """Momentum ascent along ``grads`` (a log-likelihood gradient estimate).

        The tensors in ``grads`` are consumed (modified in place).

        Gaussian visibles: the steps of each feature's weights and bias are multiplied by
        its variance ``sigma**2`` (the natural-gradient scaling of a Gaussian's mean: with
        sigma at the data's standard deviation this is the update on standardised data, so
        the learning rate means the same at any scale; a shrinking learned sigma does not
        inflate the steps), constant features (``feature_scale == 0``) stay frozen, and a
        learned sigma moves in log space,
        ``sigma *= exp(rate * sigma * dL/dsigma)`` (at most ``e**0.1`` per update), kept
        in ``[sigma_min, sigma_max]``.
        """
        m = self.model
        nx = m.n_visible
        scale2 = None
        if m.gaussian:  # sigma^2: the inverse Fisher information of a Gaussian's mean
            scale2 = torch.where(m.feature_scale > 0, m.sigma * m.sigma, 0.0)
        for name, g in grads.items():
            rate = self.learning_rate.get(name)
            if rate is None:
                continue
            param = getattr(m, name)
            if name == "sigma":
                self._apply_log_sigma(g, rate)
                continue
            if name == "weight":
                if self.l1:
                    g = g.sub_(torch.sign(param), alpha=self.l1)
                if self.l2:
                    g = g.sub_(param, alpha=self.l2)
            if (name == "hidden_bias" and self.sparsity_weight and hidden_mean is not None
                    and self.sparsity_target is not None):
                g = g.add_(self.sparsity_target - hidden_mean, alpha=self.sparsity_weight)
            if scale2 is not None and name == "weight":
                g[:nx].mul_(scale2.unsqueeze(1))
            elif scale2 is not None and name == "visible_bias":
                g[:nx].mul_(scale2)
            restrict = name == "weight" and self.max_norm is not None
            if not self.momentum and not restrict:
                param.add_(g, alpha=rate)  # plain SGD: one pass over the parameter
                continue
            vel = self.velocity.get(name) if self.momentum else None
            step = g.mul_(rate) if vel is None else vel.mul_(self.momentum).add_(g, alpha=rate)
            if restrict:
                step = _restrict_norm(step, float(self.max_norm), self.max_norm_axis)
            if self.momentum:
                self.velocity[name] = step
            param.add_(step)

    def _apply_log_sigma(self, g: Tensor, rate: float) -> None:
        """Ascent on log(sigma) (gradient ``sigma * dL/dsigma``: scale-free), clipped to
        ``_LOG_SIGMA_STEP`` per update and kept in ``[sigma_min, sigma_max]``."""
        m = self.model
        sigma = m.sigma
        g = g.mul_(sigma)
        if self.momentum:
            vel = self.velocity.get("log_sigma")
            step = g.mul_(rate) if vel is None else vel.mul_(self.momentum).add_(g, alpha=rate)
            self.velocity["log_sigma"] = step
        else:
            step = g.mul_(rate)
        step = step.clamp(-_LOG_SIGMA_STEP, _LOG_SIGMA_STEP)  # NaN stays NaN: caught later
        sigma.mul_(step.exp_()).clamp_(min=m.sigma_min, max=m.sigma_max)


def _restrict_norm(w: Tensor, max_norm: float, axis: str) -> Tensor:
    if axis == "mat":
        norm = torch.linalg.vector_norm(w)
    else:
        norm = torch.linalg.vector_norm(w, dim=0 if axis == "cols" else 1, keepdim=True)
    return w * torch.clamp(max_norm / torch.clamp(norm, min=1e-300), max=1.0)
