"""Tests of the Display objects in skdeepclust.plotting (Agg backend)."""

import builtins
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepclust.plotting import (
    DensityContourDisplay,
    EmbeddingDisplay,
    FactorTraversalDisplay,
    FilterDisplay,
    LossCurveDisplay,
    SamplesDisplay,
)
from skdeepclust.representation import AutoEncoder


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def small_digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:200] / 16).astype(np.float32), y[:200]


@pytest.fixture(scope="module")
def autoencoder(small_digits):
    X, _ = small_digits
    return AutoEncoder(n_components=3, hidden_layer_sizes=(8,), max_epochs=3, batch_size=50,
                       tol=None, device="cpu", random_state=0).fit(X)


class _Fitted(BaseEstimator):
    """Minimal estimator: check_is_fitted sees the trailing-underscore attributes set later."""

    def fit(self, X=None, y=None):  # pragma: no cover - never called
        return self


# --------------------------------------------------------------------------- import
def test_missing_matplotlib_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(ImportError, match=r'pip install "skdeepclust\[plot\]"'):
        LossCurveDisplay({"training": [1.0, 0.5]}).plot()


def test_matplotlib_is_imported_lazily():
    """No module-level matplotlib import in any module of skdeepclust.plotting: the
    package imports without the extra."""
    import ast
    import importlib
    import inspect
    import pkgutil

    from skdeepclust import plotting

    modules = [plotting] + [importlib.import_module(f"skdeepclust.plotting.{m.name}")
                            for m in pkgutil.iter_modules(plotting.__path__)]
    assert len(modules) == 8  # the package, _base and one module per display
    for module in modules:
        tree = ast.parse(inspect.getsource(module))
        top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert names and not [n for n in names if n.startswith("matplotlib")], module


def test_one_module_per_display():
    from skdeepclust import plotting

    for name in plotting.__all__:
        module = getattr(plotting, name).__module__
        assert module.startswith("skdeepclust.plotting._"), (name, module)
    assert len({getattr(plotting, n).__module__ for n in plotting.__all__}) == len(
        plotting.__all__)


# ------------------------------------------------------------------------ embedding
def test_embedding_2d_is_drawn_as_is():
    Z = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, -1.0]])
    disp = EmbeddingDisplay.from_embedding(Z, labels=[0, 1, 1])
    np.testing.assert_array_equal(disp.scatter_.get_offsets(), Z)
    assert disp.ax_.get_xlabel() == "dimension 1"
    assert [t.get_text() for t in disp.legend_.get_texts()] == ["0", "1"]
    assert disp.figure_ is disp.ax_.figure
    assert disp.centers_ is None


def test_embedding_wider_than_2d_is_projected_by_pca():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(50, 5)) * [5, 3, 1, 0.5, 0.1]
    C = rng.normal(size=(3, 5))
    disp = EmbeddingDisplay.from_embedding(Z, centers=C)
    pca = PCA(n_components=2, svd_solver="full").fit(Z)
    np.testing.assert_allclose(disp.embedding, pca.transform(Z), atol=1e-10)
    np.testing.assert_allclose(disp.centers, pca.transform(C), atol=1e-10)
    np.testing.assert_allclose(disp.centers_.get_offsets(), pca.transform(C), atol=1e-10)
    pct = round(100 * pca.explained_variance_ratio_[0])
    assert disp.ax_.get_xlabel() == f"PC 1 ({pct}% of variance)"


def test_embedding_1d_and_continuous_labels_get_a_colorbar():
    Z = np.linspace(0, 1, 30)[:, None]
    disp = EmbeddingDisplay.from_embedding(Z, labels=np.linspace(-1.3, 2.7, 30))
    np.testing.assert_array_equal(disp.embedding[:, 1], 0.0)
    assert isinstance(disp.legend_, matplotlib.colorbar.Colorbar)


def test_embedding_rejects_bad_input():
    with pytest.raises(ValueError, match="labels has 2 entries"):
        EmbeddingDisplay.from_embedding(np.zeros((3, 2)), labels=[0, 1])
    with pytest.raises(ValueError, match="NaN"):
        EmbeddingDisplay.from_embedding(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"centers should have shape \(n_clusters, 2\)"):
        EmbeddingDisplay.from_embedding(np.zeros((3, 2)), centers=np.zeros((2, 3)))


def test_embedding_from_autoencoder_uses_transform_and_y(autoencoder, small_digits):
    X, y = small_digits
    disp = EmbeddingDisplay.from_estimator(autoencoder, X, y)
    Z = autoencoder.transform(X).astype(np.float64)
    np.testing.assert_allclose(disp.embedding, PCA(2, svd_solver="full").fit_transform(Z),
                               atol=1e-6)
    np.testing.assert_array_equal(disp.labels, y)
    assert disp.ax_.get_title() == "AutoEncoder: embedding, coloured by label"
    assert len(disp.legend_.get_texts()) == np.unique(y).size


def test_embedding_from_pipeline(autoencoder, small_digits):
    X, _ = small_digits
    pipe = make_pipeline(StandardScaler(), AutoEncoder(
        n_components=2, max_epochs=2, tol=None, device="cpu", random_state=0)).fit(X)
    disp = EmbeddingDisplay.from_estimator(pipe, X, labels=None)
    np.testing.assert_allclose(disp.embedding, pipe.transform(X), rtol=1e-6)
    assert disp.labels is None
    assert disp.ax_.get_title() == "AutoEncoder: embedding"


