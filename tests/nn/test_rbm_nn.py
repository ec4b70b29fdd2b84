"""Tests of the pure-torch RBM pieces against brute-force enumeration."""

import itertools
import math

import pytest
import torch

from skdeepclust.nn import _rbm_fused as fused_module
from skdeepclust.nn import partition as P
from skdeepclust.nn.rbm import RBM
from skdeepclust.nn.rbm_training import RBMUpdater
from skdeepclust.nn.sampling import (
    GibbsSampler,
    IndependentParallelTemperingSampler,
    ParallelTemperingSampler,
    PersistentGibbsSampler,
)

F64 = torch.float64


def _bits(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=F64)


def _one_hot(n):
    return torch.eye(n, dtype=F64)


def _random_rbm(n_visible, n_hidden, seed=0, scale=1.0, **kw):
    g = torch.Generator().manual_seed(seed)
    m = RBM(n_visible, n_hidden, dtype=F64, **kw)
    if m.visible == "gaussian":
        data = torch.randn(40, n_visible, generator=g, dtype=F64)
    else:
        data = (torch.rand(40, n_visible, generator=g, dtype=F64) < 0.3).to(F64)
    labels = None
    if m.n_labels:
        labels = torch.nn.functional.one_hot(
            torch.randint(m.n_labels, (40,), generator=g), m.n_labels).to(F64)
    m.initialize(data, generator=g, labels=labels)
    with torch.no_grad():
        m.weight.copy_(scale * torch.randn(m.weight.shape, generator=g, dtype=F64))
        m.visible_bias.copy_(0.5 * torch.randn(m.visible_bias.shape, generator=g, dtype=F64))
        m.hidden_bias.copy_(0.5 * torch.randn(m.hidden_bias.shape, generator=g, dtype=F64))
        m.hidden_offset.uniform_(0.2, 0.8, generator=g)
        if m.sigma is not None:
            m.sigma.uniform_(0.6, 1.4, generator=g)
    return m, g


def _visible_states(m):
    """All discrete visible configurations (binary data units times one-hot labels)."""
    x = _bits(m.n_visible)
    if not m.n_labels:
        return x
    y = _one_hot(m.n_labels)
    return torch.cat([x.repeat_interleave(m.n_labels, 0), y.repeat(x.shape[0], 1)], 1)


def _joint_log_p(m, v, h, beta=None):
    """-beta E(v, h) - (1 - beta) E_base(v) on the grid of all (v, h) pairs."""
    vv = v[:, None, :].expand(-1, h.shape[0], -1)
    hh = h[None].expand(v.shape[0], -1, -1)
    e = -m.energy(vv, hh)
    if beta is None:
        return e
    return beta * e + (1 - beta) * m._base_term(vv)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_exact_log_partition_binary_matches_brute_force(shape):
    m, _ = _random_rbm(*shape)
    layer, _ = P.enumerable_units(m)
    assert layer == ("visible" if shape[0] < shape[1] else "hidden")
    brute = torch.logsumexp(_joint_log_p(m, _bits(shape[0]), _bits(shape[1])).flatten(), 0)
    assert P.log_partition_exact(m).item() == pytest.approx(brute.item(), abs=1e-10)
    # batching does not change the result
    assert P.log_partition_exact(m, batch_exponent=1).item() == pytest.approx(brute.item(),
                                                                             abs=1e-10)


def test_exact_log_partition_label_rbm_matches_brute_force():
    m, _ = _random_rbm(4, 3, n_labels=3)
    brute = torch.logsumexp(_joint_log_p(m, _visible_states(m), _bits(3)).flatten(), 0)
    assert P.log_partition_exact(m).item() == pytest.approx(brute.item(), abs=1e-10)


def test_exact_log_partition_gaussian_matches_quadrature():
    m, _ = _random_rbm(2, 3, visible="gaussian", learn_sigma=True)
    t = torch.linspace(-14.0, 14.0, 1401, dtype=F64)
    grid = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    dx = float(t[1] - t[0])
    quad = torch.logsumexp(m.log_unnormalized_visible(grid), 0) + 2 * math.log(dx)
    assert P.log_partition_exact(m).item() == pytest.approx(quad.item(), abs=1e-8)


@pytest.mark.parametrize("kind", ["binary", "gaussian", "label"])
@pytest.mark.parametrize("beta", [None, 0.0, 0.37, 1.0])
def test_free_energy_matches_brute_force_marginal(kind, beta):
    if kind == "label" and beta is not None:
        pytest.skip("label RBMs are not tempered")
    kw = {"visible": "gaussian"} if kind == "gaussian" else {}
    if kind == "label":
        kw["n_labels"] = 3
    m, g = _random_rbm(4, 3, **kw)
    if kind == "gaussian":
        v = torch.randn(7, 4, generator=g, dtype=F64)
    else:
        v = _visible_states(m)
    brute = torch.logsumexp(_joint_log_p(m, v, _bits(3), beta), 1)
    b = None if beta is None else torch.tensor(beta, dtype=F64)
    assert torch.allclose(-m.free_energy(v, b), brute, atol=1e-10)


