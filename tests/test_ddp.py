"""Data-parallel training with torch.distributed: two gloo ranks on the CPU.

Two ranks at ``batch_size=B`` must give the model one process gives at ``2 * B`` (the
training loop shards each global minibatch and averages the gradients), the same on both
ranks; ranks that disagree on the data's shape all raise the same ValueError. One spawn of
two processes runs every scenario (a process pair costs a few seconds to start).
"""

import datetime
import multiprocessing
import os
import socket
import time
import traceback

import numpy as np
import pytest
import torch

import skdeepclust
from skdeepclust._distributed import data_parallel
from skdeepclust.cluster import DECClustering
from skdeepclust.flow import NormalizingFlow
from skdeepclust.neural_network import DBM, RBM
from skdeepclust.representation import AutoEncoder, GMMRepresentation

B = 8  # per-rank batch size; one process trains at 2 * B
RTOL = 1e-5


def _data(n_features=6):
    rng = np.random.RandomState(0)
    centers = rng.normal(scale=4.0, size=(3, n_features))
    X = np.vstack([c + rng.normal(size=(34, n_features)) for c in centers])[:101]
    # 101 rows: the last global minibatch (5 rows) splits unevenly, 3 and 2
    Xb = (rng.uniform(size=(101, 5)) < np.linspace(0.2, 0.8, 5)).astype(np.float64)
    return X, Xb


def _estimators(batch_size):
    ae = {"hidden_layer_sizes": (8,), "batch_size": batch_size, "max_epochs": 3,
          "tol": None, "device": "cpu", "random_state": 0}
    rbm = {"n_components": 4, "method": "exact", "centered": False, "momentum": 0.5,
           "learning_rate": 0.05, "batch_size": batch_size, "max_epochs": 3,
           "device": "cpu", "random_state": 0}
    return {
        "AutoEncoder": AutoEncoder(2, **ae),
        # 97 rows: the last global minibatch has 1 row, rank 1 gets none
        "AutoEncoder (empty share)": AutoEncoder(2, **ae),
        "DECClustering": DECClustering(
            3, autoencoder=AutoEncoder(2, **ae), batch_size=batch_size, max_epochs=3,
            update_interval=3, tol=0.0, n_init=2, device="cpu", random_state=0),
        "NormalizingFlow": NormalizingFlow(
            n_stages=2, hidden_layer_sizes=(8,), batch_size=batch_size, max_epochs=3,
            early_stopping=False, tol=None, device="cpu", random_state=0,
            noise=0.0),  # each rank draws its rows' noise: equal in law, not draw for draw
        # per-sample codes stepped once per epoch by an optimizer the loop does not hold:
        # their gradients are found through the loss's graph and averaged too
        "GMMRepresentation": GMMRepresentation(
            3, latent_dim=2, hidden_layer_sizes=(8,), init="random",
            representation_step="epoch", batch_size=batch_size, max_epochs=3, tol=None,
            device="cpu", random_state=0),
        # the RBM declares its state (module, momentum buffers): averaged after each step
        "RBM": RBM(**rbm),
        # the DBM declares nothing: it trains on the whole data on every rank
        "DBM (replicated)": DBM(n_components=(3, 2), batch_size=batch_size, max_epochs=2,
                                device="cpu", random_state=0),
    }


def _state(est):
    """Every trained tensor of a fitted estimator, as float64 arrays."""
    state = {}
    for owner, prefix in ((est, ""), (getattr(est, "autoencoder_", None), "ae.")):
        if owner is not None:
            for k, v in owner.module_.state_dict().items():
                if v.is_floating_point():
                    state[prefix + k] = v.detach().double().numpy().copy()
    if hasattr(est, "embedding_"):
        state["embedding_"] = np.asarray(est.embedding_, dtype=np.float64)
    return state


def _fit_all(batch_size):
    X, Xb = _data()
    out = {}
    for name, est in _estimators(batch_size).items():
        binary = name.startswith(("RBM", "DBM"))
        est.fit(Xb if binary else X[:97] if "empty" in name else X)
        out[name] = (_state(est), list(est.loss_curve_))
    return out


