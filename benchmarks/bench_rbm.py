"""RBM family benchmarks: PyDeep's anchors and scikit-learn's BernoulliRBM side by side.

Binary MNIST is PyDeep's (X / 255 > 0.5; train = first 60,000, test = last 10,000),
read from ``$SKDEEPCLUST_MNIST`` (default ../shared/data/mnist.npz). Every figure is a
true log-likelihood in nats (exact partition function, or AIS / reverse AIS estimates).

    python benchmarks/bench_rbm.py small            # P5: 784-16 centered RBM, PCD, 50 epochs
    python benchmarks/bench_rbm.py small --normal --flipped
    python benchmarks/bench_rbm.py small --normal --flipped-only  # P5c / P5d only
    python benchmarks/bench_rbm.py sklearn          # throughput and AIS LL vs BernoulliRBM
    python benchmarks/bench_rbm.py grbm2d           # P7: GB-RBM on the 2-D Laplace mixture
    python benchmarks/bench_rbm.py big --epochs 200 # P6: 784-500 centered RBM, AIS (slow)
    python benchmarks/bench_rbm.py big --epochs 40 --betas 4000 --threads 2  # 15-min budget
    python benchmarks/bench_rbm.py big --normal     # P6b: the normal 784-500 RBM
    python benchmarks/bench_rbm.py gaussian --seeds 0 1 2  # Gaussian units at their defaults
    python benchmarks/bench_rbm.py tempering        # PT / IPT vs PCD: epoch time, exact LL
    python benchmarks/bench_rbm.py defaults --seeds 0 1 2 3 4  # vs BernoulliRBM on digits
    python benchmarks/bench_rbm.py convergence --seeds 0 1 2   # would a default tol be sound?
    python benchmarks/bench_rbm.py visible_bias --seeds 0 1 2 3 4  # init_visible_bias default

``--quick`` shrinks every run (fewer samples / epochs / temperatures) for a smoke test.
PyDeep's reference numbers are printed next to ours.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, cpuinfo, mnist_path, print_table, save_json  # noqa: E402

from skdeepclust.datasets import load_mnist, make_laplace_mixture_2d  # noqa: E402
from skdeepclust.metrics import amari_distance  # noqa: E402
from skdeepclust.neural_network import RBM, RBMClassifier  # noqa: E402
from skdeepclust.nn import partition  # noqa: E402
from skdeepclust.nn.rbm import RBM as RBMModule  # noqa: E402
from skdeepclust.preprocessing import ZCA  # noqa: E402

PYDEEP_SMALL = {  # P5: exact test LL (train LL)
    ("centered", False): (-142.56382054, -143.149739926),
    ("normal", False): (-149.053303204, -149.605105935),
    ("centered", True): (-142.08692014, -142.812529437),
    ("normal", True): (-183.359988079, -183.259299994),
}


def binary_mnist(quick: bool):
    X_tr, _ = load_mnist(mnist_path(), subset="train", binarize=True)
    X_te, _ = load_mnist(mnist_path(), subset="test", binarize=True)
    if quick:
        X_tr, X_te = X_tr[:6000], X_te[:2000]
    return X_tr, X_te


def _ll(rbm, X, log_z):
    return float(np.mean(-rbm.free_energy(X) - log_z))


def bench_small(args, results):
    """P5: 784-16 BB-RBM, PCD (100 chains), batch 100, lr 0.01, 50 epochs, exact log Z."""
    X_tr, X_te = binary_mnist(args.quick)
    epochs = args.epochs or (5 if args.quick else 50)
    rows = []
    variants = [("centered", False)]
    if args.normal:
        variants.append(("normal", False))
    if args.flipped or args.flipped_only:
        variants += [(kind, True) for kind, _ in list(variants)]
    if args.flipped_only:
        variants = [v for v in variants if v[1]]
    for kind, flipped in variants:
        tr, te = (1 - X_tr, 1 - X_te) if flipped else (X_tr, X_te)
        rbm = RBM(16, method="pcd", centered=kind == "centered", learning_rate=0.01,
                  batch_size=100, max_epochs=epochs, device="cpu", random_state=args.seed)
        with Timer() as t:
            rbm.fit(tr)
        exact = rbm.log_partition("exact")
        row = {"model": f"{kind}{' flipped' if flipped else ''}", "epochs": epochs,
               "fit s": t.seconds, "log Z": exact, "LL train": _ll(rbm, tr, exact),
               "LL test": _ll(rbm, te, exact)}
        betas = 1000 if args.quick else 10000
        with Timer() as ta:
            ais = rbm.log_partition("ais", n_betas=betas, random_state=0)
        # reverse AIS from 100 exact model samples (the default with <= 20 hidden units)
        rais = rbm.log_partition("reverse_ais", n_betas=betas, random_state=0)
        row.update({"AIS log Z": ais, "rAIS log Z": rais, "AIS s": ta.seconds,
                    "AIS LL test": _ll(rbm, te, ais), "rAIS LL test": _ll(rbm, te, rais),
                    "PyDeep LL test": PYDEEP_SMALL[(kind, flipped)][0]})
        rows.append(row)
    print("\n784-16 binary RBM on binary MNIST, PCD-1, batch 100, lr 0.01 (PyDeep P5); "
          "AIS / reverse AIS with 100 chains (reverse: from exact model samples)")
    print_table(rows, ["model", "epochs", "fit s", "log Z", "LL train", "LL test",
                       "PyDeep LL test", "AIS LL test", "rAIS LL test", "AIS s"])
    results["small"] = rows


def _module_from_sklearn(skl, X) -> RBMModule:
    """Our torch RBM with scikit-learn's weights (no centering), for AIS scoring."""
    W = skl.components_.T
    m = RBMModule(W.shape[0], W.shape[1], dtype=torch.float64)
    m.initialize(torch.as_tensor(X, dtype=torch.float64), centered=False)
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(W))
        m.visible_bias.copy_(torch.as_tensor(skl.intercept_visible_))
        m.hidden_bias.copy_(torch.as_tensor(skl.intercept_hidden_))
    return m