def test_tempered_free_energy_with_per_chain_betas():
    m, g = _random_rbm(4, 3)
    v = (torch.rand(3, 5, 4, generator=g, dtype=F64) < 0.5).to(F64)
    betas = torch.tensor([0.0, 0.5, 1.0], dtype=F64).view(3, 1, 1)
    out = m.log_unnormalized_visible(v, betas)
    for t in range(3):
        assert torch.allclose(out[t], m.log_unnormalized_visible(v[t], betas[t, 0, 0]))


def test_base_log_partition_is_the_beta_zero_partition():
    m, _ = _random_rbm(4, 3)
    brute = torch.logsumexp(_joint_log_p(m, _bits(4), _bits(3), 0.0).flatten(), 0)
    assert m.base_log_partition().item() == pytest.approx(brute.item(), abs=1e-10)
    mg, _ = _random_rbm(2, 2, visible="gaussian")
    t = torch.linspace(-15.0, 15.0, 1201, dtype=F64)
    grid = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    quad = (torch.logsumexp(mg.log_unnormalized_visible(grid, torch.tensor(0.0, dtype=F64)), 0)
            + 2 * math.log(float(t[1] - t[0])))
    assert mg.base_log_partition().item() == pytest.approx(quad.item(), abs=1e-8)


@pytest.mark.parametrize("beta", [None, 0.6])
def test_binary_conditionals_match_joint(beta):
    m, _ = _random_rbm(4, 3)
    v, h = _bits(4), _bits(3)
    b = None if beta is None else torch.tensor(beta, dtype=F64)
    joint = torch.exp(_joint_log_p(m, v, h, beta))  # (16, 8)
    p_h = joint / joint.sum(1, keepdim=True)
    expected_h = p_h @ h  # E[h | v]
    assert torch.allclose(m.prob_h(v, b), expected_h, atol=1e-12)
    p_v = joint / joint.sum(0, keepdim=True)
    expected_v = p_v.T @ v  # E[v | h]
    assert torch.allclose(m.prob_v(h, b), expected_v, atol=1e-12)


@pytest.mark.parametrize("beta", [None, 0.3])
def test_gaussian_conditional_is_the_exact_gaussian(beta):
    m, _ = _random_rbm(3, 2, visible="gaussian")
    h = _bits(2)
    b = None if beta is None else torch.tensor(beta, dtype=F64)
    a_x = m.visible_activation(h)
    mean, std = m._gaussian_params(a_x, b)
    x = mean.clone().requires_grad_(True)
    # log p(x | h) up to a constant: -beta E(x, h) - (1 - beta) E_base(x)
    e = -m.energy(x, h)
    lp = e if beta is None else beta * e + (1 - beta) * m._base_term(x)
    (grad,) = torch.autograd.grad(lp.sum(), x, create_graph=True)
    assert torch.allclose(grad, torch.zeros_like(grad), atol=1e-10)
    second = torch.stack([torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0][:, i]
                          for i in range(3)], 1)
    assert torch.allclose(second, -1.0 / std**2, atol=1e-10)


def test_label_log_proba_matches_brute_force():
    m, g = _random_rbm(4, 3, n_labels=3)
    x = (torch.rand(5, 4, generator=g, dtype=F64) < 0.5).to(F64)
    y = _one_hot(3)
    v = torch.cat([x.repeat_interleave(3, 0), y.repeat(5, 1)], 1)
    log_p = torch.logsumexp(_joint_log_p(m, v, _bits(3)), 1).reshape(5, 3)
    expected = torch.log_softmax(log_p, 1)
    assert torch.allclose(m.label_log_proba(x), expected, atol=1e-12)


@pytest.mark.parametrize("kw", [
    {}, {"visible": "gaussian", "learn_sigma": True}, {"visible": "rectified"},
    {"hidden": "rectified"}, {"n_labels": 3}, {"visible": "gaussian", "learn_sigma": True,
                                               "n_labels": 2},
])
def test_gradient_statistics_are_minus_energy_gradients(kw):
    m, g = _random_rbm(4, 3, **kw)
    v = torch.rand(6, 4 + m.n_labels, generator=g, dtype=F64)
    h = torch.rand(6, 3, generator=g, dtype=F64)
    stats = m.gradient_statistics(v, h)
    params = {n: p for n, p in m.named_parameters() if n in stats}
    for p in params.values():
        p.requires_grad_(True)
    grads = torch.autograd.grad(-m.energy(v, h).sum(), list(params.values()))
    for (name, _), gr in zip(params.items(), grads):
        assert torch.allclose(stats[name], gr, atol=1e-10), name
    assert set(stats) == set(params) | ({"sigma"} if m.learn_sigma else set())


@pytest.mark.parametrize("kw", [{}, {"visible": "gaussian"}, {"n_labels": 2}])
def test_update_offsets_keeps_the_distribution(kw):
    m, g = _random_rbm(4, 3, **kw)
    if m.gaussian:
        v = torch.randn(9, 4, generator=g, dtype=F64)
    else:
        v = _visible_states(m)
    before = P.log_likelihood(m, v, P.log_partition_exact(m))
    h_before = m.prob_h(v)
    new_v = torch.rand(4 + m.n_labels, generator=g, dtype=F64)
    new_h = torch.rand(3, generator=g, dtype=F64)
    m.update_offsets(new_v, new_h, 0.7, 0.4)
    after = P.log_likelihood(m, v, P.log_partition_exact(m))
    assert torch.allclose(before, after, atol=1e-10)
    assert torch.allclose(h_before, m.prob_h(v), atol=1e-12)
    m.update_offsets(torch.zeros_like(new_v), torch.zeros_like(new_h), 1.0, 1.0)
    assert torch.count_nonzero(m.visible_offset) == 0 and torch.count_nonzero(m.hidden_offset) == 0
    assert torch.allclose(before, P.log_likelihood(m, v, P.log_partition_exact(m)), atol=1e-10)


