"""cluster estimators."""

from ._dec import DECClustering
from ._dmae import DMAEClustering

__all__: list[str] = ["DECClustering", "DMAEClustering"]