def machine_info() -> dict:
    """The CPU (``/proc/cpuinfo``'s model name and whether it has AVX-512 and its bf16
    dot products), numpy's BLAS (threadpoolctl: library, version, the kernels it picked)
    and torch's (MKL / oneDNN versions, the CPU capability its kernels use): what a
    BernoulliRBM-vs-ours ratio depends on, recorded next to it."""
    from threadpoolctl import threadpool_info

    info = {"cpu": platform.processor() or platform.machine(), "avx512f": None,
            "avx512_bf16": None}
    cpu = cpuinfo()
    if "flags" in cpu:
        flags = set(cpu["flags"].split())
        info["avx512f"] = "avx512f" in flags
        info["avx512_bf16"] = "avx512_bf16" in flags
    for key in ("cpu family", "model"):  # (AMD family 25: Zen 3 / Zen 4)
        if key in cpu:
            info[key] = cpu[key]
    if "model name" in cpu:
        info["cpu_model"] = cpu["model name"]
    # numpy's own BLAS (what BernoulliRBM's products run on): its build record, and the
    # kernels threadpoolctl sees it pick (the library loaded from numpy's folder)
    with contextlib.suppress(Exception):
        dep = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas_build"] = (f"{dep.get('name')} {dep.get('version')}: "
                                    f"{dep.get('openblas configuration', '')}".strip(": "))
    blas = [d for d in threadpool_info() if d.get("user_api") == "blas"]
    own = [d for d in blas if "numpy" in str(d.get("filepath", ""))] or blas[:1]
    info["numpy_blas"] = "; ".join(
        f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')} kernels, "
        f"{d.get('threading_layer')})" for d in own) or "unknown"
    info["other_blas"] = [f"{d.get('prefix')}: {d.get('internal_api')} {d.get('version')}"
                          for d in blas if d not in own]
    config = torch.__config__.show()
    torch_blas = []
    for line in config.splitlines():
        line = line.strip(" -")
        if line.startswith(("Intel(R) oneAPI Math Kernel Library", "Intel(R) MKL-DNN",
                            "OpenBLAS", "CPU capability usage")):
            torch_blas.append(line.replace("Intel(R) oneAPI Math Kernel Library", "MKL")
                              .replace(" for Intel(R) 64 architecture applications", "")
                              .replace("Intel(R) MKL-DNN", "oneDNN"))
    blas_info = [x for x in config.replace(",", " ").split() if x.startswith("BLAS_INFO=")]
    info["torch_blas"] = "; ".join(blas_info + torch_blas) or "unknown"
    import sklearn

    info.update(numpy=np.__version__, sklearn=sklearn.__version__)
    return info


def machine_line(info: dict) -> str:
    """:func:`machine_info` in one line, printed next to the throughput table."""
    isa = ("AVX-512" + (" (bf16)" if info.get("avx512_bf16") else "")
           if info.get("avx512f") else "no AVX-512")
    fam = (f" (family {info['cpu family']} model {info['model']})"
           if "cpu family" in info and "model" in info else "")
    return (f"CPU: {info.get('cpu_model') or info.get('cpu')}{fam}, {isa}; numpy "
            f"{info.get('numpy')} BLAS: {info.get('numpy_blas')}; torch "
            f"{torch.__version__}: {info.get('torch_blas')}")