class _FakeDEC(ClusterMixin, _Fitted):
    """DEC-like: transform is the embedding, cluster_centers_ live there."""

    __module__ = "skdeepclust.cluster._fake"

    def __init__(self):
        self.cluster_centers_ = np.array([[0.0, 0.0], [5.0, 5.0]])

    def transform(self, X):
        return np.asarray(X)[:, :2]

    def predict(self, X):
        Z = self.transform(X)
        return ((Z[:, None, :] - self.cluster_centers_) ** 2).sum(-1).argmin(1)


class _FakeDMAE(_FakeDEC):
    """DMAE-like: transform is a distance matrix, embed is the embedding."""

    def embed(self, X):
        return np.asarray(X)[:, :2] + 1.0


def test_embedding_of_clusterer_colours_by_predict_and_shows_centres():
    X = np.array([[0.1, 0.0, 9.0], [4.9, 5.2, 9.0], [0.3, -0.1, 9.0]])
    est = _FakeDEC()
    disp = EmbeddingDisplay.from_estimator(est, X)
    np.testing.assert_array_equal(disp.labels, [0, 1, 0])
    np.testing.assert_array_equal(disp.centers, est.cluster_centers_)
    np.testing.assert_array_equal(disp.embedding, X[:, :2])
    none = EmbeddingDisplay.from_estimator(est, X, show_centers=False)
    assert none.centers is None and none.centers_ is None


def test_embedding_prefers_embed_when_present():
    X = np.array([[0.0, 0.0, 1.0], [5.0, 5.0, 1.0]])
    disp = EmbeddingDisplay.from_estimator(_FakeDMAE(), X, labels=[3, 4])
    np.testing.assert_array_equal(disp.embedding, X[:, :2] + 1.0)
    assert disp.centers is not None
    as_transform = EmbeddingDisplay.from_estimator(_FakeDMAE(), X, method="transform")
    assert as_transform.centers is None  # DMAE's transform is not the centres' space


def test_kmeans_transform_is_not_taken_for_the_centres_space():
    X = np.random.RandomState(0).normal(size=(40, 2))
    km = KMeans(n_clusters=2, n_init=2, random_state=0).fit(X)
    disp = EmbeddingDisplay.from_estimator(km, X)  # transform: distances to 2 centres
    assert disp.centers is None
    np.testing.assert_array_equal(disp.labels, km.labels_)


def test_embedding_errors(autoencoder, small_digits):
    X, _ = small_digits
    with pytest.raises(NotFittedError):
        EmbeddingDisplay.from_estimator(AutoEncoder(), X)
    with pytest.raises(AttributeError, match="no 'embed' method"):
        EmbeddingDisplay.from_estimator(autoencoder, X, method="embed")
    with pytest.raises(ValueError, match="Unknown labels='colour'"):
        EmbeddingDisplay.from_estimator(autoencoder, X, labels="colour")
    with pytest.raises(ValueError, match="labels='y' needs y"):
        EmbeddingDisplay.from_estimator(autoencoder, X, labels="y")
    with pytest.raises(ValueError, match="Unknown show_centers"):
        EmbeddingDisplay.from_estimator(autoencoder, X, show_centers="yes")


def test_plot_draws_on_the_given_axes():
    fig, (a, b) = plt.subplots(1, 2)
    disp = EmbeddingDisplay.from_embedding(np.zeros((4, 2)), ax=b)
    assert disp.ax_ is b and disp.figure_ is fig
    assert not a.collections


# -------------------------------------------------------------------------- filters
def test_filter_mosaic_places_each_filter():
    W = np.arange(6 * 12, dtype=float).reshape(6, 12) - 30
    disp = FilterDisplay.from_filters(W, image_shape=(3, 4), n_cols=4, normalize=None,
                                      padding=2)
    M = disp.mosaic_
    assert M.shape == (2 * 3 + 2, 4 * 4 + 3 * 2)
    for i in range(6):
        r, c = divmod(i, 4)
        np.testing.assert_array_equal(M[r * 5:r * 5 + 3, c * 6:c * 6 + 4], W[i].reshape(3, 4))
    assert np.isnan(M[3:5]).all() and np.isnan(M[:, 4:6]).all()
    assert np.isnan(M[5:, 12:]).all()  # the two empty slots
    assert disp.image_.get_clim() == (W.min(), W.max())


def test_filter_normalization():
    W = np.array([[1.0, -2.0, 0.5, 0.0], [10.0, 5.0, -4.0, 1.0]])
    each = FilterDisplay.from_filters(W, normalize="each", padding=0, n_cols=2).mosaic_
    np.testing.assert_allclose(each[:, :2].ravel(), W[0] / 2)
    np.testing.assert_allclose(each[:, 2:].ravel(), W[1] / 10)
    every = FilterDisplay.from_filters(W, normalize="all", padding=0, n_cols=2).mosaic_
    np.testing.assert_allclose(every[:, :2].ravel(), W[0] / 10)
    assert every[:, :2].ravel().tolist() == (W[0] / 10).tolist()
    with pytest.raises(ValueError, match="valid options are 'each', 'all' or None"):
        FilterDisplay.from_filters(W, normalize="max")


