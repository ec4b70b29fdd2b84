"""The training loop's shared outcome helpers: one wording for every estimator."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skdeepclust._training import (
    TrainingResult,
    partition_problems,
    warn_partition,
    warn_unconverged,
)


class Dummy:
    pass


def test_partition_problems_finds_empty_and_dominant_clusters():
    labels = np.r_[np.zeros(90, int), np.arange(1, 8)]  # 8, 9 empty; 0 holds 93%
    problems = partition_problems(labels, 10)
    assert problems[0] == "2 of n_clusters=10 clusters are empty (clusters [8, 9])"
    assert problems[1].startswith("cluster 0 holds 93%")


def test_partition_problems_accepts_balanced_and_small_k():
    assert partition_problems(np.arange(100) % 10, 10) == []
    # two clusters: any split is a partition, never "degenerate"
    assert partition_problems(np.r_[np.zeros(95, int), np.ones(5, int)], 2) == []
    # 3 clusters: 80% in one is under 2.5/3 of the samples
    assert partition_problems(np.r_[np.zeros(80, int), [1] * 10, [2] * 10], 3) == []
    assert partition_problems(np.r_[np.zeros(90, int), [1] * 5, [2] * 5], 3) != []


def test_warn_partition_names_estimator_phase_and_advice():
    with pytest.warns(ConvergenceWarning, match=r"^Dummy \(fit\) ended with a degenerate "
                      r"partition: 1 of n_components=3 components are empty .*; try this\.$"):
        assert warn_partition(Dummy(), [0, 1, 0, 1], 3, phase="fit", advice="try this",
                              what="components")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_partition(Dummy(), [0, 1, 2, 0], 3, phase="fit", advice="x")


def test_warn_unconverged_only_when_the_cap_stopped_training():
    result = TrainingResult(n_iter=5)
    with pytest.warns(ConvergenceWarning, match=r"Dummy \(pretraining\) stopped at "
                      r"max_epochs=5 before the rule; increase max_epochs\."):
        assert warn_unconverged(Dummy(), result, phase="pretraining", max_epochs=5,
                                rule="the rule")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for done in (TrainingResult(n_iter=5, converged=True),
                     TrainingResult(n_iter=5, interrupted=True), TrainingResult(n_iter=0)):
            assert not warn_unconverged(Dummy(), done, phase="p", max_epochs=5, rule="r")


def test_nearest_power_of_two_is_clipped():
    from skdeepclust._training import nearest_power_of_two

    assert [nearest_power_of_two(x, 32, 256) for x in (0, 0.5, 40, 48, 60, 1e6)] == [
        32, 32, 32, 64, 64, 256]
    assert nearest_power_of_two(1797 / 16, 64, 512) == 128