def bench_sklearn(args, results):
    """Training throughput and AIS test LL: ours vs BernoulliRBM at equal settings.

    Same data (float32), hidden units, batch size, learning rate, epochs and PCD-1; both
    scored with the same AIS code (sklearn's weights loaded into our torch RBM). The
    throughput is given per wall-clock second and per CPU second of the process (the
    latter is what to compare on a shared machine). With ``--repeat R`` the three fits
    are run R times, interleaved (sklearn, normal, centered, sklearn, ...), and the
    fastest CPU time of each model counts (load on a shared machine only slows a run
    down); the last fit of each model is scored.
    """
    from sklearn.neural_network import BernoulliRBM

    X_tr, X_te = binary_mnist(args.quick)
    n = args.n_train or (10000 if args.quick else len(X_tr))
    X_fit = X_tr[:n]
    hidden, batch, lr = args.hidden, args.batch_size or 10, args.learning_rate or 0.01
    epochs = args.epochs or (1 if args.quick else 5)
    betas = args.betas or (1000 if args.quick else 10000)
    repeat = max(1, args.repeat)

    def timed(fit):
        cpu = time.process_time()
        with Timer() as t:
            fit()
        return t.seconds, time.process_time() - cpu

    def make(kind):
        if kind == "sklearn":
            return BernoulliRBM(n_components=hidden, learning_rate=lr, batch_size=batch,
                                n_iter=epochs, random_state=args.seed)
        return RBM(hidden, method="pcd", centered=kind == "centered", learning_rate=lr,
                   batch_size=batch, max_epochs=epochs, device="cpu", random_state=args.seed)

    kinds = ("sklearn", "normal", "centered")
    times = {k: [] for k in kinds}
    fitted = {}
    for _ in range(repeat):
        for kind in kinds:
            model = make(kind)
            times[kind].append(timed(lambda: model.fit(X_fit)))  # noqa: B023
            fitted[kind] = model
    rows = []
    for kind in kinds:
        model = fitted[kind]
        wall, cpu = min(t[0] for t in times[kind]), min(t[1] for t in times[kind])
        if kind == "sklearn":
            m = _module_from_sklearn(model, X_fit)
            g = torch.Generator().manual_seed(0)
            est = partition.annealed_importance_sampling(m, betas=betas, generator=g)
            with torch.no_grad():
                ll = partition.log_likelihood(
                    m, torch.as_tensor(X_te, dtype=torch.float64), est.log_z)
            lz, ll = est.log_z, float(ll.mean())
            name = "sklearn BernoulliRBM"
        else:
            lz = model.log_partition("ais", n_betas=betas, random_state=0)
            ll = _ll(model, X_te, lz)
            name = f"skdeepclust RBM ({kind})"
        rows.append({"model": name, "wall s": wall, "CPU s": cpu,
                     "CPU s (all runs)": [t[1] for t in times[kind]],
                     "AIS log Z": lz, "AIS LL test": ll})
    for r in rows:
        r["samples/s"] = n * epochs / r["wall s"]
        r["samples/CPU-s"] = n * epochs / r["CPU s"]
        r["speed-up (CPU)"] = rows[0]["CPU s"] / r["CPU s"]
    print(f"\nTraining throughput on binary MNIST ({n} samples, {hidden} hidden, batch {batch}, "
          f"lr {lr}, {epochs} epoch(s), PCD-1, {X_fit.dtype}, {torch.get_num_threads()} "
          f"torch threads, best of {repeat}); test LL by AIS ({betas} betas, 100 chains)")
    print_table(rows, ["model", "samples/s", "samples/CPU-s", "speed-up (CPU)", "wall s",
                       "AIS log Z", "AIS LL test"])
    info = machine_info()
    print(machine_line(info))
    results["sklearn"] = rows
    results["sklearn_machine"] = info