def test_filter_from_autoencoder_and_order(autoencoder):
    disp = FilterDisplay.from_estimator(autoencoder, n_filters=5)
    np.testing.assert_array_equal(disp.filters, autoencoder.components_[:5])
    ordered = FilterDisplay.from_estimator(autoencoder, order="norm")
    norms = np.linalg.norm(ordered.filters, axis=1)
    assert np.all(np.diff(norms) <= 0)
    assert ordered.ax_.get_title() == "AutoEncoder: first-layer filters"
    assert disp.ax_.get_title() == "AutoEncoder: first-layer filters (5 of 8)"


def test_filter_drops_label_units_and_finds_nested_layers():
    est = _Fitted()
    est.components_ = np.arange(3 * 6.0).reshape(3, 6)  # 4 pixels + 2 label units
    est.n_features_in_ = 4
    disp = FilterDisplay.from_estimator(est)
    np.testing.assert_array_equal(disp.filters, est.components_[:, :4])

    dbn = _Fitted()
    dbn.rbms_ = [est]
    np.testing.assert_array_equal(FilterDisplay.from_estimator(dbn).filters,
                                  est.components_[:, :4])
    dec = _Fitted()
    dec.autoencoder_ = est
    np.testing.assert_array_equal(FilterDisplay.from_estimator(dec).filters,
                                  est.components_[:, :4])


def test_filter_errors():
    with pytest.raises(ValueError, match="not a square number. Pass image_shape"):
        FilterDisplay.from_filters(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="height \\* width == 10"):
        FilterDisplay.from_filters(np.zeros((2, 10)), image_shape=(3, 3))
    est = _Fitted()
    est.n_features_in_ = 3
    with pytest.raises(AttributeError, match="has no components_"):
        FilterDisplay.from_estimator(est)
    est.components_ = np.zeros((2, 4))
    with pytest.raises(ValueError, match="Unknown order='random'"):
        FilterDisplay.from_estimator(est, order="random")
    with pytest.raises(ValueError, match="n_filters=0 should be a positive int"):
        FilterDisplay.from_estimator(est, n_filters=0)


# ---------------------------------------------------------------------- loss curves
def test_loss_curve_of_autoencoder(autoencoder):
    disp = LossCurveDisplay.from_estimator(autoencoder)
    line = disp.lines_["training"]
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, autoencoder.n_iter_ + 1))
    np.testing.assert_allclose(line.get_ydata(), autoencoder.loss_curve_)
    assert disp.ax_.get_xlabel() == "epoch"


def test_loss_curve_phases_are_sequential():
    est = _Fitted()
    est.pretrain_loss_curve_ = [100.0, 10.0, 1.0]
    est.loss_curve_ = [0.5, 0.4]
    est.autoencoder_ = _Fitted()
    est.autoencoder_.loss_curve_ = [7.0]  # same as pretrain_loss_curve_: not repeated
    disp = LossCurveDisplay.from_estimator(est)
    assert list(disp.lines_) == ["pretraining", "training"]
    np.testing.assert_array_equal(disp.lines_["training"].get_xdata(), [4, 5])
    assert disp.ax_.get_yscale() == "log"
    overlaid = LossCurveDisplay.from_estimator(est, sequential=False, log_scale=False)
    np.testing.assert_array_equal(overlaid.lines_["training"].get_xdata(), [1, 2])
    assert overlaid.ax_.get_yscale() == "linear"


def test_loss_curve_nested_autoencoder_and_dbn_layers():
    ae = _Fitted()
    ae.loss_curve_ = [3.0, 2.0]
    dec = _Fitted()
    dec.autoencoder_, dec.loss_curve_ = ae, [-1.0, -2.0]
    disp = LossCurveDisplay.from_estimator(dec)
    assert list(disp.lines_) == ["pretraining", "training"]
    assert disp.ax_.get_yscale() == "linear"  # negative losses

    dbn = _Fitted()
    dbn.rbms_ = [ae, ae]
    dbn.loss_curve_ = [3.0, 2.0, 3.0, 2.0]  # DBN: the layers' curves concatenated
    assert list(LossCurveDisplay.from_estimator(dbn).lines_) == ["layer 1", "layer 2"]
    dbn.loss_curve_ = [1.0]
    assert list(LossCurveDisplay.from_estimator(dbn).lines_) == ["layer 1", "layer 2",
                                                                 "training"]


def test_loss_curve_errors():
    est = _Fitted()
    est.n_features_in_ = 2
    with pytest.raises(ValueError, match="has no loss curve"):
        LossCurveDisplay.from_estimator(est)
    with pytest.raises(ValueError, match="at least one non-empty loss curve"):
        LossCurveDisplay({"training": []}).plot()
    with pytest.raises(ValueError, match="Unknown log_scale"):
        LossCurveDisplay({"training": [1.0]}).plot(log_scale="yes")


# -------------------------------------------------------------------------- samples
class _ImageSampler(_Fitted):
    def __init__(self):
        self.n_features_in_ = 16
        self.calls = []

    def sample(self, n_samples=1, *, k=1, random_state=None):
        self.calls.append((n_samples, k, random_state))
        rng = np.random.RandomState(random_state)
        return rng.uniform(size=(n_samples, 16)) * k


