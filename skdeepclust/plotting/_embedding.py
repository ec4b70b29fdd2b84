"""EmbeddingDisplay: 2-D scatter plot of an embedding, coloured by cluster or label."""

from __future__ import annotations

import numpy as np

from ._base import _check_fitted, _final_step, _get_axes, _name, _scatter_labelled


class EmbeddingDisplay:
    """2-D scatter plot of an embedding, coloured by cluster or label.

    Embeddings with more than two dimensions are projected on their first two principal
    components (:class:`sklearn.decomposition.PCA`); cluster centres, when given, go
    through the same projection. Build it with :meth:`from_estimator` or
    :meth:`from_embedding`.

    Parameters
    ----------
    embedding : ndarray of shape (n_samples, 2)
        The 2-D coordinates to draw (already projected).
    labels : array-like of shape (n_samples,), default=None
        Colour of each point: categorical values get one colour each and a legend,
        continuous values a colormap and a colorbar.
    centers : ndarray of shape (n_clusters, 2), default=None
        Cluster centres in the same coordinates, drawn as crosses.
    xlabel, ylabel : str, default=None
        Axis labels.
    title : str, default=None

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    scatter_ : matplotlib PathCollection
        The points.
    centers_ : matplotlib PathCollection or None
        The cluster centres.
    legend_ : matplotlib Legend, Colorbar or None
        Legend of categorical labels, or colorbar of continuous ones.

    See Also
    --------
    sklearn.inspection.DecisionBoundaryDisplay : the Display pattern this follows.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skdeepclust.representation import AutoEncoder
    >>> from skdeepclust.plotting import EmbeddingDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> ae = AutoEncoder(n_components=5, max_epochs=2, tol=None, device="cpu", random_state=0)
    >>> ae = ae.fit(X / 16)
    >>> disp = EmbeddingDisplay.from_estimator(ae, X / 16, y)
    >>> disp.embedding.shape
    (1797, 2)
    """

    def __init__(self, embedding, *, labels=None, centers=None, xlabel=None, ylabel=None,
                 title=None):
        self.embedding = embedding
        self.labels = labels
        self.centers = centers
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.title = title

    def plot(self, ax=None, *, cmap=None, legend=True, colorbar=True, **kwargs):
        """Draw the scatter plot.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when ``None``.
        cmap : str or Colormap, default=None
            ``"tab10"``/``"tab20"`` for categorical labels, ``"viridis"`` for continuous.
        legend : bool, default=True
            Legend of categorical labels (up to 20 of them).
        colorbar : bool, default=True
            Colorbar of continuous labels.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.scatter`.

        Returns
        -------
        display : EmbeddingDisplay
        """
        ax = _get_axes(ax, "EmbeddingDisplay.plot")
        points = np.asarray(self.embedding, dtype=np.float64)
        self.scatter_, self.legend_ = _scatter_labelled(
            ax, points, self.labels, cmap=cmap, legend=legend, colorbar=colorbar, **kwargs
        )
        self.centers_ = None
        if self.centers is not None:
            c = np.asarray(self.centers, dtype=np.float64)
            self.centers_ = ax.scatter(c[:, 0], c[:, 1], marker="X", s=140, c="black",
                                       edgecolors="white", linewidths=1.5, zorder=3)
        ax.set_xlabel(self.xlabel or "")
        ax.set_ylabel(self.ylabel or "")
        if self.title:
            ax.set_title(self.title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_embedding(cls, embedding, labels=None, *, centers=None, title=None, ax=None,
                       **kwargs):
        """Plot an embedding array, projected to 2-D by PCA when wider.

        Parameters
        ----------
        embedding : array-like of shape (n_samples, n_components)
        labels : array-like of shape (n_samples,), default=None
        centers : array-like of shape (n_clusters, n_components), default=None
            Cluster centres in the embedding space.
        title : str, default=None
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : EmbeddingDisplay
        """
        Z = np.asarray(embedding, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[0] < 1 or Z.shape[1] < 1:
            raise ValueError(
                f"embedding should be a non-empty 2-D array; got shape {Z.shape}."
            )
        if not np.all(np.isfinite(Z)):
            raise ValueError("embedding contains NaN or infinity.")
        if labels is not None and np.shape(labels)[0] != Z.shape[0]:
            raise ValueError(
                f"labels has {np.shape(labels)[0]} entries but the embedding has "
                f"{Z.shape[0]} rows."
            )
        C = None if centers is None else np.asarray(centers, dtype=np.float64)
        if C is not None and (C.ndim != 2 or C.shape[1] != Z.shape[1]):
            raise ValueError(
                f"centers should have shape (n_clusters, {Z.shape[1]}); got {C.shape}."
            )
        if Z.shape[1] > 2:
            from sklearn.decomposition import PCA

            pca = PCA(n_components=2, svd_solver="full").fit(Z)
            ratio = pca.explained_variance_ratio_
            points = pca.transform(Z)
            C = None if C is None else pca.transform(C)
            xlabel, ylabel = (f"PC {i + 1} ({100 * r:.0f}% of variance)"
                              for i, r in enumerate(ratio))
        elif Z.shape[1] == 2:
            points, xlabel, ylabel = Z, "dimension 1", "dimension 2"
        else:
            points = np.column_stack([Z[:, 0], np.zeros(Z.shape[0])])
            C = None if C is None else np.column_stack([C[:, 0], np.zeros(C.shape[0])])
            xlabel, ylabel = "dimension 1", ""
        display = cls(points, labels=labels, centers=C, xlabel=xlabel, ylabel=ylabel,
                      title=title)
        return display.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, method="auto", labels="auto",
                       show_centers="auto", title=None, ax=None, **kwargs):
        """Embed ``X`` with a fitted estimator and plot it.

        Parameters
        ----------
        estimator : fitted estimator or Pipeline
            Anything with ``embed`` or ``transform``.
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Known labels (e.g. the classes), used for the colours by ``labels="auto"``.
        method : str, default="auto"
            Method producing the embedding: ``"embed"`` when the estimator (or a
            Pipeline's last step) has it (the encoder output of
            :class:`~skdeepclust.cluster.DMAEClustering`), otherwise ``"transform"``.
            Any other method name works too, e.g. ``"predict_proba"``.
        labels : "auto", "y", "predict", array-like or None, default="auto"
            Colours: ``"auto"`` uses ``y`` when given, else ``predict(X)`` for a clusterer,
            else no colours.
        show_centers : "auto" or bool, default="auto"
            Draw ``cluster_centers_`` (projected like the points). ``"auto"`` draws them
            when ``method`` is ``"embed"``, or ``"transform"`` of a skdeepclust estimator
            without ``embed`` (DEC), where the centres live in the plotted space.
        title : str, default=None
            Defaults to the model and what is drawn, e.g. "DECClustering: embedding,
            coloured by predicted cluster".
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : EmbeddingDisplay
        """
        from sklearn.base import is_clusterer

        if show_centers not in ("auto", True, False):
            raise ValueError(
                f"Unknown show_centers={show_centers!r}; valid options are 'auto', True or "
                "False.")
        _check_fitted(estimator)
        final = _final_step(estimator)
        if method == "auto":
            method = "embed" if hasattr(final, "embed") else "transform"
        if hasattr(estimator, method):
            embed = getattr(estimator, method)
        elif final is not estimator and hasattr(final, method):
            head = estimator[:-1]
            embed = lambda data: getattr(final, method)(head.transform(data))
        else:
            raise AttributeError(
                f"{_name(estimator)} has no {method!r} method to embed X with; pass "
                "method='transform' or the name of a method returning an embedding."
            )
        Z = np.asarray(embed(X))
        coloured = None
        if isinstance(labels, str):
            if labels == "auto":
                labels = "y" if y is not None else "predict" if is_clusterer(estimator) else None
            if labels == "y":
                if y is None:
                    raise ValueError("labels='y' needs y.")
                labels, coloured = y, "label"
            elif labels == "predict":
                labels, coloured = estimator.predict(X), "predicted cluster"
            elif labels is not None:
                raise ValueError(
                    f"Unknown labels={labels!r}; valid options are 'auto', 'y', 'predict', "
                    "an array of labels or None."
                )
        if show_centers == "auto":
            # skdeepclust's convention: ``embed`` (or ``transform`` when there is no
            # ``embed``) returns the space of ``cluster_centers_``; scikit-learn's KMeans
            # transforms to distances instead.
            own = type(final).__module__.startswith("skdeepclust.")
            show_centers = method == "embed" or (
                method == "transform" and own and not hasattr(final, "embed"))
        centers = None
        if show_centers and hasattr(final, "cluster_centers_"):
            C = np.asarray(final.cluster_centers_)
            if C.ndim == 2 and C.shape[1] == Z.shape[1]:
                centers = C
        if title is None:
            what = "embedding" if method in ("embed", "transform") else f"{method}(X)"
            title = f"{_name(estimator)}: {what}" + (f", coloured by {coloured}" if coloured
                                                     else "")
        return cls.from_embedding(Z, labels, centers=centers, title=title, ax=ax, **kwargs)
