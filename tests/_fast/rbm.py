"""Fast settings for the RBM family's contract checks.

The checks feed real-valued data (often X ~ N(100, 1)), which a binary visible layer
rejects by design (non-binary data is an error unless ``allow_probabilities=True`` and
X is in [0, 1]); the contract therefore runs on Gaussian visible units, and
tests/test_rbm.py covers the binary layer's pickling, dtype and determinism directly.
"""

PARAMS = {
    "RBM": dict(n_components=3, visible="gaussian", max_epochs=2, batch_size=10),
    # 8 epochs of 6 updates pass check_classifiers_train (accuracy > 0.83 on blobs) with
    # margin (also at 8 hidden units or learning_rate=0.1) in ~0.4 s instead of ~4 s.
    "RBMClassifier": dict(n_components=16, visible="gaussian", max_epochs=8, batch_size=50,
                          learning_rate=0.2, method="cd"),
    "DBN": dict(hidden_layer_sizes=(4, 3), visible="gaussian", max_epochs=2, batch_size=10),
    "ZCA": dict(),
}
XFAILS: dict = {}