def test_exact_log_partition_gradient_is_the_model_expectation():
    m, _ = _random_rbm(4, 3)
    v, h = _bits(4), _bits(3)
    p = torch.softmax(_joint_log_p(m, v, h).flatten(), 0).unsqueeze(1)
    params = dict(m.named_parameters())
    grads = torch.autograd.grad(P.log_partition_exact(m), list(params.values()))
    s = v.repeat_interleave(8, 0) - m.visible_offset
    hc = h.repeat(16, 1) - m.hidden_offset
    expected = {"weight": (s * p).T @ hc, "visible_bias": (s * p).sum(0),
                "hidden_bias": (hc * p).sum(0)}
    for name, gr in zip(params, grads):
        assert torch.allclose(gr, expected[name], atol=1e-10), name


def test_ais_and_reverse_ais_bracket_the_exact_value():
    for kw, seed in [({}, 1), ({"visible": "gaussian"}, 2)]:
        m, _ = _random_rbm(6, 5, seed=seed, **kw)
        exact = P.log_partition_exact(m).item()
        g = torch.Generator().manual_seed(seed)
        ais = P.annealed_importance_sampling(m, n_chains=300, betas=300, generator=g)
        rais = P.reverse_annealed_importance_sampling(m, n_chains=300, betas=300, generator=g)
        for est in (ais, rais):
            assert est.lower <= est.log_z <= est.upper
            assert est.lower <= exact <= est.upper, (kw, est, exact)
            assert est.upper - est.lower < 0.5


def test_reverse_ais_from_given_states():
    m, g = _random_rbm(6, 5, seed=3)
    v0 = P.sample_exact(m, 200, g)
    est = P.reverse_annealed_importance_sampling(m, betas=200, v_init=v0, generator=g)
    assert est.lower <= P.log_partition_exact(m).item() <= est.upper


def _empirical_tv(samples, m):
    states = _bits(m.n_visible)
    p = torch.softmax(m.log_unnormalized_visible(states), 0)
    idx = (samples @ (2.0 ** torch.arange(m.n_visible - 1, -1, -1, dtype=F64))).long()
    q = torch.bincount(idx, minlength=states.shape[0]).to(F64) / samples.shape[0]
    return 0.5 * (p - q).abs().sum().item()


def test_samplers_reach_the_model_distribution():
    m, _ = _random_rbm(4, 3, seed=4, scale=1.5)
    g = torch.Generator().manual_seed(0)
    n = 4000
    assert _empirical_tv(P.sample_exact(m, n, g), m) < 0.04
    start = m.sample_base(n, g)
    assert _empirical_tv(GibbsSampler(m, g).sample(start, k=30), m) < 0.04
    pcd = PersistentGibbsSampler(m, n, g)
    pcd.sample(k=20)
    assert _empirical_tv(pcd.sample(k=5), m) < 0.04
    ipt = IndependentParallelTemperingSampler(m, n, betas=4, generator=g)
    ipt.sample(k=5)
    assert _empirical_tv(ipt.sample(k=2), m) < 0.04
    assert 0.0 < ipt.swap_rate_ <= 1.0
    pt = ParallelTemperingSampler(m, betas=[0.0, 0.5, 1.0], n_replicas=50, generator=g)
    assert _empirical_tv(pt.sample(n, k=1), m) < 0.06  # 80 successive rounds
    assert pt.chains.shape == (3, 50, 4)


def test_noisy_relu_mean_matches_its_samples():
    m, g = _random_rbm(3, 2000, hidden="rectified", visible="rectified")
    v = torch.rand(1, 3, generator=g, dtype=F64).expand(2000, 3)
    h, p = m.sample_h(v, generator=g, return_prob=True)
    assert (h >= 0).all()
    # every hidden unit has its own activation: compare the averaged sample to the mean
    assert (h.mean(0) - p[0]).abs().mean() < 0.05
    x = m.sample_v(h[:5], generator=g)
    assert x.shape == (5, 3) and (x >= 0).all()


def test_cd_updates_raise_the_exact_log_likelihood():
    g = torch.Generator().manual_seed(0)
    # 2x2 bars and stripes, plus noise-free duplicates
    data = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1],
                         [1, 0, 1, 0], [0, 1, 0, 1]], dtype=F64).repeat(20, 1)
    m = RBM(4, 4, dtype=F64).initialize(data, generator=g)
    ll0 = P.log_likelihood(m, data, P.log_partition_exact(m)).mean().item()
    upd = RBMUpdater(m, learning_rate=0.1, momentum=0.5)
    pcd = PersistentGibbsSampler(m, 20, g)
    for _ in range(150):
        perm = torch.randperm(data.shape[0], generator=g)
        for b in range(0, data.shape[0], 20):
            batch = data[perm[b:b + 20]]
            upd.step(batch, pcd.sample(k=1), g)
    ll1 = P.log_likelihood(m, data, P.log_partition_exact(m)).mean().item()
    assert ll1 > ll0 + 0.5
    assert ll1 > -math.log(6) - 0.6  # the optimum is log(1/6)


