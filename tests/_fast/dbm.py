"""Fast settings for the DBM's contract checks.

As for the RBM family, the checks feed real-valued data (often X ~ N(100, 1)), which a
binary visible layer rejects by design; the contract therefore runs on Gaussian visible
units, and tests/test_dbm.py covers the binary layer's pickling, dtype and determinism.
Two hidden layers of 3 and 2 units: the exact log Z (8 odd states) after every fit.
"""

PARAMS = {
    "DBM": {"n_components": (3, 2), "visible": "gaussian", "max_epochs": 2, "batch_size": 10},
}
XFAILS: dict = {}
