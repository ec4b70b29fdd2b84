"""DMAEClustering's learning rates: ``learning_rate="auto"`` and the optimiser's groups."""

from __future__ import annotations

from ._nested_autoencoder import SMALL_DATA_ROWS

#: ``learning_rate="auto"``: the rate of the shallow model's mixing weights and
#: precisions (its centres move at this times the spread of X), and the deep model's
#: joint fine-tuning rate (the DMAE replication's value).
AUTO_LEARNING_RATE_SHALLOW = 1e-2
AUTO_LEARNING_RATE_DEEP = 1e-5
AUTO_LEARNING_RATE_DEEP_SMALL = 1e-4  # below SMALL_DATA_ROWS samples


def resolve_learning_rate(learning_rate, deep: bool, n_samples: int) -> float:
    """The clustering phase's base learning rate (``learning_rate="auto"`` resolved)."""
    if learning_rate == "auto":
        if not deep:
            return AUTO_LEARNING_RATE_SHALLOW
        small = n_samples < SMALL_DATA_ROWS
        return AUTO_LEARNING_RATE_DEEP_SMALL if small else AUTO_LEARNING_RATE_DEEP
    return float(learning_rate)


def learning_rates(given, base: float, data_spread: float) -> tuple[float, float]:
    """(centres, mixing weights and precisions): with ``given="auto"`` the centres move at
    ``base`` times ``data_spread`` (the spread of the clustered data), the dimensionless
    parameters at ``base``; an explicit rate applies to every parameter."""
    if isinstance(given, str):  # "auto"
        return base * data_spread, base
    return base, base


def head_param_groups(head, centers_lr: float, other_lr: float) -> list[dict]:
    """The optimiser's parameter groups of the mixture ``head``: its centres at
    ``centers_lr``, its other trainable parameters at ``other_lr`` (empty groups left out)."""
    groups = []
    if head.centers.requires_grad:
        groups.append({"params": [head.centers], "lr": centers_lr})
    others = [q for name, q in head.named_parameters()
              if q.requires_grad and name != "centers"]
    if others:
        groups.append({"params": others, "lr": other_lr})
    return groups
