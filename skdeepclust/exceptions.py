"""Warnings and errors raised by skdeepclust."""

from sklearn.exceptions import ConvergenceWarning, NotFittedError

__all__ = ["ConvergenceWarning", "DeviceWarning", "NotFittedError", "TrainingDivergedError"]


class DeviceWarning(UserWarning):
    """Warn when a model is moved to another device than the one it was fitted on.

    Raised when an estimator fitted on a GPU is unpickled on a machine without one: the
    model is loaded on the CPU instead and predicts the same.
    """


class TrainingDivergedError(ValueError, ArithmeticError):
    """Training produced a NaN or infinite loss.

    The message names the training phase and the epoch, and suggests what to change
    (usually a smaller ``learning_rate``, standardized inputs or computing in float64 with ``skdeepclust.set_config(compute_dtype="float64")``).
    """
