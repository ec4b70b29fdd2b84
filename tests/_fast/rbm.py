"""Fast settings for the RBM family's contract checks.

The checks feed real-valued data (often X ~ N(100, 1)), which a binary visible layer
rejects by design (non-binary data is an error unless ``allow_probabilities=True`` and
X is in [0, 1]); the contract therefore runs on Gaussian visible units, and
tests/test_rbm.py covers the binary layer's pickling, dtype and determinism directly.
"""

PARAMS = {
    "RBM": dict(n_components=3, visible="gaussian", max_epochs=2, batch_size=10),
    "RBMClassifier": dict(n_components=8, visible="gaussian", max_epochs=20, batch_size=10,
                          learning_rate=0.05, method="cd"),
    "DBN": dict(hidden_layer_sizes=(4, 3), visible="gaussian", max_epochs=2, batch_size=10),
    "ZCA": dict(),
}
XFAILS: dict = {}