def test_samples_image_grid_passes_seed_and_kwargs():
    est = _ImageSampler()
    disp = SamplesDisplay.from_estimator(est, 6, random_state=3, sample_kwargs={"k": 2},
                                         n_cols=3, padding=0)
    assert est.calls == [(6, 2, 3)]
    expected = np.random.RandomState(3).uniform(size=(6, 16)) * 2
    np.testing.assert_allclose(disp.samples, expected)
    np.testing.assert_allclose(disp.mosaic_[:4, 4:8], expected[1].reshape(4, 4))
    assert disp.mosaic_.shape == (8, 12)
    assert disp.scatter_ is None and disp.image_ is not None


def test_samples_of_a_gaussian_mixture_are_a_labelled_scatter():
    X = np.vstack([np.random.RandomState(0).normal(size=(50, 2)) + c for c in (0, 6)])
    gm = GaussianMixture(2, random_state=0).fit(X)
    disp = SamplesDisplay.from_estimator(gm, 40, X=X)  # sample() returns (X, labels)
    assert disp.samples.shape == (40, 2)
    assert disp.labels.shape == (40,)
    np.testing.assert_array_equal(disp.scatter_.get_offsets(), disp.samples)
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == ["data", "samples"]


def test_samples_errors():
    est = _Fitted()
    est.n_features_in_ = 2
    with pytest.raises(AttributeError, match="has no sample"):
        SamplesDisplay.from_estimator(est)
    with pytest.raises(ValueError, match="kind='scatter' needs 2 features"):
        SamplesDisplay(np.zeros((3, 4))).plot(kind="scatter")
    with pytest.raises(ValueError, match="Unknown kind='grid'"):
        SamplesDisplay(np.zeros((3, 4))).plot(kind="grid")
    with pytest.raises(ValueError, match="n_samples=0 should be a positive int"):
        SamplesDisplay.from_estimator(_ImageSampler(), 0)


def test_samples_from_rbm(small_digits):
    from skdeepclust.neural_network import RBM

    X, _ = small_digits
    rbm = RBM(n_components=4, max_epochs=1, batch_size=50, device="cpu",
              random_state=0).fit((X > 0.5).astype(np.float32))
    disp = SamplesDisplay.from_estimator(rbm, 4, random_state=1, sample_kwargs={"k": 5})
    np.testing.assert_array_equal(disp.samples, rbm.sample(4, k=5, random_state=1))
    assert set(np.unique(disp.samples)) <= {0.0, 1.0}


# ----------------------------------------------------------------- factor traversal
class _LinearFlow(_Fitted):
    """An invertible linear map with a residual block and two factor blocks."""

    def __init__(self, n_features, slices):
        self.n_features, self.slices = n_features, slices
        rng = np.random.RandomState(0)
        self.A = rng.normal(size=(n_features, n_features)) + 3 * np.eye(n_features)
        self.factor_slices_ = slices
        self.n_features_in_ = n_features

    def transform(self, X):
        return np.asarray(X) @ self.A.T

    def inverse_transform(self, Z):
        return np.linalg.solve(self.A, np.asarray(Z).T).T


def test_traversal_changes_only_the_traversed_code_coordinate():
    flow = _LinearFlow(4, [slice(0, 1), slice(1, 3), slice(3, 4)])
    X = np.random.RandomState(1).normal(size=(30, 4))
    values = np.array([-1.0, 0.0, 2.5])
    disp = FactorTraversalDisplay.from_estimator(flow, X, values=values, n_examples=2,
                                                 factors=[1], dim=1, random_state=0)
    assert disp.traversals.shape == (1, 2, 3, 4)
    assert disp.factor_names == ["factor 1"]
    Z_ref = flow.transform(disp.examples)
    codes = flow.transform(disp.traversals.reshape(-1, 4)).reshape(2, 3, 4)
    # factor 1 owns code columns 1:3; dim=1 traverses column 2
    np.testing.assert_allclose(codes[:, :, 2], np.broadcast_to(values, (2, 3)), atol=1e-10)
    others = [0, 1, 3]
    np.testing.assert_allclose(codes[..., others],
                               np.broadcast_to(Z_ref[:, None, others], (2, 3, 3)), atol=1e-10)
    default = FactorTraversalDisplay.from_estimator(flow, X, n_examples=2)
    assert default.traversals.shape == (2, 2, 7, 4)  # factors 1 and 2, residual left out
    assert default.factor_names == ["factor 1", "factor 2"]
    with pytest.raises(ValueError, match="factor 2 has 1 code dimension"):
        FactorTraversalDisplay.from_estimator(flow, X, factors=2, dim=1)


def test_traversal_kinds():
    X4 = np.random.RandomState(2).normal(size=(20, 4))
    flow4 = _LinearFlow(4, [slice(0, 2), slice(2, 4)])
    images = FactorTraversalDisplay.from_estimator(flow4, X4, n_examples=2, n_steps=5,
                                                   padding=0)
    assert images.image_ is not None and images.mosaic_.shape == (2 * 2, 5 * 2)
    np.testing.assert_allclose(images.mosaic_[2:4, 2:4],
                               images.traversals[0, 1, 1].reshape(2, 2))
    assert [t.get_text() for t in images.ax_.get_xticklabels()] == [
        "-2", "-1", "0", "1", "2"]

    X3 = np.random.RandomState(3).normal(size=(20, 3))
    lines = FactorTraversalDisplay.from_estimator(
        _LinearFlow(3, [slice(0, 1), slice(1, 3)]), X3, factors=[0, 1], n_examples=1)
    assert len(lines.lines_) == 2 * 1 * 3
    np.testing.assert_array_equal(lines.lines_[0].get_xdata(), np.linspace(-2, 2, 7))

    X2 = np.random.RandomState(4).normal(size=(20, 2))
    scatter = FactorTraversalDisplay.from_estimator(
        _LinearFlow(2, [slice(0, 1), slice(1, 2)]), X2, n_examples=3)
    assert len(scatter.lines_) == 3
    np.testing.assert_allclose(scatter.lines_[0].get_xydata(), scatter.traversals[0, 0])
    with pytest.raises(ValueError, match="Unknown kind='heatmap'"):
        scatter.plot(kind="heatmap")


