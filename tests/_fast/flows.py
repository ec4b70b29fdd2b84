"""Fast settings for the NormalizingFlow and DisentanglingFlow contract checks."""

PARAMS = {
    "NormalizingFlow": dict(
        n_stages=1, hidden_layer_sizes=(4,), max_epochs=2, batch_size=16, tol=None
    ),
    "DisentanglingFlow": dict(n_stages=1, hidden_layer_sizes=(4,), max_epochs=2, batch_size=16),
}
XFAILS: dict = {}