def bench_grbm2d(args, results):
    """P7: GB-RBM (learned sigma), 2-4 hidden, on the whitened 2-D Laplace mixture."""
    from sklearn.decomposition import FastICA

    n = 20000 if args.quick else 100000
    epochs = args.epochs or (10 if args.quick else 50)
    X, A = make_laplace_mixture_2d(n, mean=1.0, scale=1.0, random_state=args.seed)
    zca = ZCA().fit(X)
    Xw = zca.transform(X)
    A_white = zca.whitening_.T @ A
    tr, te = Xw[: n // 2], Xw[n // 2:]
    rbm = RBM(4, visible="gaussian", learn_sigma=True, centered=False, init_sigma=1.0,
              method="cd", init_hidden_bias=-2.6, batch_size=1000, max_epochs=epochs,
              learning_rate={"weight": 1.0, "visible_bias": 0.0, "hidden_bias": 1.0,
                             "sigma": 0.1}, device="cpu", random_state=args.seed)
    with Timer() as t:
        rbm.fit(tr)
    exact = rbm.log_partition("exact")
    ll_tr, ll_te = rbm.score(tr), rbm.score(te)
    betas = 1000
    ais = rbm.log_partition("ais", n_betas=betas, random_state=0)
    rais = rbm.log_partition("reverse_ais", n_betas=betas, X=tr[:100], random_state=0)
    rbm.log_partition("exact")
    ica = FastICA(whiten=False, random_state=args.seed, max_iter=1000).fit(tr)
    Wu = ica.components_

    def ica_ll(Z):
        return float(np.mean(np.log(0.5 / np.cosh(Z @ Wu.T) ** 2).sum(1))
                     + np.log(abs(np.linalg.det(Wu))))

    W = rbm.components_.T
    amari = {p: amari_distance(A_white, W[:, list(p)])
             for p in itertools.combinations(range(4), 2)}
    rows = [
        {"model": "GB-RBM 2-4 (ours)", "fit s": t.seconds, "log Z": exact, "LL train": ll_tr,
         "LL test": ll_te, "AIS log Z": ais, "rAIS log Z": rais,
         "Amari (best pair)": min(amari.values()), "PyDeep LL test": -2.73620936613},
        {"model": "FastICA (sklearn, logcosh)", "LL train": ica_ll(tr), "LL test": ica_ll(te),
         "Amari (best pair)": amari_distance(A_white, np.linalg.inv(Wu)),
         "PyDeep LL test": -2.73579105422},
    ]
    print(f"\nGaussian-binary RBM (learned sigma) on the whitened 2-D Laplace mixture, {n} "
          f"points, 50/50 split, CD-1, batch 1000, {epochs} epochs (PyDeep P7)")
    print_table(rows, ["model", "fit s", "log Z", "LL train", "LL test", "PyDeep LL test",
                       "AIS log Z", "rAIS log Z", "Amari (best pair)"])
    print("sigma:", np.round(rbm.sigma_, 4), " hidden bias:", np.round(rbm.intercept_hidden_, 3))
    results["grbm2d"] = rows


def bench_big(args, results):
    """P6: 784-500 centered RBM (``--normal``: P6b, the normal one), PCD-1 (chains =
    batch), AIS test LL (+ reverse AIS).

    PyDeep's schedule is lr 0.01, batch 100, no momentum, 200 epochs (78 min). ``--epochs``,
    ``--learning-rate``, ``--momentum`` and ``--batch-size`` change it; ``--eval-every N``
    also records the AIS test LL (``--curve-betas`` temperatures) every N epochs (training
    then runs as one ``fit`` of N epochs followed by ``partial_fit`` calls; the reported
    fit time excludes the evaluations).
    """
    X_tr, X_te = binary_mnist(args.quick)
    epochs = args.epochs or (2 if args.quick else 200)
    lr = args.learning_rate or 0.01
    batch = args.batch_size or 100
    every = args.eval_every or epochs
    # --normal: PyDeep's P6b, a normal RBM built without data (visible biases 0)
    kind = "normal" if args.normal else "centered"
    rbm = RBM(500, method="pcd", init_weights=0.01, learning_rate=lr, momentum=args.momentum,
              centered=not args.normal, init_visible_bias=0.0 if args.normal else "auto",
              batch_size=batch, max_epochs=min(every, epochs), device="cpu",
              random_state=args.seed, verbose=args.verbose)
    curve, wall, cpu, done = [], 0.0, 0.0, 0
    while done < epochs:
        c0, t0 = time.process_time(), time.perf_counter()
        if done == 0:
            rbm.fit(X_tr)
            done = rbm.n_iter_
        else:
            for _ in range(min(every, epochs - done)):
                rbm.partial_fit(X_tr)
                done += 1
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if done < epochs:
            lz = rbm.log_partition("ais", n_betas=args.curve_betas, random_state=0)
            curve.append({"epoch": done, "fit wall s": wall, "fit CPU s": cpu,
                          "AIS LL test": _ll(rbm, X_te, lz)})
            print(curve[-1], flush=True)
    betas = args.betas or (1000 if args.quick else 10000)
    with Timer() as ta:
        ais = rbm.log_partition("ais", n_betas=betas, random_state=0)
    bounds = rbm.log_partition_bounds_
    rais = rbm.log_partition("reverse_ais", n_betas=betas, X=X_tr[:100], random_state=0)
    rows = [{"model": f"784-500 {kind} (ours)", "epochs": epochs, "lr": lr,
             "momentum": args.momentum, "batch": batch, "fit wall s": wall, "fit CPU s": cpu,
             "AIS log Z": ais, "AIS bounds": f"[{bounds[0]:.2f}, {bounds[1]:.2f}]",
             "AIS LL train": _ll(rbm, X_tr, ais), "AIS LL test": _ll(rbm, X_te, ais),
             "rAIS LL test": _ll(rbm, X_te, rais), "AIS s": ta.seconds,
             "PyDeep AIS LL test": -130.808849443 if args.normal else -84.8560508601}]
    if curve:
        curve.append({"epoch": epochs, "fit wall s": wall, "fit CPU s": cpu,
                      "AIS LL test": rows[0]["AIS LL test"]})
    print(f"\n784-500 binary RBM on binary MNIST, {kind}, PCD-1 (chains = batch), "
          f"{torch.get_num_threads()} torch threads; AIS / reverse AIS (from 100 training "
          f"images) with {betas} betas, 100 chains (PyDeep P6: lr 0.01, batch 100, 200 epochs)")
    print_table(rows, ["model", "epochs", "lr", "momentum", "batch", "fit wall s", "fit CPU s",
                       "AIS log Z", "AIS bounds", "AIS LL train", "AIS LL test",
                       "PyDeep AIS LL test", "rAIS LL test", "AIS s"])
    if curve:
        print(f"AIS test LL during training ({args.curve_betas} betas; last row: "
              f"{betas} betas)")
        print_table(curve, ["epoch", "fit wall s", "fit CPU s", "AIS LL test"])
    results["big"] = rows
    results["big_curve"] = curve


def _gaussian_sets(quick: bool):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_m, y_m = load_mnist(mnist_path(), subset="train")
    X_m, y_m = X_m[: 2000 if quick else 10000].astype(np.float64), y_m[: 2000 if quick else 10000]
    for name, data, labels, scale in [("digits/16", X, y, "div"), ("digits std", X, y, "std"),
                                      ("MNIST-10k/255", X_m, y_m, "div"),
                                      ("MNIST-10k std", X_m, y_m, "std")]:
        yield name, data, labels, scale, train_test_split, StandardScaler


def bench_gaussian(args, results):
    """Gaussian visible units at their defaults: no divergence, finite parameters, and the
    held-out accuracy of RBMClassifier(visible="gaussian") (75/25 stratified split)."""
    import warnings

    rows = []
    for name, X, y, scale, split, Scaler in _gaussian_sets(args.quick):
        if args.sets and not any(name.lower().startswith(k) for k in args.sets):
            continue
        for seed in args.seeds:
            tr, te, ytr, yte = split(X, y, test_size=0.25, random_state=seed, stratify=y)
            if scale == "std":
                sc = Scaler().fit(tr)
                tr, te = sc.transform(tr), sc.transform(te)
            else:
                div = 16.0 if X.shape[1] == 64 else 1.0  # load_mnist already divides by 255
                tr, te = tr / div, te / div
            epochs = args.epochs or (3 if args.quick else None)
            extra = {} if epochs is None else {"max_epochs": epochs}
            for est, kw in [("RBM", {}), ("RBM", {"learn_sigma": True}),
                            ("RBMClassifier", {}), ("RBMClassifier", {"learn_sigma": False})]:
                if est == "RBMClassifier" and name.startswith("MNIST") and not args.mnist_clf:
                    continue
                cls = RBM if est == "RBM" else RBMClassifier
                model = cls(visible="gaussian", device="cpu", random_state=seed, **kw, **extra)
                row = {"data": name, "seed": seed, "model": est,
                       "learn_sigma": kw.get("learn_sigma", "auto")}
                with Timer() as t, warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        model.fit(tr, ytr) if est != "RBM" else model.fit(tr)
                        row["error"] = ""
                    except Exception as err:  # noqa: BLE001 - recorded in the table
                        row["error"] = f"{type(err).__name__}: {str(err)[:120]}"
                row["fit s"] = t.seconds
                if not row["error"]:
                    params = [p.detach() for p in model.module_.parameters()]
                    row["finite"] = all(bool(torch.isfinite(p).all()) for p in params)
                    row["sigma/std min"] = float(np.min(
                        model.sigma_[model.module_.feature_scale.numpy() > 0]
                        / model.module_.feature_scale.numpy()[
                            model.module_.feature_scale.numpy() > 0]))
                    row["recon"] = float(model.loss_curve_[-1])
                    if est == "RBMClassifier":
                        row["test acc"] = float(model.score(te, yte))
                    else:
                        row["test recon"] = float(np.mean(model.reconstruction_error(te)))
                rows.append(row)
                print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
                      flush=True)
    print("\nGaussian visible units at their defaults (256 hidden, PCD, learning_rate='auto', "
          "50 epochs; learn_sigma='auto' is False in RBM, True in RBMClassifier)")
    print_table(rows, ["data", "seed", "model", "learn_sigma", "error", "finite",
                       "sigma/std min", "recon", "test recon", "test acc", "fit s"])
    results["gaussian"] = rows