def test_traversal_errors():
    flow = _LinearFlow(2, [slice(0, 1), slice(1, 2)])
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"valid values are 0..1 \(0 is the residual\)"):
        FactorTraversalDisplay.from_estimator(flow, X, factors=[2])
    with pytest.raises(ValueError, match="n_examples=6 should be <= n_samples=5"):
        FactorTraversalDisplay.from_estimator(flow, X, n_examples=6)
    with pytest.raises(AttributeError, match="factor_slices_"):
        FactorTraversalDisplay.from_estimator(_ImageSampler(), X)


def test_traversal_of_a_disentangling_flow_keeps_the_residual():
    from skdeepclust.datasets import make_arc
    from skdeepclust.flow import DisentanglingFlow

    X, position = make_arc(200, random_state=0)
    flow = DisentanglingFlow(max_epochs=1, hidden_layer_sizes=(8,), device="cpu",
                             random_state=0).fit(X, position)
    disp = FactorTraversalDisplay.from_estimator(flow, X, n_examples=2, n_steps=4)
    assert disp.traversals.shape == (1, 2, 4, 2)
    codes = flow.transform(disp.traversals.reshape(-1, 2)).reshape(2, 4, 2)
    residual = flow.transform(disp.examples)[:, 0]
    np.testing.assert_allclose(codes[..., 0], np.repeat(residual[:, None], 4, 1), atol=1e-6)
    np.testing.assert_allclose(codes[..., 1], np.tile(np.linspace(-2, 2, 4), (2, 1)),
                               atol=1e-6)


# ------------------------------------------------- displays that explain themselves
def _text_boxes(fig):
    """(name, bbox) of every drawn piece of text: titles, axis labels, tick labels, legends."""
    fig.canvas.draw()
    boxes = []
    for i, ax in enumerate(fig.axes):
        for name, text in (("title", ax.title), ("xlabel", ax.xaxis.label),
                           ("ylabel", ax.yaxis.label)):
            if text.get_visible() and text.get_text():
                boxes.append((f"axes {i} {name} {text.get_text()!r}", text.get_window_extent()))
        if ax.axison:
            for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
                low, high = sorted(limits)
                for tick in axis.get_majorticklabels() + axis.get_minorticklabels():
                    pos = tick.get_position()[0 if axis is ax.xaxis else 1]
                    if (tick.get_visible() and tick.get_text()
                            and low - 1e-12 <= pos <= high + 1e-12):
                        boxes.append((f"axes {i} tick {tick.get_text()!r}",
                                      tick.get_window_extent()))
        legend = ax.get_legend()
        if legend is not None:
            boxes.append((f"axes {i} legend", legend.get_window_extent()))
    return boxes


def assert_readable(fig):
    """No two texts of the figure overlap, none leaves the figure, none covers a panel."""
    boxes = _text_boxes(fig)
    assert boxes
    frame = fig.bbox
    for name, box in boxes:
        assert (box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1 and box.y0 >= frame.y0 - 1
                and box.y1 <= frame.y1 + 1), f"{name} is cut off by the figure edge"
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            (name_a, box_a), (name_b, box_b) = boxes[a], boxes[b]
            if "legend" in name_a or "legend" in name_b:
                continue  # a legend sits inside its axes, over the ticks of nobody
            shrunk = box_a.expanded(1, 1).translated(0, 0)
            overlap = (min(shrunk.x1, box_b.x1) - max(shrunk.x0, box_b.x0) > 1
                       and min(shrunk.y1, box_b.y1) - max(shrunk.y0, box_b.y0) > 1)
            assert not overlap, f"{name_a} overlaps {name_b}"
    for name, box in boxes:  # the texts of one panel stay off the plotting area of others
        owner = int(name.split()[1])
        for j, ax in enumerate(fig.axes):
            if j != owner and ax.axison and "legend" not in name:
                area = ax.get_window_extent()
                inside = (min(area.x1, box.x1) - max(area.x0, box.x0) > 1
                          and min(area.y1, box.y1) - max(area.y0, box.y0) > 1)
                assert not inside, f"{name} runs into the plotting area of axes {j}"


def test_readability_check_catches_overlaps():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0.0925, 0.0750])
    ax.set_ylabel("a very long label " * 3, fontsize=30)
    with pytest.raises(AssertionError):
        assert_readable(fig)


@pytest.fixture(scope="module")
def rbm(small_digits):
    from skdeepclust.neural_network import RBM

    X, _ = small_digits
    return RBM(n_components=9, max_epochs=4, batch_size=50, device="cpu",
               random_state=0).fit((X > 0.5).astype(np.float32))


