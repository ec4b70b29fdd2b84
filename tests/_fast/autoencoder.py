"""Fast settings for the AutoEncoder contract checks."""

PARAMS = {
    "AutoEncoder": dict(n_components=2, hidden_layer_sizes=(4,), max_epochs=2, batch_size=16),
}
XFAILS: dict = {}
