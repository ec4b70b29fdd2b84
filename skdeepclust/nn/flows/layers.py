r"""The flow layer interface, the layers without a conditioner network, and the chain.

Every layer maps a flat batch ``x`` of shape ``(batch, n_features)`` to
``(y, log_abs_det)`` where ``log_abs_det`` has shape ``(batch,)`` and holds
:math:`\log|\det \partial y / \partial x|`, and ``layer.inverse(y)`` recovers ``x``
exactly (up to floating point). This module holds that interface (:class:`FlowLayer`),
activation normalization, the fixed permutations, the learned Householder reflections,
and :class:`FlowSequential`, which chains layers into a density model with a standard
normal base or a base module of :mod:`.bases`. The coupling layers are in :mod:`.couplings`.

References
----------
Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible 1x1
Convolutions. arXiv:1807.03039.
Meng, C., Song, Y., Song, J. & Ermon, S. (2020). Gaussianization Flows. arXiv:2003.01941.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from .masks import rope_order

__all__ = [
    "ActNorm",
    "CheckerboardPermutation",
    "FlowLayer",
    "FlowSequential",
    "HeavisidePermutation",
    "Permutation",
    "Reflection",
    "ShufflePermutation",
    "standard_normal_log_prob",
]

_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------
# base
# --------------------------------------------------------------------------------------
class FlowLayer(nn.Module):
    """Base class of the invertible layers.

    Subclasses implement ``forward(x) -> (y, log_abs_det)`` and ``inverse(y) -> x``,
    both on tensors of shape ``(batch, n_features)``.
    """

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, y: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _zero_log_det(x: Tensor) -> Tensor:
    return x.new_zeros(x.shape[0])


# --------------------------------------------------------------------------------------
# activation normalization
# --------------------------------------------------------------------------------------
class ActNorm(FlowLayer):
    r"""Activation normalization: :math:`y = (x - l) / s` with one ``(l, s)`` per feature.

    Stored as :math:`y = x e^{g} + b` (log-gain :math:`g = -\log s`, bias
    :math:`b = -l / s`, the two rows of one parameter ``weight``), so that :math:`s > 0`
    always and a call costs two tensor ops; :math:`\log|\det J| = \sum_j g_j =
    -\sum_j \log s_j`. It starts as the identity (``l = 0, s = 1``); :meth:`initialize`
    sets ``l`` and ``s`` to the mean and standard deviation of a batch (Glow's
    data-dependent initialisation), so that the output of that batch is standardized.

    The scales are floored at ``scale_floor`` times the batch's overall spread (the root
    mean square of the per-feature standard deviations): a feature that is (nearly)
    constant in the initialising rows, such as an image pixel inked in only a few images
    or only in rows outside the first ``partial_fit`` chunk, would otherwise be
    multiplied by up to the inverse of its tiny spread (hundreds for dequantised 8-bit
    pixels), so that any row where it varies lands hundreds of standard deviations out
    and its log-likelihood, and the couplings' inputs, explode.

    Parameters
    ----------
    n_features : int
        Number of features.
    scale_floor : float, default=0.3
        Smallest initial scale, as a fraction of the batch's overall spread: the
        initial gain of a feature is at most ``1 / scale_floor`` times that of a feature
        at the overall spread (the scales are trained afterwards). ``0`` keeps every
        feature's own spread (constant features still get a unit scale). Larger values
        magnify near-constant features less, also where the flow stacks several
        ActNorm layers (their gains multiply along a near-constant direction), but
        standardize features whose spread is far below the others' only partly: give
        features of very different units a common scale first (``StandardScaler``).
        The default was measured on MNIST and digits (``benchmarks/study_actnorm_floor.py``).
    """

    def __init__(self, n_features: int, scale_floor: float = 0.3) -> None:
        super().__init__()
        self.n_features = int(n_features)
        self.scale_floor = float(scale_floor)
        # one tensor, not two: optimizers pay per parameter tensor
        self.weight = nn.Parameter(torch.zeros(2, self.n_features))

    @property
    def bias(self) -> Tensor:
        """The bias :math:`b = -l / s`."""
        return self.weight[0]

    @property
    def log_gain(self) -> Tensor:
        r"""The log-gain :math:`g = -\log s`."""
        return self.weight[1]

    @property
    def loc(self) -> Tensor:
        """The location :math:`l`."""
        return -self.bias * torch.exp(-self.log_gain)

    @property
    def scale(self) -> Tensor:
        """The scale :math:`s > 0`."""
        return torch.exp(-self.log_gain)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        bias, log_gain = self.weight
        y = torch.addcmul(bias, x, torch.exp(log_gain))
        return y, log_gain.sum().expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        bias, log_gain = self.weight
        return (y - bias) * torch.exp(-log_gain)

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set location and scale to the per-feature mean and std of ``x``.

        Each scale is at least ``scale_floor`` times the root mean square of the
        per-feature standard deviations; features constant in ``x`` get that floor, or
        a unit scale when ``x`` is constant altogether (or the floor is 0).
        """
        mean = x.mean(0)
        std = x.std(0, unbiased=False) if x.shape[0] > 1 else torch.ones_like(mean)
        tiny = torch.finfo(x.dtype).eps ** 0.5
        floor = self.scale_floor * std.pow(2).mean().sqrt()
        if torch.isfinite(floor) and floor > tiny:
            std = std.clamp_min(floor)
        std = torch.where(std > tiny, std, torch.ones_like(std))
        self.weight[1].copy_(-torch.log(std))
        self.weight[0].copy_(-mean / std)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, scale_floor={self.scale_floor}"