def test_rbm_displays_explain_themselves(rbm):
    filters = FilterDisplay.from_estimator(rbm)
    samples = SamplesDisplay.from_estimator(rbm, 4, sample_kwargs={"k": 2})
    loss = LossCurveDisplay.from_estimator(rbm)
    titles = [d.ax_.get_title() for d in (filters, samples, loss)]
    assert titles == ["RBM: first-layer filters", "RBM: 4 samples", "RBM: training"]
    assert len(set(titles)) == 3  # not "RBM" three times
    assert loss.ax_.get_xlabel() == "epoch"
    assert loss.ax_.get_ylabel() == "reconstruction error\n(mean squared, per feature)"
    assert loss.ax_.get_legend() is None  # one curve, no legend
    for display in (filters, samples, loss):
        assert_readable(display.figure_)
    # the three side by side, as in the report of issue 22
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    FilterDisplay.from_estimator(rbm, ax=axes[0])
    SamplesDisplay.from_estimator(rbm, 4, sample_kwargs={"k": 2}, ax=axes[1])
    LossCurveDisplay.from_estimator(rbm, ax=axes[2])
    assert_readable(fig)


def test_dec_loss_has_one_panel_per_quantity(autoencoder, small_digits):
    from skdeepclust.cluster import DECClustering

    X, _ = small_digits
    dec = DECClustering(3, autoencoder=autoencoder, max_epochs=3, batch_size=50,
                        device="cpu", random_state=0).fit(X)
    disp = LossCurveDisplay.from_estimator(dec)
    assert list(disp.lines_) == ["pretraining", "clustering"]
    assert len(disp.axes_) == 2 and len(disp.figure_.axes) == 2
    assert [ax.get_title() for ax in disp.axes_] == ["DECClustering: pretraining",
                                                     "DECClustering: clustering"]
    assert disp.axes_[0].get_ylabel() == "reconstruction error\n(mean squared, per feature)"
    assert disp.axes_[1].get_ylabel() == "KL(P ‖ Q) to the target\n(nats per sample)"
    assert [ax.get_xlabel() for ax in disp.axes_] == ["epoch", "epoch"]
    np.testing.assert_allclose(disp.lines_["pretraining"].get_ydata(),
                               dec.autoencoder_.loss_curve_)
    np.testing.assert_allclose(disp.lines_["clustering"].get_ydata(), dec.loss_curve_)
    np.testing.assert_array_equal(disp.lines_["clustering"].get_xdata(),
                                  np.arange(1, dec.n_iter_ + 1))  # its own epoch axis
    assert all(ax.get_legend() is None for ax in disp.axes_)
    assert_readable(disp.figure_)
    idec = DECClustering(3, autoencoder=autoencoder, reconstruction_weight=1.0, max_epochs=2,
                         batch_size=50, device="cpu", random_state=0).fit(X)
    label = LossCurveDisplay.from_estimator(idec).axes_[1].get_ylabel()
    assert label.startswith("KL(P ‖ Q) + weighted reconstruction")


def test_autoencoder_loss_label_names_the_loss_and_penalties(small_digits):
    X, _ = small_digits
    ae = AutoEncoder(n_components=2, hidden_layer_sizes=(4,), loss="cross_entropy",
                     output_activation="sigmoid",
                     sparsity_weight=0.1, max_epochs=1, tol=None, device="cpu",
                     random_state=0).fit(X)
    disp = LossCurveDisplay.from_estimator(ae)
    assert disp.ax_.get_ylabel() == ("reconstruction cross-entropy + sparsity penalty\n"
                                     "(nats per feature)")
    assert disp.ax_.get_title() == "AutoEncoder: training"


def test_dmae_loss_panels(small_digits):
    from skdeepclust.cluster import DMAEClustering

    X, _ = small_digits
    shallow = DMAEClustering(3, max_epochs=2, batch_size=50, device="cpu",
                             random_state=0).fit(X[:, :4])
    disp = LossCurveDisplay.from_estimator(shallow)
    assert list(disp.lines_) == ["training"] and disp.ax_.get_ylabel() == "DMAE loss\n(per sample)"
    deep = DMAEClustering(3, autoencoder=AutoEncoder(n_components=2, hidden_layer_sizes=(4,),
                                                     max_epochs=2, tol=None),
                          mixture_epochs=2, max_epochs=2, batch_size=50, device="cpu",
                          random_state=0).fit(X)
    disp = LossCurveDisplay.from_estimator(deep)
    assert list(disp.lines_) == ["pretraining", "mixture", "clustering"]
    assert [ax.get_ylabel().split("\n")[0] for ax in disp.axes_] == [
        "reconstruction error", "DMAE loss, mixture only", "DMAE loss + weighted reconstruction"]
    assert_readable(disp.figure_)


def test_dbn_layers_share_a_panel_with_a_legend(small_digits):
    from skdeepclust.neural_network import DBN

    X, _ = small_digits
    dbn = DBN((6, 4), max_epochs=2, batch_size=50, device="cpu",
              random_state=0).fit((X > 0.5).astype(np.float32))
    disp = LossCurveDisplay.from_estimator(dbn)
    assert len(disp.axes_) == 1 and list(disp.lines_) == ["layer 1", "layer 2"]
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == ["layer 1", "layer 2"]
    assert disp.ax_.get_title() == "DBN: layer 1 then layer 2"
    assert disp.ax_.get_ylabel().startswith("reconstruction error")
    assert_readable(disp.figure_)


