"""neural_network estimators."""

__all__: list[str] = []
