"""Fast settings for the DECClustering contract checks."""

from skdeepclust.representation import AutoEncoder

PARAMS = {
    "DECClustering": dict(
        n_clusters=3,
        autoencoder=AutoEncoder(n_components=2, hidden_layer_sizes=(8,), max_epochs=5,
                                batch_size=16, tol=None),
        n_init=2,
        max_epochs=3,
        batch_size=16,
        learning_rate=1e-3,
    ),
}
XFAILS: dict = {}
