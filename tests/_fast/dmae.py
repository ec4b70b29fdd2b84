"""Fast settings for the DMAEClustering contract checks."""

PARAMS = {
    "DMAEClustering": dict(n_clusters=2, max_epochs=3, batch_size=16, init_iter=10),
}
XFAILS: dict = {}