def bench_tempering(args, results):
    """PT / IPT vs PCD: CPU seconds per epoch (784-256, batch 100, 10 temperatures,
    MNIST-10k binary, interleaved in one process) and the exact log-likelihood of the
    784-16 RBM trained by each (PyDeep's P5 setting, 60k training rows, 10 temperatures)."""
    X_tr, X_te = binary_mnist(args.quick)
    X10 = X_tr[:10000]
    temps = 10
    methods = [("pcd", {}), ("pt", {"method": "pt", "n_temperatures": temps}),
               ("ipt", {"method": "ipt", "n_temperatures": temps})]
    times = {name: [] for name, _ in methods}
    for name, kw in methods:  # compile the numba kernels, warm the caches
        RBM(256, max_epochs=1, device="cpu", random_state=0, **kw).fit(X10[:200])
    for _ in range(args.repeat):
        for name, kw in methods:
            with Timer() as t:
                RBM(256, max_epochs=2, device="cpu", random_state=0, **kw).fit(X10)
            times[name].append(t.cpu_seconds / 2)
    pcd = min(times["pcd"])
    rows = [{"method": n, "CPU s / epoch": min(v), "x PCD": min(v) / pcd} for n, v in times.items()]
    print(f"\nCPU seconds per epoch, 784-256 on binary MNIST-10k, batch 100, {temps} temperatures")
    print_table(rows, ["method", "CPU s / epoch", "x PCD"])
    results["tempering_time"] = rows
    epochs = args.epochs or (3 if args.quick else 20)
    ll = []
    for seed in args.seeds:
        for name, kw in methods:
            rbm = RBM(16, max_epochs=epochs, learning_rate=0.01, batch_size=100, device="cpu",
                      random_state=seed, **kw)
            with Timer() as t:
                rbm.fit(X_tr)
            lz = rbm.log_partition("exact")
            ll.append({"method": name, "seed": seed, "epochs": epochs, "fit s": t.seconds,
                       "LL train": _ll(rbm, X_tr, lz), "LL test": _ll(rbm, X_te, lz)})
            print(ll[-1], flush=True)
    print("\n784-16 RBM, exact log-likelihood (nats)")
    print_table(ll, ["method", "seed", "epochs", "fit s", "LL train", "LL test"])
    results["tempering_ll"] = ll


