"""skdeepclust: scikit-learn estimators for deep unsupervised learning on PyTorch.

Every estimator follows the scikit-learn contract (``fit`` / ``predict`` / ``transform`` /
``score``, ``Pipeline``, ``GridSearchCV``, ``clone``, pickling) and runs on the CPU or a
GPU through one ``device`` parameter.
"""

from . import cluster, flow, neural_network, representation
from ._config import config_context, get_config, set_config
from .cluster import *  # noqa: F403
from .flow import *  # noqa: F403
from .neural_network import *  # noqa: F403
from .representation import *  # noqa: F403

__version__ = "0.1.0.dev0"

__all__ = [
    *cluster.__all__,
    *flow.__all__,
    *neural_network.__all__,
    *representation.__all__,
    "__version__",
    "config_context",
    "get_config",
    "set_config",
]
