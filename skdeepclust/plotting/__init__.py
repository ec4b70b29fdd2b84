"""Display objects for skdeepclust models, in scikit-learn's Display style.

Every display is built with ``Display.from_estimator(...)`` (or from plain arrays), draws
with ``plot(ax=None, ...)`` and keeps the matplotlib objects it drew as attributes
(``ax_``, ``figure_`` and the artists), like
:class:`sklearn.inspection.DecisionBoundaryDisplay`. The displays read estimators by duck
typing (``transform``, ``embed``, ``components_``, ``loss_curve_``, ``sample``,
``factor_slices_``), so any estimator with the right attributes works, scikit-learn's
included.

matplotlib is an optional dependency, the ``plot`` extra
(``pip install "skdeepclust[plot]"``); it is imported only when a display draws.

One module per display (``_embedding``, ``_filters``, ``_loss``, ``_samples``,
``_traversal``, ``_density``), the shared helpers in ``_base``; import the displays from
here.
"""

from ._density import DensityContourDisplay
from ._embedding import EmbeddingDisplay
from ._filters import FilterDisplay
from ._loss import LossCurveDisplay
from ._samples import SamplesDisplay
from ._traversal import FactorTraversalDisplay

__all__ = [
    "DensityContourDisplay",
    "EmbeddingDisplay",
    "FactorTraversalDisplay",
    "FilterDisplay",
    "LossCurveDisplay",
    "SamplesDisplay",
]