def test_log_loss_axis_labels_plain_numbers_without_minor_labels():
    disp = LossCurveDisplay({"training": [0.3, 0.094, 0.05, 0.03, 0.02, 0.0128]}).plot()
    assert disp.ax_.get_yscale() == "log"
    disp.figure_.canvas.draw()
    assert not [t.get_text() for t in disp.ax_.yaxis.get_minorticklabels() if t.get_text()]
    low, high = disp.ax_.get_ylim()
    shown = [t.get_text() for t in disp.ax_.yaxis.get_majorticklabels()
             if low <= t.get_position()[1] <= high]
    assert shown == ["0.02", "0.05", "0.1", "0.2"]
    assert all("\\times" not in s and "^" not in s for s in shown)
    assert_readable(disp.figure_)


def test_loss_panels_on_given_axes():
    curves = {"pretraining": [3.0, 2.0], "clustering": [0.1, 0.2, 0.3]}
    quantities = {"pretraining": "reconstruction error", "clustering": "KL"}
    fig, (left, right) = plt.subplots(1, 2, layout="constrained")
    disp = LossCurveDisplay(curves, quantities=quantities, title="M").plot(ax=right)
    assert disp.figure_ is fig and right not in fig.axes and len(fig.axes) == 3
    assert [ax.get_ylabel() for ax in disp.axes_] == ["reconstruction error", "KL"]
    assert [ax.get_title() for ax in disp.axes_] == ["M: pretraining", "M: clustering"]
    _, axes = plt.subplots(1, 2)
    assert list(LossCurveDisplay(curves, quantities=quantities).plot(ax=axes).axes_) == list(
        axes)
    with pytest.raises(ValueError, match="ax has 1 Axes but there are 2 panels"):
        LossCurveDisplay(curves, quantities=quantities).plot(ax=[left])
    with pytest.raises(ValueError, match="quantities names phases without a curve"):
        LossCurveDisplay(curves, quantities={"training": "loss"}).plot()


def test_every_display_is_readable_on_its_own(autoencoder, small_digits):
    from skdeepclust.datasets import make_arc
    from skdeepclust.flow import DisentanglingFlow

    X, y = small_digits
    figures = [
        EmbeddingDisplay.from_estimator(autoencoder, X, y).figure_,
        FilterDisplay.from_estimator(autoencoder).figure_,
        LossCurveDisplay.from_estimator(autoencoder).figure_,
    ]
    gm = GaussianMixture(3, random_state=0).fit(np.random.RandomState(0).normal(size=(60, 2)))
    scatter = SamplesDisplay.from_estimator(gm, 50, X=np.zeros((3, 2)))
    assert (scatter.ax_.get_xlabel(), scatter.ax_.get_ylabel()) == ("feature 0", "feature 1")
    assert scatter.ax_.get_title() == "GaussianMixture: 50 samples"
    figures.append(scatter.figure_)
    arc, position = make_arc(200, random_state=0)
    flow = DisentanglingFlow(max_epochs=1, hidden_layer_sizes=(8,), device="cpu",
                             random_state=0).fit(arc, position)
    traversal = FactorTraversalDisplay.from_estimator(flow, arc, n_examples=2, n_steps=4)
    assert traversal.ax_.get_title() == "DisentanglingFlow: factor traversals"
    figures.append(traversal.figure_)
    flow4 = _LinearFlow(4, [slice(0, 2), slice(2, 4)])
    X4 = np.random.RandomState(2).normal(size=(10, 4))
    images = FactorTraversalDisplay.from_estimator(flow4, X4, n_examples=2, n_steps=5)
    assert images.ax_.get_xlabel() == "code value (standard deviations)"
    figures.append(images.figure_)
    X3 = np.random.RandomState(3).normal(size=(20, 3))
    lines = FactorTraversalDisplay.from_estimator(
        _LinearFlow(3, [slice(0, 1), slice(1, 3)]), X3, factors=[0, 1], n_examples=1)
    assert lines.ax_.get_ylabel() == "decoded feature value"
    figures.append(lines.figure_)
    for fig in figures:
        assert_readable(fig)


# ------------------------------------------------------------------ density contours
@pytest.fixture(scope="module")
def moons():
    from sklearn.datasets import make_moons

    X, _ = make_moons(300, noise=0.05, random_state=0)
    return X