def _digits_split(seed: int):
    """Digits 75/25 stratified split in the encodings a user would try: binary (x/16 > 0.5),
    unit (x/16) and standardised (StandardScaler fitted on the training rows)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    tr, te, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    sc = StandardScaler().fit(tr)
    data = {"binary": ((tr / 16 > 0.5) * 1.0, (te / 16 > 0.5) * 1.0),
            "unit": (tr / 16, te / 16), "std": (sc.transform(tr), sc.transform(te))}
    return data, ytr, yte


def _exact_ll_bernoulli(rbm, X) -> float:
    from scipy.special import logsumexp

    W, b, c = rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_
    H = ((np.arange(2 ** W.shape[0])[:, None] >> np.arange(W.shape[0])) & 1).astype(float)
    log_z = logsumexp(H @ c + np.logaddexp(0, H @ W + b).sum(axis=1))
    return float(np.mean(X @ b + np.logaddexp(0, X @ W.T + c).sum(axis=1)) - log_z)


def bench_defaults(args, results):
    """The RBM family at its defaults next to what a scikit-learn user compares on digits:
    BernoulliRBM() + LogisticRegression vs RBMClassifier() (held-out accuracy), RBM()
    features + LogisticRegression, and the exact held-out log-likelihood of 16-unit
    RBMs (BernoulliRBM(16) vs RBM(16)); one row per model and seed."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import BernoulliRBM
    from sklearn.pipeline import make_pipeline

    def lr():
        return LogisticRegression(max_iter=2000)

    rows = []
    for seed in args.seeds:
        data, ytr, yte = _digits_split(seed)
        kw = dict(device="cpu", random_state=seed)
        runs = []
        for enc in ("binary", "unit"):
            prob = {} if enc == "binary" else {"allow_probabilities": True}
            runs += [
                (enc, "BernoulliRBM() + LR", "acc",
                 lambda: make_pipeline(BernoulliRBM(random_state=seed), lr())),
                (enc, f"RBMClassifier({'allow_probabilities' if prob else ''})", "acc",
                 lambda prob=prob: RBMClassifier(**kw, **prob)),
                (enc, f"RBM({'allow_probabilities' if prob else ''}) + LR", "acc",
                 lambda prob=prob: make_pipeline(RBM(**kw, **prob), lr())),
            ]
        for enc in ("unit", "std"):
            runs += [(enc, "RBMClassifier(gaussian)", "acc",
                      lambda: RBMClassifier(visible="gaussian", **kw)),
                     (enc, "RBMClassifier(gaussian, learn_sigma=False)", "acc",
                      lambda: RBMClassifier(visible="gaussian", learn_sigma=False, **kw)),
                     (enc, "RBM(gaussian) + LR", "acc",
                      lambda: make_pipeline(RBM(visible="gaussian", **kw), lr()))]
        runs += [("binary", "BernoulliRBM(16)", "ll", lambda: BernoulliRBM(16, random_state=seed)),
                 ("binary", "RBM(16)", "ll", lambda: RBM(16, **kw))]
        for enc, name, what, make in runs:
            (tr, te), model = data[enc], make()
            with Timer() as t, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(tr, ytr) if what == "acc" else model.fit(tr)
            row = {"data": enc, "model": name, "seed": seed, "fit s": t.seconds}
            if what == "acc":
                row["test acc"] = float(model.score(te, yte))
            elif isinstance(model, BernoulliRBM):
                row["test LL"] = _exact_ll_bernoulli(model, te)
            else:
                row["test LL"] = float(model.score(te))
            rows.append(row)
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
                  flush=True)
    summary = []
    def by_model(r):
        return r["data"], r["model"]

    for (enc, name), group in itertools.groupby(sorted(rows, key=by_model), key=by_model):
        group = list(group)
        key = "test acc" if "test acc" in group[0] else "test LL"
        v = np.array([r[key] for r in group])
        summary.append({"data": enc, "model": name, "metric": key, "mean": float(v.mean()),
                        "sd": float(v.std()), "worst": float(v.min()), "seeds": len(v),
                        "fit s": float(np.mean([r["fit s"] for r in group]))})
    print(f"\nDigits at the defaults, 75/25 split, seeds {args.seeds}")
    print_table(summary, ["data", "model", "metric", "mean", "sd", "worst", "seeds", "fit s"])
    results["defaults"] = rows
    results["defaults_summary"] = summary


