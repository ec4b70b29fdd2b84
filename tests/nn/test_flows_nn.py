"""Tests of the pure-torch flow layers, the factor loss and the pair construction."""

import ast
import importlib
import io
import math
import pickle
import pkgutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from skdeepclust.nn import flows as F


@pytest.fixture(autouse=True)
def _seeded():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _perturbed(module, scale=0.3):
    """Move every parameter away from its (often identity) initial value."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module


# Every layer of nn/flows/, plus whole flows, as (name, factory, n_features).
LAYERS = {
    "actnorm": (lambda: F.ActNorm(5), 5),
    "additive-checkerboard": (lambda: F.AdditiveCoupling(F.checkerboard_mask(5), (8,)), 5),
    "additive-heaviside-tanh": (
        lambda: F.AdditiveCoupling(F.heaviside_mask(6), (8, 8), activation="tanh"),
        6,
    ),
    "affine-checkerboard-2d": (
        lambda: F.AffineCoupling(F.checkerboard_mask((2, 3)), (8,), activation="elu"),
        6,
    ),
    "affine-heaviside-noclamp": (
        lambda: F.AffineCoupling(F.heaviside_mask(5), (8,), clamp=math.inf),
        5,
    ),
    "affine-1d-constant-conditioner": (lambda: F.AffineCoupling(F.checkerboard_mask(1)), 1),
    "spline-checkerboard": (
        lambda: F.SplineCoupling(F.checkerboard_mask(5), (8,), n_bins=5, bound=3.0),
        5,
    ),
    "spline-1d-constant-conditioner": (lambda: F.SplineCoupling(F.checkerboard_mask(1)), 1),
    "flow-spline": (lambda: F.build_flow(2, coupling="spline", hidden_layer_sizes=(8, 8)), 2),
    "shuffle": (lambda: F.ShufflePermutation(5), 5),
    "heaviside-perm-odd": (lambda: F.HeavisidePermutation(5), 5),
    "checkerboard-perm-2d": (lambda: F.CheckerboardPermutation((2, 3)), 6),
    "reflection": (lambda: F.Reflection(5, 3), 5),
    "flow-affine-2d": (
        lambda: F.build_flow(6, coupling="affine", event_shape=(2, 3), hidden_layer_sizes=(8,)),
        6,
    ),
    "flow-heaviside-shuffle": (
        lambda: F.build_flow(5, mask="heaviside", permutation="shuffle", n_reflections=2),
        5,
    ),
    "flow-1d": (lambda: F.build_flow(1, coupling="affine"), 1),
    "flow-bare": (
        lambda: F.build_flow(4, coupling="affine", actnorm=False, n_reflections=0, n_stages=3),
        4,
    ),
}


@pytest.fixture(params=sorted(LAYERS))
def layer_case(request):
    factory, n = LAYERS[request.param]
    # whole flows get a smaller push: stacked random couplings get badly conditioned
    scale = 0.1 if request.param.startswith("flow") else 0.3
    return request.param, _perturbed(factory(), scale), factory, n


def test_inverse_of_forward_float32(layer_case):
    _, layer, _, n = layer_case
    x = 2 * torch.randn(64, n)
    y, log_det = layer(x)
    assert y.shape == x.shape and log_det.shape == (64,)
    assert y.dtype == torch.float32 and log_det.dtype == torch.float32
    # where the map is well conditioned the round trip is exact to float32 precision;
    # a randomly perturbed spline can be nearly flat inside a bin (|det J| ~ e^-19 here),
    # where one ulp of y is worth ~1e-3 in x: no root formula recovers it (solving in
    # float64 does not either), so the bound on x grows with 1 / |det J| there; the
    # bound on y (below) holds everywhere
    err = (layer.inverse(y) - x).abs().amax(1)
    assert (err <= 1e-4 * torch.exp(-log_det).clamp_min(1)).all()
    assert err[log_det.abs() < 5].max() <= 1e-4
    z = torch.randn(64, n)
    assert (layer(layer.inverse(z))[0] - z).abs().max() <= 1e-4


def test_log_det_matches_autograd_slogdet(layer_case):
    _, layer, _, n = layer_case
    layer = layer.double()
    x = torch.randn(4, n, dtype=torch.float64)
    _, log_det = layer(x)
    for i in range(4):
        jac = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x[i])
        sign, logabs = torch.linalg.slogdet(jac)
        assert sign != 0
        torch.testing.assert_close(log_det[i], logabs, rtol=1e-9, atol=1e-9)


def test_gradients_reach_every_parameter(layer_case):
    _, layer, _, n = layer_case
    x = torch.randn(64, n, requires_grad=True)
    y, log_det = layer(x)
    (y.pow(2).sum() - log_det.sum()).backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pickle_and_state_dict_round_trip(layer_case):
    _, layer, factory, n = layer_case
    x = torch.randn(16, n)
    y, log_det = layer(x)

    clone = pickle.loads(pickle.dumps(layer))
    y2, log_det2 = clone(x)
    torch.testing.assert_close(y2, y, rtol=0, atol=0)
    torch.testing.assert_close(log_det2, log_det, rtol=0, atol=0)

    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(123)  # a twin with other random normals / shuffles
    twin = factory()
    twin.load_state_dict(torch.load(buffer, weights_only=True))
    y3, log_det3 = twin(x)
    torch.testing.assert_close(y3, y, rtol=0, atol=0)
    torch.testing.assert_close(log_det3, log_det, rtol=0, atol=0)
    assert type(layer).__name__ in repr(layer)


# ------------------------------------------------------------------ the package's API
def _flows_submodules():
    return [
        importlib.import_module(f"{F.__name__}.{info.name}")
        for info in pkgutil.iter_modules(F.__path__)
    ]


def test_package_exports_every_submodule_name():
    exported = set()
    for module in _flows_submodules():
        for name in module.__all__:
            assert getattr(F, name) is getattr(module, name), (module.__name__, name)
            exported.add(name)
    assert exported == set(F.__all__)
    assert {m.__name__.rsplit(".", 1)[1] for m in _flows_submodules()} == {
        "bases",
        "builder",
        "couplings",
        "factors",
        "layers",
        "masks",
    }


def test_package_imports_neither_sklearn_nor_numpy():
    for path in Path(F.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & {"sklearn", "numpy", "scipy"}, (path.name, roots)


# ------------------------------------------------------------------ masks and permutations
def test_masks_exact():
    assert F.heaviside_mask(7).int().tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert F.checkerboard_mask(5).int().tolist() == [0, 1, 0, 1, 0]
    assert F.checkerboard_mask((3, 4)).int().reshape(3, 4).tolist() == [
        [0, 1, 0, 1],
        [1, 0, 1, 0],
        [0, 1, 0, 1],
    ]
    cube = F.checkerboard_mask((2, 2, 2)).int().reshape(2, 2, 2)
    assert cube[0, 0, 0] == 0 and cube[1, 1, 1] == 1 and cube[1, 1, 0] == 0


def test_rope_order_is_a_walk_between_neighbours():
    assert F.rope_order((3, 4)).tolist() == [0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11]
    shape = (3, 2, 3)
    order = F.rope_order(shape)
    assert sorted(order.tolist()) == list(range(18))
    coords = np.array(np.unravel_index(order.numpy(), shape)).T
    assert (np.abs(np.diff(coords, axis=0)).sum(1) == 1).all()


def test_permutations_exact():
    assert F.HeavisidePermutation(6).permutation.tolist() == [3, 4, 5, 0, 1, 2]
    assert F.HeavisidePermutation(5).permutation.tolist() == [2, 3, 4, 0, 1]
    assert F.CheckerboardPermutation(5).permutation.tolist() == [1, 0, 3, 2, 4]
    x = torch.arange(5.0)[None]
    assert F.HeavisidePermutation(5)(x)[0].tolist() == [[2.0, 3.0, 4.0, 0.0, 1.0]]
    for shape in [(4, 4), (3, 5), (2, 3, 3)]:
        perm = F.CheckerboardPermutation(shape).permutation
        mask = F.checkerboard_mask(shape)
        moved = perm != torch.arange(perm.numel())
        # every moved cell takes its value from a cell of the other colour...
        assert (mask[perm][moved] != mask[moved]).all()
        # ...which is a grid neighbour, and swapping twice is the identity
        a = np.array(np.unravel_index(np.arange(perm.numel()), shape)).T
        assert (np.abs(a[perm.numpy()] - a).sum(1)[moved.numpy()] == 1).all()
        assert torch.equal(perm[perm], torch.arange(perm.numel()))
        assert int((~moved).sum()) == perm.numel() % 2
    g1 = torch.Generator().manual_seed(3)
    g2 = torch.Generator().manual_seed(3)
    p1 = F.ShufflePermutation(10, generator=g1).permutation
    assert torch.equal(p1, F.ShufflePermutation(10, generator=g2).permutation)


def test_matching_permutation_lets_second_coupling_transform_the_rest():
    # checkerboard mask + checkerboard permutation: the second coupling transforms
    # exactly the entries the first one passed through (even count).
    for shape in [(6,), (2, 4)]:
        mask = F.checkerboard_mask(shape)
        perm = F.CheckerboardPermutation(shape).permutation
        first = set(torch.nonzero(~mask).reshape(-1).tolist())
        second = set(perm[~mask].tolist())  # original positions landing on False cells
        assert first.isdisjoint(second) and len(first | second) == mask.numel()
    mask = F.heaviside_mask(6)
    perm = F.HeavisidePermutation(6).permutation
    assert set(perm[~mask].tolist()) == {3, 4, 5}


def test_coupling_passes_conditioning_half_unchanged():
    layer = _perturbed(F.AffineCoupling(F.checkerboard_mask(6), (8,)))
    x = torch.randn(10, 6)
    y, _ = layer(x)
    torch.testing.assert_close(y[:, 1::2], x[:, 1::2], rtol=0, atol=0)
    assert (y[:, 0::2] - x[:, 0::2]).abs().max() > 1e-3


def test_fresh_couplings_are_the_identity():
    flow = F.build_flow(6, coupling="affine", n_reflections=0)
    x = torch.randn(8, 6)
    y, log_det = flow(x)
    torch.testing.assert_close(y, x)
    torch.testing.assert_close(log_det, torch.zeros(8))


# ------------------------------------------------------------------ numerics
def test_soft_clamp_bounds_log_scales():
    s = torch.tensor([-1e6, -3.0, -0.01, 0.0, 0.01, 3.0, 1e6])
    out = F.soft_clamp(s, 2.0)
    assert (out.abs() <= 2.0).all()
    torch.testing.assert_close(out[[2, 4]], s[[2, 4]], rtol=1e-4, atol=0)
    assert torch.equal(F.soft_clamp(s, math.inf), s)


def test_affine_coupling_clamp_keeps_huge_log_scales_finite():
    def layer(clamp):
        torch.manual_seed(0)
        out = _perturbed(F.AffineCoupling(F.heaviside_mask(6), (8,), clamp=clamp))
        with torch.no_grad():
            out.conditioner.linears[-1].bias[:3] += 1e3  # the log-scale outputs
        return out

    x = torch.randn(32, 6)
    y, log_det = layer(2.0)(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(log_det, torch.full((32,), 6.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(layer(2.0).inverse(y), x, atol=1e-4, rtol=1e-4)
    y_raw, _ = layer(math.inf)(x)
    assert not torch.isfinite(y_raw).all()


def test_deep_affine_stack_stays_finite():
    flow = F.build_flow(8, coupling="affine", n_stages=10)
    with torch.no_grad():
        for name, p in flow.named_parameters():
            if "conditioner" in name:
                p.add_(0.3 * torch.randn_like(p))
    x = 3 * torch.randn(256, 8)
    z, log_det = flow(x)
    assert torch.isfinite(z).all() and torch.isfinite(log_det).all()
    # 40 affine couplings of 4 transformed features, log-scales inside (-2, 2)
    assert log_det.abs().max() <= 2 * 4 * 40


def test_actnorm_data_init_standardizes():
    x = torch.randn(500, 3) * torch.tensor([0.1, 10.0, 0.0]) + torch.tensor([5.0, -2.0, 7.0])
    layer = F.ActNorm(3, scale_floor=0.0)  # each feature its own scale (no floor)
    layer.initialize(x)
    y, log_det = layer(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(y[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)
    assert layer.log_gain[2] == 0  # constant feature keeps a unit scale
    torch.testing.assert_close(log_det[0], -torch.log(x[:, :2].std(0, unbiased=False)).sum())
    torch.testing.assert_close(layer.loc, x.mean(0))
    torch.testing.assert_close(layer.scale[:2], x[:, :2].std(0, unbiased=False))


def test_flow_initialize_standardizes_the_output():
    flow = _perturbed(F.build_flow(4, coupling="affine"))
    x = torch.randn(400, 4) * 3 + 1
    flow.initialize(x)
    z, _ = flow(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(4), atol=1e-4, rtol=0)


def test_log_prob_exact_for_actnorm_flow():
    layer = _perturbed(F.ActNorm(3))
    flow = F.FlowSequential([layer, F.Reflection(3, 2)], 3).double()
    x = torch.randn(20, 3, dtype=torch.float64)
    loc = layer.loc.detach().numpy()
    scale = layer.scale.detach().numpy()
    expected = stats.norm.logpdf(x.numpy(), loc, scale).sum(1)
    np.testing.assert_allclose(flow.log_prob(x).detach().numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        F.standard_normal_log_prob(x).numpy(), stats.norm.logpdf(x.numpy()).sum(1), rtol=1e-12
    )


def test_log_prob_integrates_to_one_in_2d():
    flow = F.build_flow(2, coupling="affine", hidden_layer_sizes=(16,))
    flow = _perturbed(flow, scale=0.1).double()  # larger moves give tails beyond the grid
    grid = torch.linspace(-12, 12, 801, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        density = flow.log_prob(pts).exp()
    cell = float(grid[1] - grid[0]) ** 2
    assert abs(float(density.sum()) * cell - 1.0) < 1e-2


def test_sample_reproducible_and_invertible():
    flow = _perturbed(F.build_flow(3, coupling="affine"))
    a = flow.sample(50, generator=torch.Generator().manual_seed(1))
    b = flow.sample(50, generator=torch.Generator().manual_seed(1))
    assert a.shape == (50, 3) and torch.equal(a, b)
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(flow(a)[0], z, atol=1e-4, rtol=0)


# ------------------------------------------------------------------ mixture base
def _mixture(k=3, d=2, seed=0):
    """A GaussianMixtureBase with random weights, means and full covariances (float64),
    and the same mixture as numpy arrays (weights, means, covariances)."""
    rng = np.random.RandomState(seed)
    weights = rng.dirichlet(np.ones(k))
    means = rng.normal(0, 2, (k, d))
    covs = []
    for _ in range(k):
        a = rng.normal(size=(d, d))
        covs.append(a @ a.T + 0.3 * np.eye(d))
    covs = np.array(covs)
    # scikit-learn's precisions_cholesky_: P upper triangular, P P^T = inv(cov)
    prec_chol = np.array([np.linalg.inv(np.linalg.cholesky(c)).T for c in covs])
    base = F.GaussianMixtureBase(k, d).double()
    base.set_parameters(torch.as_tensor(weights), torch.as_tensor(means),
                        torch.as_tensor(prec_chol))
    return base, weights, means, covs


def test_mixture_base_log_prob_matches_scipy():
    base, weights, means, covs = _mixture(k=3, d=3)
    z = np.random.RandomState(1).normal(0, 3, (40, 3))
    expected = np.log(sum(w * stats.multivariate_normal(m, c).pdf(z)
                          for w, m, c in zip(weights, means, covs)))
    got = base.log_prob(torch.as_tensor(z)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    torch.testing.assert_close(base.covariances, torch.as_tensor(covs), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(base.weights, torch.as_tensor(weights), rtol=1e-12, atol=0)


def test_mixture_base_hand_computed_one_dimensional():
    # 0.25 N(-1, 4) + 0.75 N(2, 0.25) at z = 0: precision Cholesky factors 1/2 and 2
    base = F.GaussianMixtureBase(2, 1).double()
    base.set_parameters(torch.tensor([0.25, 0.75], dtype=torch.float64),
                        torch.tensor([[-1.0], [2.0]], dtype=torch.float64),
                        torch.tensor([[[0.5]], [[2.0]]], dtype=torch.float64))
    p = (0.25 * math.exp(-0.5 * 1 / 4) / math.sqrt(2 * math.pi * 4)
         + 0.75 * math.exp(-0.5 * 4 / 0.25) / math.sqrt(2 * math.pi * 0.25))
    got = base.log_prob(torch.zeros(1, 1, dtype=torch.float64)).detach()
    assert float(got) == pytest.approx(math.log(p), rel=1e-12)


def test_fresh_mixture_base_is_a_standard_normal():
    base = F.GaussianMixtureBase(4, 3)
    z = torch.randn(10, 3)
    torch.testing.assert_close(base.log_prob(z), F.standard_normal_log_prob(z))


def test_mixture_base_samples_follow_the_mixture():
    base, weights, means, covs = _mixture(k=2, d=2, seed=3)
    a = base.sample(40_000, generator=torch.Generator().manual_seed(0))
    b = base.sample(40_000, generator=torch.Generator().manual_seed(0))
    assert a.shape == (40_000, 2) and a.dtype == torch.float64 and torch.equal(a, b)
    mean = weights @ means
    cov = sum(w * (c + np.outer(m - mean, m - mean)) for w, m, c in zip(weights, means, covs))
    np.testing.assert_allclose(a.mean(0).numpy(), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(a.numpy().T), cov, atol=0.1)
    # in 1-D, the draws pass a Kolmogorov-Smirnov test against the mixture's CDF
    one = F.GaussianMixtureBase(2, 1).double()
    one.set_parameters(torch.tensor([0.3, 0.7], dtype=torch.float64),
                       torch.tensor([[-2.0], [1.0]], dtype=torch.float64),
                       torch.tensor([[[1.0]], [[2.0]]], dtype=torch.float64))
    draws = one.sample(5000, generator=torch.Generator().manual_seed(1)).numpy()[:, 0]

    def cdf(t):
        return 0.3 * stats.norm.cdf(t, -2.0, 1.0) + 0.7 * stats.norm.cdf(t, 1.0, 0.5)

    assert stats.kstest(draws, cdf).pvalue > 0.01


def test_flow_with_mixture_base_log_prob_sample_and_inverse():
    flow = _perturbed(F.build_flow(2, coupling="affine", hidden_layer_sizes=(8,)), 0.1).double()
    base, *_ = _mixture(k=3, d=2)
    flow.base = base
    x = torch.randn(30, 2, dtype=torch.float64)
    z, log_det = flow(x)
    torch.testing.assert_close(flow.log_prob(x), base.log_prob(z) + log_det)
    torch.testing.assert_close(flow.inverse(z), x, atol=1e-10, rtol=0)
    g = torch.Generator().manual_seed(2)
    samples = flow.sample(500, generator=g)
    codes = base.sample(500, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(flow(samples)[0], codes, atol=1e-8, rtol=0)
    # the base trains with the flow, and travels with its state_dict and pickle
    (-flow.log_prob(x).mean()).backward()
    for name, p in base.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert {k for k in flow.state_dict() if k.startswith("base.")} == {
        "base.loc", "base.weight_logits", "base.log_precision_diag", "base.precision_offdiag"}
    clone = pickle.loads(pickle.dumps(flow))
    torch.testing.assert_close(clone.log_prob(x), flow.log_prob(x), rtol=0, atol=0)


def test_mixture_density_of_a_flow_integrates_to_one_in_2d():
    flow = _perturbed(F.build_flow(2, coupling="affine", hidden_layer_sizes=(16,)), 0.1)
    base, *_ = _mixture(k=3, d=2, seed=4)
    flow = flow.double()
    flow.base = base
    grid = torch.linspace(-14, 14, 701, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    with torch.no_grad():
        density = flow.log_prob(pts).exp()
    cell = float(grid[1] - grid[0]) ** 2
    assert abs(float(density.sum()) * cell - 1.0) < 1e-2


def test_mixture_base_rejects_bad_parameters():
    base = F.GaussianMixtureBase(2, 2)
    with pytest.raises(AssertionError, match="wrong shape"):
        base.set_parameters(torch.ones(3) / 3, torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2))
    with pytest.raises(AssertionError, match="positive diagonal"):
        base.set_parameters(torch.ones(2) / 2, torch.zeros(2, 2), -torch.eye(2).expand(2, 2, 2))


# ------------------------------------------------------------------ loss
def test_factor_loss_hand_computation():
    z_a = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    z_b = torch.tensor([[0.5, 1.0]], dtype=torch.float64)
    ja = torch.tensor([0.1], dtype=torch.float64)
    jb = torch.tensor([0.2], dtype=torch.float64)
    sim = torch.tensor([[0.0, 0.5]], dtype=torch.float64)
    loss = F.supervised_factor_loss(z_a, z_b, ja, jb, sim, [1, 1])
    # 0.5*(1+4) + 0.5*[(0.5-0)^2/1 + log 1 + (1-0.5*2)^2/0.75 + log 0.75] - 0.1 - 0.2
    expected = 2.5 + 0.5 * (0.25 + math.log(0.75)) - 0.3
    assert abs(float(loss) - expected) < 1e-12


def test_factor_loss_is_bivariate_normal_nll():
    gen = torch.Generator().manual_seed(0)
    dims = [2, 1, 3]
    sim = torch.tensor([[0.0, 0.9, 0.0], [0.0, 0.0, 0.5], [0.0, 0.3, 0.7]], dtype=torch.float64)
    z_a = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    z_b = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    ja = torch.randn(3, generator=gen, dtype=torch.float64)
    jb = torch.randn(3, generator=gen, dtype=torch.float64)
    loss = F.supervised_factor_loss(z_a, z_b, ja, jb, sim, dims)
    per_pair = []
    for i in range(3):
        sigma = np.repeat(sim[i].numpy(), dims)
        nll = 0.0
        for d in range(6):
            cov = [[1.0, sigma[d]], [sigma[d], 1.0]]
            pt = [float(z_a[i, d]), float(z_b[i, d])]
            nll -= stats.multivariate_normal(mean=[0, 0], cov=cov).logpdf(pt)
        per_pair.append(nll - 6 * math.log(2 * math.pi) - float(ja[i]) - float(jb[i]))
    assert abs(float(loss) - np.mean(per_pair)) < 1e-10


def test_factor_loss_clips_similarity_below_one():
    z = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    zero, one = torch.zeros(1, dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64)
    loss = F.supervised_factor_loss(z, z, zero, zero, one, [1, 1])
    var = 1 - (1 - 1e-6) ** 2
    expected = 0.5 * (0.09 + 0.04) + 0.5 * (
        (0.3 * 1e-6) ** 2 / var + (0.2 * 1e-6) ** 2 / var + 2 * math.log(var)
    )
    assert abs(float(loss) - expected) < 1e-9 * abs(expected)
    loss32 = F.supervised_factor_loss(
        z.float(), z.float(), zero.float(), zero.float(), one.float(), [1, 1]
    )
    assert abs(float(loss32) - expected) < 1e-3 * abs(expected)


def test_factor_loss_gradient_reaches_flow():
    flow = _perturbed(F.build_flow(4, coupling="affine"))
    xa, xb = torch.randn(8, 4), torch.randn(8, 4)
    (za, ja), (zb, jb) = flow(xa), flow(xb)
    sim = torch.zeros(8, 2)
    sim[:, 1] = 0.9
    F.supervised_factor_loss(za, zb, ja, jb, sim, [1, 3]).backward()
    assert all(p.grad is not None for p in flow.parameters())


# ------------------------------------------------------------------ pairs
def test_pairs_share_exactly_the_chosen_categorical_factor():
    gen = torch.Generator().manual_seed(0)
    n = 3000
    y = torch.stack(
        [torch.randint(5, (n,), generator=gen), torch.randint(3, (n,), generator=gen)], 1
    )
    a, b, sim = F.make_factor_pairs(y, 4000, [1.0, 1.0], generator=gen)
    assert sim.dtype == torch.get_default_dtype() and sim.shape == (4000, 3)
    assert (sim[:, 0] == 0).all() and ((sim[:, 1:] > 0).sum(1) == 1).all()
    shared = sim[:, 1:].argmax(1)
    for k in range(2):
        rows = shared == k
        assert 0.45 < float(rows.float().mean()) < 0.55 or k == 1
        assert torch.equal(y[a[rows], k], y[b[rows], k])
        other = 1 - k
        r = np.corrcoef(y[a[rows], other].numpy(), y[b[rows], other].numpy())[0, 1]
        assert abs(r) < 0.1
    assert (a != b).float().mean() > 0.99  # ties broken at random, not onto a itself


def test_pairs_reach_the_target_correlation_on_continuous_factors():
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(20000, 2, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 0.1])
    a, b, sim = F.make_factor_pairs(y, 20000, [0.9, 0.5], generator=gen)
    assert sim.dtype == torch.float64
    for k, rho in [(0, 0.9), (1, 0.5)]:
        rows = sim[:, k + 1] > 0
        assert torch.allclose(sim[rows, k + 1], torch.tensor(rho, dtype=torch.float64))
        r = np.corrcoef(y[a[rows], k].numpy(), y[b[rows], k].numpy())[0, 1]
        assert abs(r - rho) < 0.03
        r_other = np.corrcoef(y[a[rows], 1 - k].numpy(), y[b[rows], 1 - k].numpy())[0, 1]
        assert abs(r_other) < 0.05


def test_pairs_reproducible():
    y = torch.randn(100, 3)
    out1 = F.make_factor_pairs(y, 50, 0.8, generator=torch.Generator().manual_seed(5))
    out2 = F.make_factor_pairs(y, 50, 0.8, generator=torch.Generator().manual_seed(5))
    for t1, t2 in zip(out1, out2, strict=True):
        assert torch.equal(t1, t2)


def test_spline_coupling_is_identity_fresh_and_outside_its_bound():
    layer = F.SplineCoupling(F.checkerboard_mask(4), (8,), bound=2.0)
    x = 3 * torch.randn(100, 4)
    y, log_det = layer(x)
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)
    torch.testing.assert_close(log_det, torch.zeros(100), atol=1e-5, rtol=0)
    layer = _perturbed(layer, 1.0)
    x = torch.tensor([[-5.0, 0.5, 7.0, -0.5]])
    y, _ = layer(x)
    assert y[0, 0] == -5.0 and y[0, 2] == 7.0  # beyond [-2, 2]: the identity
    assert y[0, 1] == 0.5 and y[0, 3] == -0.5  # the conditioning half passes
    x = torch.linspace(-1.99, 1.99, 200)
    inputs = torch.stack([x, torch.zeros(200), x, torch.zeros(200)], 1)
    out = layer(inputs)[0]
    assert (out[1:, 0] > out[:-1, 0]).all() and out[:, 0].abs().max() < 2.0  # monotone, onto