def test_density_contour_of_a_gaussian_mixture(moons):
    gm = GaussianMixture(6, random_state=0).fit(moons)
    disp = DensityContourDisplay.from_estimator(gm, moons, grid_resolution=40)
    low, high = moons.min(0), moons.max(0)
    pad = 0.1 * (high - low)
    np.testing.assert_allclose(disp.xx[0, [0, -1]], [low[0] - pad[0], high[0] + pad[0]])
    np.testing.assert_allclose(disp.yy[[0, -1], 0], [low[1] - pad[1], high[1] + pad[1]])
    grid = np.column_stack([disp.xx.ravel(), disp.yy.ravel()])
    np.testing.assert_allclose(disp.log_density.ravel(), gm.score_samples(grid))
    levels = disp.contour_.levels
    top = disp.log_density.max()
    assert levels[0] <= top - 10.0 < levels[1] and levels[-2] < top <= levels[-1]
    assert len(levels) <= 16 and np.allclose(levels, np.round(levels, 6))  # round values
    assert disp.scatter_.get_offsets().shape == (300, 2)
    assert disp.ax_.get_title() == "GaussianMixture: log-density"
    assert disp.colorbar_.ax.get_ylabel() == "log-density (nats)"
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("feature 0", "feature 1")
    assert_readable(disp.figure_)

    dens = DensityContourDisplay.from_estimator(gm, moons, grid_resolution=30, kind="density",
                                                levels=5, filled=False, colorbar=False)
    assert dens.colorbar_ is None and dens.ax_.get_title() == "GaussianMixture: density"
    assert dens.contour_.levels[0] == 0.0
    assert dens.contour_.levels[-1] >= np.exp(dens.log_density.max()) > dens.contour_.levels[-2]


def test_density_contour_extent_from_samples_and_limits(moons):
    from skdeepclust.flow import NormalizingFlow

    flow = NormalizingFlow(n_stages=2, hidden_layer_sizes=(8,), max_epochs=2, tol=None,
                           device="cpu", random_state=0).fit(moons)
    disp = DensityContourDisplay.from_estimator(flow, grid_resolution=20, n_reference=200)
    samples = flow.sample(200, random_state=0)
    low, high = samples.min(0), samples.max(0)
    assert disp.xx[0, 0] == pytest.approx(low[0] - 0.1 * (high[0] - low[0]))
    assert disp.scatter_ is None
    grid = np.column_stack([disp.xx.ravel(), disp.yy.ravel()])
    np.testing.assert_allclose(disp.log_density.ravel(), flow.score_samples(grid), rtol=1e-6)
    assert disp.ax_.get_title() == "NormalizingFlow: log-density"
    fixed = DensityContourDisplay.from_estimator(flow, moons, limits=(-2, 3, -1, 2),
                                                 grid_resolution=11, margin=0.5)
    assert fixed.ax_.get_xlim() == (-2.0, 3.0) and fixed.ax_.get_ylim() == (-1.0, 2.0)
    np.testing.assert_allclose(fixed.xx[0], np.linspace(-2, 3, 11))


def test_density_contour_of_a_gaussian_rbm_and_a_pipeline(moons):
    from skdeepclust.neural_network import RBM

    scaled = StandardScaler().fit_transform(moons)
    rbm = RBM(4, visible="gaussian", max_epochs=3, batch_size=50, device="cpu",
              random_state=0).fit(scaled)
    disp = DensityContourDisplay.from_estimator(rbm, scaled, grid_resolution=25)
    grid = np.column_stack([disp.xx.ravel(), disp.yy.ravel()])
    np.testing.assert_allclose(disp.log_density.ravel(), rbm.score_samples(grid))
    assert disp.ax_.get_title() == "RBM: log-density"
    pipe = make_pipeline(StandardScaler(), GaussianMixture(4, random_state=0)).fit(moons)
    piped = DensityContourDisplay.from_estimator(pipe, moons, grid_resolution=20)
    grid = np.column_stack([piped.xx.ravel(), piped.yy.ravel()])
    np.testing.assert_allclose(piped.log_density.ravel(), pipe.score_samples(grid))
    assert piped.ax_.get_title() == "GaussianMixture: log-density"


def test_density_contour_uses_feature_names(moons):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(moons, columns=["width", "height"])
    gm = GaussianMixture(3, random_state=0).fit(frame)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "X does not have valid feature names"
        disp = DensityContourDisplay.from_estimator(gm, moons, grid_resolution=10)
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("width", "height")


def test_density_contour_errors(moons):
    gm = GaussianMixture(2, random_state=0).fit(moons)
    with pytest.raises(AttributeError, match="has no score_samples"):
        DensityContourDisplay.from_estimator(KMeans(2, n_init=1).fit(moons), moons)
    wide = GaussianMixture(2, random_state=0).fit(np.c_[moons, moons[:, :1]])
    with pytest.raises(ValueError, match="fitted on 3 features"):
        DensityContourDisplay.from_estimator(wide, moons)
    with pytest.raises(ValueError, match="X should have 2 features"):
        DensityContourDisplay.from_estimator(gm, np.c_[moons, moons])
    with pytest.raises(ValueError, match=r"limits=.* should be \(xmin, xmax, ymin, ymax\)"):
        DensityContourDisplay.from_estimator(gm, limits=(1, 0, 0, 1))
    with pytest.raises(ValueError, match="grid_resolution=1 should be >= 2"):
        DensityContourDisplay.from_estimator(gm, moons, grid_resolution=1)
    with pytest.raises(ValueError, match="Unknown kind='probability'"):
        DensityContourDisplay.from_estimator(gm, moons, kind="probability")
    with pytest.raises(ValueError, match="log_range=0 should be a positive number"):
        DensityContourDisplay.from_estimator(gm, moons, log_range=0)

    class _NoSample(_Fitted):
        def __init__(self):
            self.n_features_in_ = 2

        def score_samples(self, X):
            return np.zeros(len(X))

    with pytest.raises(ValueError, match="Pass X or limits"):
        DensityContourDisplay.from_estimator(_NoSample())
    with pytest.raises(NotFittedError):
        DensityContourDisplay.from_estimator(GaussianMixture(2), moons)