# --------------------------------------------------------------------------------------
# permutations and reflections
# --------------------------------------------------------------------------------------
class Permutation(FlowLayer):
    """Fixed reordering of the features: ``y = x[:, permutation]``; log-det 0.

    Parameters
    ----------
    permutation : long Tensor of shape (n_features,)
        A permutation of ``range(n_features)``.
    """

    def __init__(self, permutation: Tensor) -> None:
        super().__init__()
        permutation = torch.as_tensor(permutation, dtype=torch.long).reshape(-1)
        n = permutation.numel()
        assert torch.equal(permutation.sort().values, torch.arange(n)), "not a permutation."
        self.n_features = int(n)
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", torch.argsort(permutation))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.index_select(1, self.permutation), _zero_log_det(x)

    def inverse(self, y: Tensor) -> Tensor:
        return y.index_select(1, self.inverse_permutation)

    def inverted(self) -> Permutation:
        """A new :class:`Permutation` that undoes this one."""
        return Permutation(self.inverse_permutation.clone())

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}"


class ShufflePermutation(Permutation):
    """A random permutation drawn once at construction (seeded by ``generator``).

    Parameters
    ----------
    n_features : int
        Number of features.
    generator : torch.Generator, default=None
        Source of randomness; ``None`` uses torch's global generator.
    """

    def __init__(self, n_features: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__(torch.randperm(int(n_features), generator=generator))


class HeavisidePermutation(Permutation):
    """Swap the two halves: ``[n//2, ..., n-1, 0, ..., n//2 - 1]``.

    With an odd count the middle element moves with the second half. Pairs with
    :func:`heaviside_mask`.

    Parameters
    ----------
    n_features : int
        Number of features.
    """

    def __init__(self, n_features: int) -> None:
        n = int(n_features)
        super().__init__(torch.cat([torch.arange(n // 2, n), torch.arange(0, n // 2)]))


class CheckerboardPermutation(Permutation):
    """Swap neighbouring cells along the rope walk of :func:`rope_order`.

    Each swapped pair has one cell of each checkerboard colour, so this pairs with
    :func:`checkerboard_mask`; with an odd count the last cell of the walk stays.

    Parameters
    ----------
    event_shape : int or sequence of int
        Shape of one sample; ``n_features = prod(event_shape)``.
    """

    def __init__(self, event_shape: int | Sequence[int]) -> None:
        rope = rope_order(event_shape)
        n = rope.numel()
        perm = torch.arange(n)
        m = n - n % 2
        perm[rope[0:m:2]] = rope[1:m:2]
        perm[rope[1:m:2]] = rope[0:m:2]
        super().__init__(perm)


class Reflection(FlowLayer):
    r"""Successive Householder reflections :math:`x \leftarrow x - 2 (v^\top x) v`.

    The normals ``v`` are learned and normalised to unit length on every call; they
    start as normalised draws from :math:`U(-1, 1)`. Each reflection is orthogonal, so
    :math:`\log|\det J| = 0`; the inverse applies the same reflections in reverse order.

    Parameters
    ----------
    n_features : int
        Number of features.
    n_reflections : int, default=1
        Number of reflections.
    generator : torch.Generator, default=None
        Source of randomness for the initial normals; ``None`` uses the global one.
    """

    def __init__(
        self,
        n_features: int,
        n_reflections: int = 1,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        assert n_reflections >= 1, "'n_reflections' should be >= 1."
        self.n_features = int(n_features)
        normals = torch.rand(int(n_reflections), self.n_features, generator=generator) * 2 - 1
        normals = normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.normals = nn.Parameter(normals)

    def _unit_normals(self) -> Tensor:
        return self.normals / self.normals.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @staticmethod
    def _reflect(x: Tensor, normals: Iterable[Tensor]) -> Tensor:
        for v in normals:
            x = torch.addr(x, x @ v, v, alpha=-2.0)  # x - 2 (x.v) v
        return x

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._reflect(x, self._unit_normals()), _zero_log_det(x)

    def inverse(self, y: Tensor) -> Tensor:
        return self._reflect(y, self._unit_normals().flip(0))

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_reflections={self.normals.shape[0]}"


# --------------------------------------------------------------------------------------
# sequential flow
# --------------------------------------------------------------------------------------
def standard_normal_log_prob(z: Tensor) -> Tensor:
    """Log-density of a standard normal, summed over features: shape ``(batch,)``."""
    return -0.5 * (z.pow(2).sum(1) + z.shape[1] * _LOG_2PI)


class FlowSequential(FlowLayer):
    """Chain of flow layers; log-dets add up and the inverse runs in reverse order.

    With a base distribution of the codes (a standard normal unless ``base`` is given)
    it is a density model: :meth:`log_prob` and :meth:`sample`.

    Parameters
    ----------
    layers : iterable of FlowLayer
        The layers, applied in order by :meth:`forward`.
    n_features : int
        Number of features of the samples.
    base : torch.nn.Module or None, default=None
        Base distribution of the codes: a module with ``log_prob(z)`` and
        ``sample(n_samples, generator=...)`` (e.g.
        :class:`~skdeepclust.nn.flows.GaussianMixtureBase`), trained with the layers;
        ``None`` is a standard normal. It can be set after construction
        (``flow.base = ...``).
    """

    def __init__(
        self, layers: Iterable[FlowLayer], n_features: int, base: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.n_features = int(n_features)
        self.base = base

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        log_dets = []
        for layer in self.layers:
            x, ld = layer(x)
            log_dets.append(ld)
        if not log_dets:
            return x, _zero_log_det(x)
        return x, torch.stack(log_dets).sum(0)

    def inverse(self, y: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y

    def base_log_prob(self, z: Tensor) -> Tensor:
        """Log-density of codes ``z`` under the base distribution, shape ``(batch,)``."""
        base = getattr(self, "base", None)  # flows pickled before bases existed have none
        return standard_normal_log_prob(z) if base is None else base.log_prob(z)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of ``x``: base log-density of ``T(x)`` plus the log-det."""
        z, log_det = self(x)
        return self.base_log_prob(z) + log_det

    def sample_base(
        self, n_samples: int, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """Draw ``n_samples`` codes from the base distribution (on ``generator``'s device,
        in the parameters' dtype)."""
        base = getattr(self, "base", None)
        if base is not None:
            return base.sample(n_samples, generator=generator)
        ref = next(iter(self.parameters()), None)
        dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        device = ref.device if ref is not None else None
        if generator is not None:
            device = generator.device
        return torch.randn(n_samples, self.n_features, generator=generator, dtype=dtype,
                           device=device)

    def sample(self, n_samples: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n_samples`` points: ``inverse(z)`` with ``z`` from the base distribution."""
        return self.inverse(self.sample_base(n_samples, generator=generator))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent initialisation: run ``x`` through the layers and let every
        :class:`ActNorm` standardize what reaches it."""
        for layer in self.layers:
            if isinstance(layer, (ActNorm, FlowSequential)):
                layer.initialize(x)
            x, _ = layer(x)
