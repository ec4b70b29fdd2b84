"""skdeepclust: scikit-learn estimators for deep unsupervised learning on PyTorch.

Every estimator follows the scikit-learn contract (``fit`` / ``predict`` / ``transform`` /
``score``, ``Pipeline``, ``GridSearchCV``, ``clone``, pickling) and runs on the CPU or a
GPU through one ``device`` parameter.
"""

import os as _os

# OpenMP threads that find no work spin for a while before sleeping (GNU OpenMP's
# default). On a busy machine (a grid search with n_jobs, dask workers, other programs)
# torch's threads then spin against each other: a small autoencoder fit on digits with
# 2 threads went from 0.27 s to 47 s while two other processes kept both cores busy, and
# to 0.44 s with the passive policy. It must be set before the OpenMP runtime loads, i.e.
# before torch is first imported; an explicit user setting always wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import cluster, flow, neural_network, representation  # noqa: E402
from ._config import config_context, get_config, set_config  # noqa: E402
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