def test_updater_options():
    m, g = _random_rbm(4, 3, visible="gaussian", learn_sigma=True)
    upd = RBMUpdater(m, learning_rate={"weight": 0.1, "sigma": 0.0}, momentum=0.9, l1=1e-3,
                     l2=1e-3, sparsity_target=0.1, sparsity_weight=1.0, max_norm=1e-3,
                     offset_type="AM", use_hidden_states=True)
    assert upd.learning_rate["visible_bias"] == 0.1 and upd.learning_rate["sigma"] == 0.0
    w0, s0 = m.weight.detach().clone(), m.sigma.detach().clone()
    x = torch.randn(8, 4, generator=g, dtype=F64)
    upd.step(x, m.gibbs(x, 1, None, g), g)
    upd.step(x, m.gibbs(x, 1, None, g), g)
    col_norms = torch.linalg.vector_norm(m.weight - w0, dim=0)
    assert (col_norms <= 2e-3 + 1e-12).all() and (col_norms > 0).all()
    assert torch.equal(m.sigma, s0)


def test_exact_partition_refuses_large_layers():
    m = RBM(50, 40)
    with pytest.raises(ValueError, match=r"2\*\*40 states.*'ais'"):
        P.log_partition_exact(m)


@pytest.mark.parametrize("kw", [{"n_labels": 2}, {"hidden": "rectified"},
                                {"visible": "rectified"}])
def test_ais_refuses_intractable_models(kw):
    m = RBM(4, 3, **kw)
    with pytest.raises(ValueError, match="label RBMs|rectified"):
        P.annealed_importance_sampling(m, betas=10)
    with pytest.raises(ValueError, match="label RBMs|rectified"):
        P.reverse_annealed_importance_sampling(m, betas=10)


def test_float32_model_runs_ais_in_float64():
    m, _ = _random_rbm(5, 4, seed=5)
    m32 = RBM(5, 4)
    m32.load_state_dict({k: v.float() for k, v in m.state_dict().items()})
    g = torch.Generator().manual_seed(0)
    est = P.annealed_importance_sampling(m32, n_chains=200, betas=200, generator=g)
    assert abs(est.log_z - P.log_partition_exact(m).item()) < 0.1
    assert m32.weight.dtype == torch.float32


@pytest.mark.parametrize("kw", [{}, {"visible": "gaussian", "learn_sigma": True},
                                {"visible": "gaussian", "learn_sigma": True, "n_labels": 2}])
def test_fused_gradient_difference(kw):
    m, g = _random_rbm(4, 3, **kw)
    d = 4 + m.n_labels
    vp, vn = torch.rand(5, d, generator=g, dtype=F64), torch.rand(7, d, generator=g, dtype=F64)
    hp, hn = torch.rand(5, 3, generator=g, dtype=F64), torch.rand(7, 3, generator=g, dtype=F64)
    fused = m.gradient_difference(vp, hp, vn, hn)
    sp, sn = m.gradient_statistics(vp, hp), m.gradient_statistics(vn, hn)
    assert set(fused) == set(sp)
    for k in sp:
        assert torch.allclose(fused[k], sp[k] / 5 - sn[k] / 7, atol=1e-12), k


def _twins(V, n_hidden, g, centered, momentum, l2, offset_type, n_chains):
    """Two equal RBMs initialised on V, each with its updater, PCD sampler and generator;
    the first sampler draws from the first updater's generator (the generic path)."""
    base = RBM(V.shape[1], n_hidden, dtype=V.dtype).initialize(V, generator=g,
                                                                centered=centered)
    rate = 0.01 if centered else 0.0
    models, updaters, samplers, gens = [], [], [], []
    for _ in range(2):
        m = RBM(V.shape[1], n_hidden, dtype=V.dtype)
        m.load_state_dict(base.state_dict())
        models.append(m)
        updaters.append(RBMUpdater(
            m, learning_rate={"weight": 0.1, "visible_bias": 0.05, "hidden_bias": 0.07},
            momentum=momentum, l2=l2, offset_type=offset_type, offset_rate=(rate, rate),
            sparsity_weight=0.1, sparsity_target=0.1))
        gens.append(torch.Generator().manual_seed(5))
        samplers.append(PersistentGibbsSampler(m, n_chains, torch.Generator().manual_seed(3)))
    samplers[0].generator = gens[0]
    return models, updaters, samplers, gens


@pytest.mark.parametrize(
    "method, sparse, centered, momentum, l2, k, n_chains, offset_type",
    [("cd", False, True, 0.0, 0.0, 1, 6, "DD"), ("cd", True, True, 0.9, 0.01, 2, 6, "DD"),
     ("pcd", False, True, 0.9, 0.01, 2, 4, "D0"), ("pcd", True, True, 0.0, 0.0, 1, 4, "0D"),
     ("pcd", True, False, 0.5, 0.0, 1, 6, "DD"), ("pcd", False, False, 0.0, 0.01, 1, 6, "DD"),
     ("cd", "emb", True, 0.9, 0.01, 2, 6, "DD"), ("pcd", "emb", True, 0.0, 0.0, 1, 4, "0D"),
     ("pcd", "emb", True, 0.0, 0.0, 1, 8, "DD"), ("pcd", "emb", False, 0.5, 0.01, 1, 6, "DD"),
     ("pcd", "embT", True, 0.0, 0.01, 1, 8, "DD"), ("cd", "embT", True, 0.9, 0.0, 2, 6, "D0")])