def _worker(rank, port, queue):
    try:
        os.environ["SKDEEPCLUST_COMPUTE_DTYPE"] = "float64"
        torch.set_num_threads(1)
        torch.distributed.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2,
            timeout=datetime.timedelta(seconds=30))
        result = {"fits": _fit_all(B)}
        with data_parallel(False):  # each rank fits alone: one process at the rank's batch
            result["local"] = _state(AutoEncoder(2, hidden_layer_sizes=(8,), batch_size=B,
                                                 max_epochs=3, tol=None, device="cpu",
                                                 random_state=0).fit(_data()[0]))
        X, _ = _data(n_features=6 + rank)  # the ranks disagree on n_features
        try:
            AutoEncoder(2, hidden_layer_sizes=(8,), batch_size=B, max_epochs=1,
                        device="cpu", random_state=0).fit(X)
            result["mismatch"] = None
        except ValueError as exc:
            result["mismatch"] = str(exc)
        # Rank 1 fails on its own (NaN in its X) before the first collective: rank 0 waits
        # in the consistency check for the process group's timeout, then raises.
        torch.distributed.distributed_c10d._set_pg_timeout(datetime.timedelta(seconds=1))
        X, _ = _data()
        if rank == 1:
            X[0, 0] = np.nan
        start = time.perf_counter()
        try:
            AutoEncoder(2, hidden_layer_sizes=(8,), batch_size=B, max_epochs=1,
                        device="cpu", random_state=0).fit(X)
            result["alone"] = None
        except (ValueError, RuntimeError) as exc:
            result["alone"] = (type(exc).__name__, str(exc), time.perf_counter() - start)
        if rank == 1:  # stay connected: rank 0 must give up by its timeout, not our exit
            time.sleep(3)
        torch.distributed.destroy_process_group()
        queue.put((rank, result))
    except Exception:  # noqa: BLE001 - report it, do not leave the test waiting
        queue.put((rank, traceback.format_exc()))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks():
    """What each of two gloo ranks fitted (one spawn for the whole module)."""
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, queue)) for r in range(2)]
    # the ranks compute in float64, as `single` does (equality to 1e-5 across processes)
    saved = os.environ.get("SKDEEPCLUST_COMPUTE_DTYPE")
    os.environ["SKDEEPCLUST_COMPUTE_DTYPE"] = "float64"
    try:
        for p in procs:
            p.start()
    finally:
        if saved is None:
            del os.environ["SKDEEPCLUST_COMPUTE_DTYPE"]
        else:
            os.environ["SKDEEPCLUST_COMPUTE_DTYPE"] = saved
    try:
        results = dict(queue.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    for rank, res in results.items():
        assert isinstance(res, dict), f"rank {rank} failed:\n{res}"
    return results


@pytest.fixture(scope="module")
def single():
    """One process (no process group): the doubled batch, and the per-rank batch."""
    config = getattr(skdeepclust, "config_context", None)
    with config(compute_dtype="float64") if config else _nullcontext():
        return {2 * B: _fit_all(2 * B), B: _fit_all(B)}


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *args):
        return False


def _assert_same_state(a, b, what):
    assert a.keys() == b.keys(), what
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=RTOL, atol=1e-8, err_msg=f"{what}: {k}")


@pytest.mark.parametrize(
    "name", ["AutoEncoder", "AutoEncoder (empty share)", "DECClustering",
             "NormalizingFlow", "GMMRepresentation", "RBM"])
def test_two_ranks_equal_one_process_at_doubled_batch(ranks, single, name):
    (s0, curve0), (s1, curve1) = ranks[0]["fits"][name], ranks[1]["fits"][name]
    ref, ref_curve = single[2 * B][name]
    for key in s0:  # both ranks hold the same fitted model, bit for bit
        np.testing.assert_array_equal(s0[key], s1[key], err_msg=key)
    assert curve0 == curve1 and len(curve0) == 3
    _assert_same_state(s0, ref, f"{name}: 2 ranks at batch {B} vs 1 process at {2 * B}")
    if not name.startswith("RBM"):  # the RBM's monitor is a subset of each rank's batch
        np.testing.assert_allclose(curve0, ref_curve, rtol=RTOL)
    # and the per-rank batch alone gives a different model: the gradients were averaged
    other = single[B][name][0]
    assert any(not np.allclose(other[k], ref[k], rtol=1e-3) for k in ref)


def test_loop_without_optimizer_or_sync_state_runs_replicated(ranks, single):
    """A step that updates its parameters itself and declares nothing (the DBM) trains on
    the whole data on every rank: one process's model at the per-rank batch."""
    s0, s1 = (ranks[r]["fits"]["DBM (replicated)"][0] for r in range(2))
    _assert_same_state(s0, s1, "rank 0 vs rank 1")
    _assert_same_state(s0, single[B]["DBM (replicated)"][0], "replicated vs batch B")


def test_data_parallel_false_fits_locally(ranks, single):
    for r in range(2):
        _assert_same_state(ranks[r]["local"], single[B]["AutoEncoder"][0], f"rank {r}")


def test_ranks_disagreeing_on_n_features_all_raise(ranks):
    messages = [ranks[r]["mismatch"] for r in range(2)]
    assert messages[0] is not None and messages[0] == messages[1]
    assert "ranks of the process group disagree" in messages[0]
    assert "parameter shapes" in messages[0] and "n_features" in messages[0]


def test_rank_failing_alone_makes_the_others_time_out(ranks):
    """No hang: the rank left waiting raises once the process group's timeout expires."""
    kind, message, _ = ranks[1]["alone"]
    assert kind == "ValueError" and "NaN" in message
    kind, message, elapsed = ranks[0]["alone"]
    assert kind in ("RuntimeError", "DistBackendError", "DistNetworkError"), message
    assert "timed out" in message.lower() or "timeout" in message.lower(), message
    assert elapsed < 30