def bench_visible_bias(args, results):
    """init_visible_bias on binary digits: the logits of the data means (PyDeep's "AUTO")
    against zero biases, RBM(16) centered and normal at the defaults (PCD, auto learning
    rate) after a short (10 epochs) and the default (50) budget; exact held-out LL."""
    import warnings

    rows = []
    budgets = [2, 5] if args.quick else [10, 50]
    for seed in args.seeds:
        data, _, _ = _digits_split(seed)
        tr, te = data["binary"]
        for centered, epochs, init in itertools.product((True, False), budgets,
                                                        ("data_mean", 0.0)):
            rbm = RBM(16, centered=centered, init_visible_bias=init, max_epochs=epochs,
                      device="cpu", random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rbm.fit(tr)
            rows.append({"centered": centered, "epochs": epochs,
                         "init_visible_bias": str(init), "seed": seed,
                         "test LL": float(rbm.score(te))})
    summary = []
    def key(r):
        return r["centered"], r["epochs"], r["init_visible_bias"]

    for k, group in itertools.groupby(sorted(rows, key=key), key=key):
        v = np.array([r["test LL"] for r in group])
        summary.append({"centered": k[0], "epochs": k[1], "init_visible_bias": k[2],
                        "mean": float(v.mean()), "sd": float(v.std()),
                        "worst": float(v.min()), "seeds": len(v)})
    print(f"\nRBM(16) on binary digits (75/25), exact test LL, seeds {args.seeds}")
    print_table(summary, ["centered", "epochs", "init_visible_bias", "mean", "sd", "worst",
                          "seeds"])
    results["visible_bias"] = rows
    results["visible_bias_summary"] = summary


def _tol_stop(loss, tol, n_iter_no_change, smooth=1):
    """The epoch at which the package's tol rule (on a moving average of ``smooth`` epochs)
    would stop a fit with this loss curve, or None."""
    curve = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
    best, stale = np.inf, 0
    for i, value in enumerate(curve):
        stale = stale + 1 if value > best - tol else 0
        best = min(best, value)
        if stale >= n_iter_no_change:
            return i + smooth
    return None


def bench_convergence(args, results):
    """Would a default tol be sound? Per-epoch traces (partial_fit, one epoch per call) of
    default fits: the reconstruction error that loss_curve_ records, and a held-out metric
    (RBMClassifier: accuracy; RBM(16): exact log-likelihood). For several tol rules, the
    epoch at which the rule would stop the fit and the metric there, against the metric
    after max_epochs=50 (the default budget)."""
    import warnings

    rules = [(1e-4, 10, 1), (1e-3, 10, 1), (1e-4, 10, 5), (1e-4, 5, 1)]
    epochs = args.epochs or (10 if args.quick else 50)
    rows = []
    for seed in args.seeds:
        data, ytr, yte = _digits_split(seed)
        kw = dict(device="cpu", random_state=seed)
        for name, enc, model in [
                ("RBMClassifier(gaussian)", "std", RBMClassifier(visible="gaussian", **kw)),
                ("RBMClassifier()", "binary", RBMClassifier(**kw)),
                ("RBM(16)", "binary", RBM(16, **kw))]:
            tr, te = data[enc]
            metric = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(epochs):
                    if isinstance(model, RBMClassifier):
                        model.partial_fit(tr, ytr, classes=np.arange(10))
                        metric.append(float(model.score(te, yte)))
                    else:
                        model.partial_fit(tr)
                        lz = model.log_partition("exact")
                        metric.append(float(np.mean(-model.free_energy(te) - lz)))
            loss = np.asarray(model.loss_curve_)
            half = loss[len(loss) // 2:]
            row = {"model": name, "data": enc, "seed": seed, "loss": loss.tolist(),
                   "metric": metric, "epoch noise": float(np.std(np.diff(half)) / np.mean(half)),
                   f"metric@{epochs}": metric[-1]}
            for tol, n, smooth in rules:
                stop = _tol_stop(loss, tol, n, smooth)
                label = f"tol={tol:g},n={n}" + (f",avg{smooth}" if smooth > 1 else "")
                row[label] = f"{stop}: {metric[stop - 1]:.3f}" if stop else "-"
            rows.append(row)
            print({k: v for k, v in row.items() if k not in ("loss", "metric")}, flush=True)
    cols = ["model", "data", "seed", "epoch noise", f"metric@{epochs}"] + [
        f"tol={t:g},n={n}" + (f",avg{s}" if s > 1 else "") for t, n, s in rules]
    print(f"\nEpoch at which a tol rule on the reconstruction error would stop, and the held-out "
          f"metric there (accuracy, or exact LL for RBM(16)); '-': runs all {epochs} epochs")
    print_table(rows, cols)
    results["convergence"] = rows


BENCHES = {"small": bench_small, "sklearn": bench_sklearn, "grbm2d": bench_grbm2d,
           "big": bench_big, "gaussian": bench_gaussian, "tempering": bench_tempering,
           "defaults": bench_defaults, "convergence": bench_convergence,
           "visible_bias": bench_visible_bias}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench", nargs="+", choices=sorted(BENCHES))
    p.add_argument("--quick", action="store_true", help="small smoke-test runs")
    p.add_argument("--epochs", type=int, default=None, help="override the epochs")
    p.add_argument("--normal", action="store_true",
                   help="small: also the normal RBM; big: the normal RBM (PyDeep's P6b)")
    p.add_argument("--flipped", action="store_true", help="small: also flipped MNIST (1 - x)")
    p.add_argument("--flipped-only", action="store_true",
                   help="small: flipped MNIST only (PyDeep's P5c / P5d)")
    p.add_argument("--hidden", type=int, default=500, help="sklearn: hidden units")
    p.add_argument("--batch-size", type=int, default=None,
                   help="sklearn (default 10) and big (default 100): batch size")
    p.add_argument("--n-train", type=int, default=None, help="sklearn: training rows")
    p.add_argument("--betas", type=int, default=None,
                   help="sklearn and big: AIS temperatures (default 10000)")
    p.add_argument("--learning-rate", type=float, default=None,
                   help="sklearn and big: learning rate (default 0.01)")
    p.add_argument("--momentum", type=float, default=0.0, help="big: momentum")
    p.add_argument("--eval-every", type=int, default=None,
                   help="big: AIS test LL every N epochs (learning curve)")
    p.add_argument("--curve-betas", type=int, default=2000,
                   help="big: AIS temperatures of the learning-curve points")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--repeat", type=int, default=1,
                   help="sklearn: interleaved repetitions of the fits (best CPU time counts)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="gaussian, tempering, defaults and convergence: seeds")
    p.add_argument("--sets", nargs="+", default=None,
                   help="gaussian: only the data sets starting with these (digits, mnist)")
    p.add_argument("--mnist-clf", action="store_true",
                   help="gaussian: also RBMClassifier on MNIST-10k")
    p.add_argument("--verbose", type=int, default=0)
    p.add_argument("--json")
    args = p.parse_args(argv)
    results = {}
    with contextlib.ExitStack() as stack:
        if args.threads:  # torch and the BLAS behind numpy/scikit-learn alike
            torch.set_num_threads(args.threads)
            stack.enter_context(threadpool_limits(args.threads))
        for name in args.bench:
            BENCHES[name](args, results)
    payload = {"args": vars(args), "results": results}
    if "sklearn_machine" in results:  # the CPU and BLAS in the file's machine record
        payload["machine"] = {"python": platform.python_version(), "torch": torch.__version__,
                              "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                              **results.pop("sklearn_machine")}
    save_json(args.json, payload)


if __name__ == "__main__":
    main()