def test_fused_step_is_the_generic_update(method, sparse, centered, momentum, l2, k,
                                          n_chains, offset_type, monkeypatch):
    # The fused binary update (dense and sparse torch kernels; sparse: the weight update by
    # one dense addmm_, or by embedding bags for "emb") makes the same random draws and
    # reaches the same parameters as the generic sampler + RBMUpdater.step path. The numba
    # kernels (the default sparse CPU path) are tested below; here the torch ones run.
    monkeypatch.setattr(fused_module, "_USE_NUMBA", False)
    if sparse in ("emb", "embT"):  # embT: the ranks by a cumsum over a transposed copy
        monkeypatch.setattr(fused_module, "_EMB_OUTER_ROWS", 2)
        monkeypatch.setattr(fused_module, "_CUMSUM_ROWS", 256 if sparse == "emb" else 2)
    g = torch.Generator().manual_seed(0)
    V = (torch.rand(18, 12, generator=g, dtype=F64) < 0.25).to(F64)
    models, updaters, samplers, gens = _twins(V, 5, g, centered, momentum, l2, offset_type,
                                              n_chains)
    for it in range(3):
        v = V[it * 6:(it + 1) * 6]
        m0, s0 = models[0], samplers[0]
        v_neg = m0.gibbs(v, k, None, gens[0]) if method == "cd" else s0.sample(None, k)
        updaters[0].step(v, v_neg, gens[0])
        s0.hidden_prob = updaters[0].negative_hidden_prob
        m1, s1 = models[1], samplers[1]
        prob = None
        if method == "pcd":
            prob = s1.hidden_prob if s1.hidden_prob is not None else m1.prob_h(s1.chains)
        v_neg1, s1.hidden_prob, loss = updaters[1].fused_step(
            v, prob, gens[1], k=k, sparse=v.bool() if sparse else None, n_loss=2)
        s1.chains = v_neg1
        assert loss is not None and loss.ndim == 0
        if method == "pcd":
            assert torch.equal(s0.chains, s1.chains)
    if sparse:  # the kernel asked for was the one used
        (buf,) = updaters[1]._buffers.values()
        assert buf["emb"] == isinstance(sparse, str)
        assert ("both_T" in buf) == (sparse == "embT")
    for name, t in models[0].state_dict().items():
        assert torch.allclose(t, models[1].state_dict()[name], atol=1e-12), name


def _fused_vs_generic(dtype, n_visible, n_hidden, batch, n_chains, method, centered,
                      momentum, l2, k, offset_type, n_steps=3, touch=False):
    """Run the generic (sampler + step) and the fused sparse update side by side."""
    g = torch.Generator().manual_seed(0)
    V = (torch.rand(batch * n_steps, n_visible, generator=g, dtype=dtype) < 0.3).to(dtype)
    models, updaters, samplers, gens = _twins(V, n_hidden, g, centered, momentum, l2,
                                              offset_type, n_chains)
    for it in range(n_steps):
        v = V[it * batch:(it + 1) * batch]
        m0, s0 = models[0], samplers[0]
        if touch and it == 1:  # parameters changed by torch ops between two steps
            with torch.no_grad():
                for m in models:
                    m.weight.mul_(1.1)
                    if touch == "mu":
                        m.visible_offset.mul_(0.9)
        with torch.no_grad():  # one-step mean-field reconstruction, model before the update
            ref_loss = (m0.prob_v(m0.prob_h(v[:2])) - v[:2]).pow(2).mean()
        v_neg = m0.gibbs(v, k, None, gens[0]) if method == "cd" else s0.sample(None, k)
        updaters[0].step(v, v_neg, gens[0])
        s0.hidden_prob = updaters[0].negative_hidden_prob
        m1, s1 = models[1], samplers[1]
        prob = None
        if method == "pcd":
            prob = s1.hidden_prob if s1.hidden_prob is not None else m1.prob_h(s1.chains)
        v_neg1, s1.hidden_prob, loss = updaters[1].fused_step(
            None, prob, gens[1], k=k, sparse=v.bool(), n_loss=2)
        assert v_neg1.dtype == dtype and s1.hidden_prob.dtype == dtype
        assert torch.equal(v_neg if method == "cd" else s0.chains, v_neg1)  # the same draws
        s1.chains = v_neg1
        assert loss is not None and loss.ndim == 0
        assert torch.allclose(loss, ref_loss, rtol=1e-5, atol=0)
    return models, updaters


@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize(
    "method, centered, momentum, l2, k, batch, n_chains, offset_type",
    [("pcd", True, 0.0, 0.0, 1, 6, 6, "DD"), ("pcd", False, 0.5, 0.01, 1, 25, 30, "DD"),
     ("cd", True, 0.9, 0.01, 2, 25, 25, "D0"), ("pcd", True, 0.0, 0.01, 1, 3, 40, "0D"),
     ("cd", False, 0.0, 0.0, 1, 40, 40, "DD"), ("pcd", True, 0.5, 0.0, 1, 12, 12, "weight"),
     ("cd", True, 0.0, 0.0, 1, 13, 13, "mu"), ("pcd", True, 0.5, 0.0, 1, 13, 40, "weight"),
     ("cd", True, 0.0, 0.0, 1, 41, 41, "DD")])
def test_numba_step_is_the_generic_update(dtype, method, centered, momentum, l2, k, batch,
                                          n_chains, offset_type, monkeypatch):
    # The numba kernels (sparse CPU path): the same draws as the generic sampler + step
    # path and the same parameters up to float rounding, float64 and float32, centered and
    # normal, rows and columns with fewer and more than the bags' 8-row unroll of ones.
    # "weight" / "mu": W (and mu) changed by torch ops between two steps, so the mu W kept
    # from the last update must be recomputed. With the threshold _TABLE_NEG_MIN_CHAINS
    # lowered to 32 (256 in use): fewer chains, their h W^T as a dense mm; 40 chains, as
    # sums of rows of the group table of W^T. The hidden inputs v W: sums of rows of W
    # over the ones (even batch sizes: _TABLE_COST < 0, no table; 12: a table that never
    # pays), or of rows of the group table of W (odd: it always pays, _TABLE_COST = 0;
    # 37 visible units: a partial last group). The weight update per pattern of four
    # visible units with batch 3, 12, 13 and 41 (_GROUP_UPDATE_COST = 0), else per column.
    if fused_module._numba_kernels() is None:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(fused_module, "_TABLE_NEG_MIN_CHAINS", 32)
    monkeypatch.setattr(fused_module, "_TABLE_MIN_ROWS", 0)
    # the uniforms by the numba mt19937 (torch.rand's numbers) with 40 chains
    monkeypatch.setattr(fused_module, "_NUMBA_RNG_MIN", 40 * (37 + 9))
    table_cost = 0.0 if batch % 2 else 1e9 if batch == 12 else -1.0
    monkeypatch.setattr(fused_module, "_TABLE_COST", table_cost)
    monkeypatch.setattr(fused_module, "_GROUP_UPDATE_COST",
                        0.0 if batch in (3, 12, 13, 41) else 1e9)
    touch = offset_type if offset_type in ("weight", "mu") else False
    offset_type = "DD" if touch else offset_type
    n_visible = 37 if batch == 3 else 40  # 40: the CSR builds skip zero 8-byte words
    models, updaters = _fused_vs_generic(dtype, n_visible, 9, batch, n_chains, method,
                                         centered, momentum, l2, k, offset_type, touch=touch)
    assert hasattr(updaters[1], "_nb_buffers") and not hasattr(updaters[1], "_buffers")
    (buf,) = updaters[1]._nb_buffers.values()
    assert buf["tab_neg"] == (n_chains >= fused_module._TABLE_NEG_MIN_CHAINS)
    assert buf["TW"].shape[0] == (15 * ((n_visible + 3) // 4) if table_cost >= 0 else 0)
    tol = 1e-12 if dtype == F64 else 2e-5
    for name, t in models[0].state_dict().items():
        assert torch.allclose(t, models[1].state_dict()[name], atol=tol, rtol=0), name
    if momentum:
        for name in ("weight", "visible_bias", "hidden_bias"):
            assert torch.allclose(updaters[0].velocity[name], updaters[1].velocity[name],
                                  atol=tol, rtol=0), name


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_numba_uniform_draws_are_torch_rand(dtype):
    # The numba mt19937 makes torch.rand's numbers from the generator's own state (across
    # twists of the state, float32 from one draw, float64 from two) and leaves the
    # generator where torch.rand would.
    if fused_module._numba_kernels() is None:
        pytest.skip("numba is not installed")
    K = fused_module._numba_kernels()
    assert fused_module.numba_rng_ok(K, dtype)
    a = torch.Generator().manual_seed(3)
    b = torch.Generator().manual_seed(3)
    for n in (1, 623, 624, 1500):
        mine = [torch.empty(n, dtype=dtype), torch.empty(2, 7, dtype=dtype)]
        fused_module.draw_uniform(K, a, mine)
        assert torch.equal(mine[0], torch.rand(n, generator=b, dtype=dtype))
        assert torch.equal(mine[1], torch.rand(2, 7, generator=b, dtype=dtype))
    assert torch.equal(torch.rand(1000, generator=a), torch.rand(1000, generator=b))
    state = torch.get_rng_state()  # the default generator (generator=None)
    mine = torch.empty(700, dtype=dtype)
    fused_module.draw_uniform(K, None, [mine])
    torch.set_rng_state(state)
    assert torch.equal(mine, torch.rand(700, dtype=dtype))


@pytest.mark.parametrize("off", ["flag", "missing"])
def test_sparse_step_falls_back_to_torch(off, monkeypatch):
    # Without numba (or with the flag off) the sparse fused step runs the torch kernels,
    # with the same result.
    if off == "flag":
        monkeypatch.setattr(fused_module, "_USE_NUMBA", False)
    else:  # as if "import numba" had failed
        monkeypatch.setattr(fused_module, "_KERNELS", False)
    assert off == "flag" or fused_module._numba_kernels() is None
    models, updaters = _fused_vs_generic(F64, 40, 9, 24, 30, "pcd", True, 0.5, 0.01, 1, "DD")
    assert hasattr(updaters[1], "_buffers") and not hasattr(updaters[1], "_nb_buffers")
    for name, t in models[0].state_dict().items():
        assert torch.allclose(t, models[1].state_dict()[name], atol=1e-12), name


def test_numba_step_after_a_copy_of_the_updater():
    # The numba work buffers (views of each other) are not copied: a deep copy of the
    # updater, with its model, continues exactly like the original.
    import copy

    g = torch.Generator().manual_seed(0)
    V = (torch.rand(30, 40, generator=g) < 0.3).float()
    m = RBM(40, 9).initialize(V, generator=g)
    upd = RBMUpdater(m, momentum=0.5)
    gen = torch.Generator().manual_seed(1)
    _, p_neg, _ = upd.fused_step(None, None, gen, sparse=V[:10].bool())
    twin = copy.deepcopy(upd)
    assert twin.model is not m and not hasattr(twin, "_nb_buffers")
    gen2 = torch.Generator().manual_seed(2)
    gen3 = torch.Generator().manual_seed(2)
    for it in (1, 2):
        a = upd.fused_step(None, p_neg, gen2, sparse=V[10 * it:10 * (it + 1)].bool())
        b = twin.fused_step(None, p_neg, gen3, sparse=V[10 * it:10 * (it + 1)].bool())
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for name, t in m.state_dict().items():
        assert torch.equal(t, twin.model.state_dict()[name]), name


@pytest.mark.parametrize("sparse", [True, False])
def test_binary_hidden_prob_is_prob_h(sparse):
    # The first chain probabilities of the fused path (sums of rows of W when numba is
    # available) equal p(h | v) of the module.
    g = torch.Generator().manual_seed(0)
    V = (torch.rand(12, 37, generator=g, dtype=F64) < 0.3).to(F64)
    m = RBM(37, 9, dtype=F64).initialize(V, generator=g, centered=True)
    with torch.no_grad():
        m.weight.normal_(0.0, 0.5, generator=g)
        m.visible_offset.add_(0.1)
    p = RBMUpdater(m).binary_hidden_prob(V, sparse)
    with torch.no_grad():
        assert torch.allclose(p, m.prob_h(V), atol=1e-14, rtol=0)


def test_pooled_parallel_tempering_gives_a_batch_per_round():
    from skdeepclust.nn.sampling import PooledParallelTemperingSampler

    m, _ = _random_rbm(4, 3, seed=4, scale=1.5)
    g = torch.Generator().manual_seed(0)
    pt = PooledParallelTemperingSampler(m, 400, betas=10, generator=g)
    assert pt.n_auxiliary == 45 and pt.auxiliary.shape == (9, 45, 4)
    for _ in range(20):
        v = pt.sample(k=1)
    assert v.shape == (400, 4)
    assert 0.0 < pt.swap_rate_ <= 1.0
    samples = torch.cat([pt.sample(k=1) for _ in range(10)])  # 4000 samples, 10 rounds
    assert _empirical_tv(samples, m) < 0.05
    # the auxiliary chains sample their tempered models: beta = 0 is the base model
    p0 = torch.sigmoid(m.base_bias)
    assert (pt.auxiliary[0].mean(0) - p0).abs().max() < 0.25


def test_pooled_ipt_ladders_sample_the_model_and_stay_independent():
    from skdeepclust.nn.sampling import PooledParallelTemperingSampler, ipt_ladders

    m, _ = _random_rbm(4, 3, seed=4, scale=1.5)
    g = torch.Generator().manual_seed(1)
    assert ipt_ladders(100, 10) == 11 and ipt_ladders(5, 10) == 1 and ipt_ladders(7, 2) == 7
    ipt = PooledParallelTemperingSampler(m, 400, betas=5, generator=g,
                                         n_ladders=ipt_ladders(400, 5))
    # 100 ladders of 4 beta = 1 chains and one chain at each lower temperature
    assert ipt.n_ladders == 100 and ipt.n_auxiliary == 1 and ipt.auxiliary.shape == (4, 100, 4)
    for _ in range(20):
        v = ipt.sample(k=1)
    assert v.shape == (400, 4) and 0.0 < ipt.swap_rate_ <= 1.0
    samples = torch.cat([ipt.sample(k=1) for _ in range(10)])
    assert _empirical_tv(samples, m) < 0.05
    # n_ladders = n_chains is PyDeep's IPT: one chain per temperature in every ladder
    full = PooledParallelTemperingSampler(m, 4000, betas=3, generator=g, n_ladders=4000)
    assert full.n_auxiliary == 1 and full.auxiliary.shape == (2, 4000, 4)
    full.sample(k=5)
    assert _empirical_tv(full.sample(k=2), m) < 0.05


def test_pooled_ipt_swaps_never_cross_ladders():
    from skdeepclust.nn.sampling import PooledParallelTemperingSampler

    # a flat model accepts every swap; each state carries its ladder (3 bits) and a
    # unique id (5 bits), so we can follow it
    m = RBM(8, 2, dtype=F64)
    with torch.no_grad():
        m.weight.zero_()
    g = torch.Generator().manual_seed(0)
    n, n_lad = 14, 3  # ladders of 5, 5 and 4 beta = 1 chains
    pt = PooledParallelTemperingSampler(m, n, betas=4, generator=g, n_ladders=n_lad)
    a = pt.n_auxiliary
    assert a == 2 and pt.auxiliary.shape == (3, n_lad * a, 8)

    def code(ladder, uid):
        bits = [(ladder >> s) & 1 for s in range(3)] + [(uid >> s) & 1 for s in range(5)]
        return torch.tensor(bits, dtype=F64)

    def ladder_of(states):
        return (states[..., :3] * torch.tensor([1.0, 2.0, 4.0], dtype=F64)).sum(-1).long()

    uid = iter(range(32))
    pt.chains = torch.stack([code(i % n_lad, next(uid)) for i in range(n)])
    pt.auxiliary = torch.stack([torch.stack([code(c // a, next(uid))
                                             for c in range(n_lad * a)]) for _ in range(3)])
    before = torch.cat([pt.chains, pt.auxiliary.reshape(-1, 8)])
    moved = 0
    for _ in range(30):
        old = pt.chains.clone()
        assert pt.swap() == 1.0
        moved += int((pt.chains != old).any(-1).sum())
        assert torch.equal(ladder_of(pt.chains), torch.arange(n) % n_lad)
        assert torch.equal(ladder_of(pt.auxiliary), (torch.arange(n_lad * a) // a).expand(3, -1))
    after = torch.cat([pt.chains, pt.auxiliary.reshape(-1, 8)])
    # the states are only permuted, and the beta = 1 chains did receive new ones
    assert sorted(map(tuple, before.tolist())) == sorted(map(tuple, after.tolist()))
    assert moved > 0


def _normal_parameters(m):
    """(W, b, c) of the normal (offset-free) RBM with the distribution of ``m``."""
    n = RBM(m.n_visible, m.n_hidden, visible=m.visible, n_labels=m.n_labels, dtype=F64)
    n.load_state_dict(m.state_dict())
    n.update_offsets(torch.zeros_like(n.visible_offset), torch.zeros_like(n.hidden_offset),
                     1.0, 1.0)
    return n.weight.detach(), n.visible_bias.detach(), n.hidden_bias.detach()


@pytest.mark.parametrize("kw", [{}, {"visible": "gaussian"}, {"n_labels": 3},
                                {"visible": "gaussian", "n_labels": 2}])
@pytest.mark.parametrize("offset_type", ["DD", "AM"])
def test_centered_gradient_is_the_centered_update_in_normal_parameters(kw, offset_type):
    # PyDeep's use_centered_gradient: a normal RBM updated with the centered gradient at
    # the updater's offsets moves exactly as the centered model (same draws, no momentum)
    centered, g = _random_rbm(5, 3, **kw)
    normal = RBM(5, 3, dtype=F64, **kw)
    normal.load_state_dict(centered.state_dict())
    offsets = (normal.visible_offset.clone(), normal.hidden_offset.clone())
    normal.update_offsets(torch.zeros_like(offsets[0]), torch.zeros_like(offsets[1]), 1.0, 1.0)
    opts = dict(learning_rate={"weight": 0.1, "visible_bias": 0.1, "hidden_bias": 0.1},
                sparsity_target=0.1, sparsity_weight=0.5, offset_type=offset_type,
                offset_rate=(0.3, 0.2))
    upd_c = RBMUpdater(centered, **opts)
    upd_n = RBMUpdater(normal, gradient_offsets=offsets, **opts)
    assert not upd_n.fused_supported
    d = 5 + centered.n_labels
    x = torch.rand(12, d, generator=g, dtype=F64).round()
    if centered.gaussian:
        x[:, :5] = torch.randn(12, 5, generator=g, dtype=F64)
    for _ in range(4):
        seed = int(torch.randint(2**31 - 1, (1,), generator=g))
        v_neg = centered.gibbs(x, 1, None, torch.Generator().manual_seed(seed))
        upd_c.step(x, v_neg, None)
        upd_n.step(x, v_neg, None)
    for a, b in zip(_normal_parameters(centered), (normal.weight, normal.visible_bias,
                                                   normal.hidden_bias)):
        torch.testing.assert_close(a, b.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(offsets[0], centered.visible_offset)
    torch.testing.assert_close(offsets[1], centered.hidden_offset)
    assert not normal.visible_offset.any() and not normal.hidden_offset.any()


def test_centered_gradient_hand_computed():
    # one visible, one hidden: grad_c W = dW - mu dc - db lam, grad_c b = db - grad_c W lam,
    # grad_c c = dc - mu grad_c W
    m = RBM(1, 1, dtype=F64)
    upd = RBMUpdater(m, gradient_offsets=(torch.tensor([0.25], dtype=F64),
                                          torch.tensor([0.5], dtype=F64)))
    grads = {"weight": torch.tensor([[1.0]], dtype=F64),
             "visible_bias": torch.tensor([2.0], dtype=F64),
             "hidden_bias": torch.tensor([4.0], dtype=F64)}
    out = upd.center_gradient(grads)
    gw = 1.0 - 0.25 * 4.0 - 2.0 * 0.5  # -1
    assert out["weight"].item() == gw
    assert out["visible_bias"].item() == 2.0 - gw * 0.5
    assert out["hidden_bias"].item() == 4.0 - 0.25 * gw
