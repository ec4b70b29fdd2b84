"""Study: why ``NormalizingFlow()`` at its defaults trails the best GaussianMixture.

Measures held-out log-likelihood (nats per sample) of ``NormalizingFlow`` recipes on the
data sets and splits of the density panel (``_defaults_density.py``), so the figures are
comparable with ``benchmarks/results/defaults_density.json``. A recipe is the default
estimator plus overrides of its resolved "auto" values and of a few training knobs that
the estimator does not expose (set here by a subclass, never by editing the package):

- any ``NormalizingFlow`` parameter (``n_stages``, ``hidden_layer_sizes``,
  ``batch_size``, ``learning_rate``, ``max_epochs``, ``n_iter_no_change``,
  ``validation_fraction``, ``weight_decay``, ``coupling``, ``lr_schedule``...);
- ``noise``: Gaussian noise added to every training minibatch (never to the validation
  rows), standard deviation ``noise`` times each feature's training standard deviation;
  ``noise_rule="scott"`` multiplies it by Scott's factor ``n ** (-1 / (d + 4))``,
  ``noise_rule="kde"`` by the bandwidth of a Gaussian KDE of the standardized training
  rows chosen by 3-fold cross-validation (``kde_bandwidth``), and
  ``noise_max_d`` switches it off above that many features;
- ``n_bins``: bins of the spline couplings (package default 8).

Commands (each fit runs on one torch thread; results are appended as JSON lines)::

    # per-epoch training / validation / test log-likelihood of a recipe
    python benchmarks/study_flow_defaults.py curves --datasets moons circles spiral \\
        --seeds 0 --recipes default --out benchmarks/results/study_flow_curves.jsonl
    # held-out scores of recipes, several seeds
    python benchmarks/study_flow_defaults.py recipes --datasets moons circles \\
        --seeds 0 1 --recipes default noise_0.3 --out benchmarks/results/study_flow.jsonl
    # log-likelihood of the true density on the test rows of the 2-D toys (a ceiling)
    python benchmarks/study_flow_defaults.py truth --seeds 0 1 2 3 4
    # summary table of a JSON lines file (mean, sd, worst seed per data set and recipe)
    python benchmarks/study_flow_defaults.py summary --out benchmarks/results/study_flow.jsonl

``--recipes`` takes names from ``RECIPES`` (``--list`` prints them).

The runs behind the committed results (one process at a time, ``OMP_NUM_THREADS=1``)::

    python benchmarks/study_flow_defaults.py curves --datasets moons circles spiral \
        --recipes default nostop all_rows --out benchmarks/results/study_flow_curves.jsonl
    python benchmarks/study_flow_defaults.py recipes --datasets wine moons circles spiral \
        --recipes scott_0.05 scott_0.1 scott_0.2 --out benchmarks/results/study_flow_recipes.jsonl
    # (and single-seed circles / wine sweeps of stopping, lr, bins, stages, noise: same file)
    for s in 0 1 2 3 4; do python benchmarks/study_flow_defaults.py recipes --seeds $s \
        --datasets spiral correlated8 laplace wine moons circles --recipes kde_0.5 \
        --out benchmarks/results/study_flow_panel.jsonl; done
    python benchmarks/study_flow_defaults.py recipes --seeds 0 1 2 3 4 \
        --datasets moons circles spiral laplace correlated8 --recipes kde_0.5_all_rows \
        --out benchmarks/results/study_flow_2d.jsonl

The proposed default (``noise="auto"``, see the patch in the report) is ``kde_0.5`` below
2000 rows and ``kde_0.5_all_rows`` from 2000 rows in up to 16 features; the 2-D file
names that recipe by its keys (``noise=0.5,noise_rule=kde,...,early_stopping=false``).
Breast cancer and digits (more than 16 features) are unchanged by it.

Second study (issue 18, at the shipped ``noise="auto"`` default): why the flow still
trails the best GaussianMixture on the 2-D toys. ``average`` fits the package's own
``NormalizingFlow`` (no re-implemented training loop) with a recipe's overrides, and
also scores exponential moving averages and uniform (SWA) averages of the weights kept
on the side (``AveragingFlow``); ``diagnose`` splits the loss against the true density
into core / flank / tail rows and measures the mass the flow leaks off the data::

    # one recipe per process, three processes at a time, OMP_NUM_THREADS=1
    python benchmarks/study_flow_defaults.py average --datasets circles --seeds 0 \
        --recipes default "activation=tanh,batch_size=512" "noise_factor=0.25" \
        --out benchmarks/results/study_flow_average.jsonl
    python benchmarks/study_flow_defaults.py summary_average \
        --out benchmarks/results/study_flow_average.jsonl
    python benchmarks/study_flow_defaults.py diagnose --datasets moons circles spiral \
        --seeds 0 --recipes default --out benchmarks/results/study_flow_diagnose.jsonl

Third study (issue 18): a Gaussian-mixture base (``base="mixture"``). ``base`` fits the
package's ``NormalizingFlow`` with a recipe and records the test score of the untrained
flow with its fitted base (what the mixture alone scores) next to the trained one;
``summary_base`` tabulates them against the panel's best GaussianMixture::

    python benchmarks/study_flow_defaults.py base --datasets moons circles --seeds 0 \
        --recipes early_stopping=true,noise=0 early_stopping=true,learning_rate=0.001 \
        early_stopping=true,n_stages=2 --out benchmarks/results/study_flow_base.jsonl
    python benchmarks/study_flow_defaults.py summary_base \
        --out benchmarks/results/study_flow_base.jsonl

``study_flow_base.jsonl`` rows 1-9 come from the first version of the base (one
GaussianMixture, selected on the flow's validation split or on a 20% split of the
training rows; early stopping still off from 2000 rows), rows 10-13 from the average of
5 EM fits of the selected structure; later rows name their grid (``base_grid``). The
shipped version (3-fold cross-validation of the structure, average of 10 EM fits, early
stopping on with a mixture base) is measured by the panel itself::

    OMP_NUM_THREADS=1 python benchmarks/bench_defaults.py --section density \
        --models "NormalizingFlow()" "best GaussianMixture" \
        --datasets wine moons circles spiral \
        --out benchmarks/results/defaults_density_flow_mixture_base.json

Fourth study (issue 18, at ``base="auto"``): which part loses on the seeds where the
flow trails the best GaussianMixture. ``base ... --recipes max_epochs=0`` scores the
mixture base alone (the untrained flow; ``early_stopping=false``: refitted on all rows),
``choice`` fits the package's ``NormalizingFlow`` recording per epoch the validation and
test scores of the weights and of EMAs of them, the per-row gain's spread, and the
untrained model's scores; ``summary_choice`` replays selection rules on those curves
(the best validation epoch, with margins in nats or in standard errors of the gain, EMA);
``base_reg`` scores the base's ``reg_covar`` choices (CV with ``--folds`` folds and
``--members`` averaged EM fits, the validation split, the all-rows refit on test)::

    python benchmarks/study_flow_defaults.py base --datasets moons circles spiral \
        --seeds 0 1 2 3 4 --recipes max_epochs=0 max_epochs=0,early_stopping=false \
        --out benchmarks/results/study_flow_choice_base.jsonl
    python benchmarks/study_flow_defaults.py base --datasets spiral --seeds 0 1 2 3 4 \
        --recipes "max_epochs=0,early_stopping=false,base_reg=[1e-6]" \
        "max_epochs=0,early_stopping=false,base_folds=5" \
        --out benchmarks/results/study_flow_choice_base.jsonl
    python benchmarks/study_flow_defaults.py choice --datasets moons --seeds 2 3 \
        --out benchmarks/results/study_flow_choice.jsonl   # (and circles 1, wine 4)
    python benchmarks/study_flow_defaults.py summary_choice \
        --out benchmarks/results/study_flow_choice.jsonl
    python benchmarks/study_flow_defaults.py base_reg --datasets spiral circles --seeds 1 \
        --out benchmarks/results/study_flow_base_reg.jsonl

(``study_flow_choice_base.jsonl`` also holds moons rows and spiral seeds 0-2 of
``base_components=[1,...,256]``: 3-fold CV never picks more than 64 components; the
``choice`` rows were fitted with the shipped rule, a trained epoch kept only beyond 2
standard errors of the gain, so their ``test`` is the new default's and the replayed
``val`` rule the previous one; wine seeds 1 and 3 were added after the panel.) The
panel at that rule (correlated 8-D is unchanged: a standard normal base without early
stopping; its seeds 0-1 reproduce ``defaults_density_flow_noise_tab.json`` exactly)::

    OMP_NUM_THREADS=1 python benchmarks/bench_defaults.py --section density \
        --models "NormalizingFlow()" "best GaussianMixture" --datasets moons circles spiral \
        --out benchmarks/results/defaults_density_flow_start_margin_2d.json
    OMP_NUM_THREADS=1 python benchmarks/bench_defaults.py --section density \
        --models "NormalizingFlow()" "best GaussianMixture" --datasets wine laplace \
        --out benchmarks/results/defaults_density_flow_start_margin_tab.json

Fifth study (issue 18): which rule would pick the base's ``reg_covar`` that scores best
on test. ``base_reg_rules`` fits the untrained default flow and, at the structure the
shipped 3-fold CV chose, scores each ``reg_covar`` in ``REG_GRID`` by the shipped CV
(fits of 2/3 of the training split), by 3 folds of a 10-fold partition (fits of 90%),
by the validation split (the 10 members fitted to the training split, cold or
warm-started down the grid) and, as the truth, the 10 members refitted to all rows on
test; ``summary_base_reg_rules`` tabulates the test score of each rule's pick. The
panel's spiral wants 1e-4 on every seed and circles 1e-3 on every seed, while every
cheap rule picks a smaller value on circles too (see ``study_flow_base_refine.py``)::

    python benchmarks/study_flow_defaults.py base_reg_rules \
        --datasets spiral wine moons circles laplace --seeds 0 1 2 3 4 \
        --out benchmarks/results/study_flow_base_reg_rules.jsonl
    python benchmarks/study_flow_defaults.py summary_base_reg_rules \
        --out benchmarks/results/study_flow_base_reg_rules.jsonl

Recipes run (``study_flow_average.jsonl``; circles seed 0 unless named): default (also
moons, spiral), ``lr_schedule=constant,learning_rate=0.001``,
``hidden_layer_sizes=[32,32]``, ``optimizer=adamw,weight_decay=0.1`` and ``=1.0``,
``noise_factor=0.25`` and ``0.75``, ``activation=tanh``, ``activation=silu``,
``batch_size=512`` (also moons, spiral), ``activation=tanh,batch_size=512`` (also moons,
spiral), ``activation=tanh,batch_size=1024``, ``activation=tanh,n_bins=16``,
``n_stages=6``, ``epochs_factor=1.6``, ``activation=silu,batch_size=512`` (spiral),
``coupling=affine``, ``learning_rate=0.001``, ``learning_rate=0.01`` (also moons and
spiral seed 0, circles seed 1), and the default with ``random_state=1`` (circles,
spiral) and ``random_state=2`` (circles) on the seed-0 data (initialisation spread).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_jsonl
from _defaults_density import DATASETS

from skdeepclust._training import TrainingResult, train_loop
from skdeepclust.flow import NormalizingFlow
from skdeepclust.nn import flows as nn_flows

# ----------------------------------------------------------------------------- recipes
# Keys outside NormalizingFlow's parameters: noise, noise_rule, noise_max_d, n_bins.
RECIPES: dict[str, dict] = {
    "default": {},
    # optimisation / early stopping
    "nostop": {"tol": None},
    "all_rows": {"early_stopping": False, "tol": None},
    "patience60": {"n_iter_no_change": 60},
    "epochs2x": {"max_epochs": "x2"},
    "val20": {"validation_fraction": 0.2},
    "lr1e-3": {"learning_rate": 1e-3},
    "bs64": {"batch_size": 64},
    # capacity
    "bins16": {"n_bins": 16},
    "stages2": {"n_stages": 2},
    "stages8": {"n_stages": 8},
    "hidden32": {"hidden_layer_sizes": (32, 32)},
    "hidden128": {"hidden_layer_sizes": (128, 128)},
    "affine": {"coupling": "affine"},
    # noise (relative to each feature's sd)
    "noise_0.02": {"noise": 0.02},
    "noise_0.05": {"noise": 0.05},
    "noise_0.1": {"noise": 0.1},
    "kde_0.7": {"noise": 0.7, "noise_rule": "kde", "noise_max_d": 16},
    "kde_0.5": {"noise": 0.5, "noise_rule": "kde", "noise_max_d": 16},
    "kde_0.5_all_rows": {"noise": 0.5, "noise_rule": "kde", "noise_max_d": 16,
                         "early_stopping": False},
    "scott_0.05": {"noise": 0.05, "noise_rule": "scott"},
    "scott_0.1": {"noise": 0.1, "noise_rule": "scott"},
    "scott_0.2": {"noise": 0.2, "noise_rule": "scott"},
    "scott_0.3": {"noise": 0.3, "noise_rule": "scott"},
    "scott_0.5": {"noise": 0.5, "noise_rule": "scott"},
}


def _parse_recipe(name: str) -> dict:
    """A name from RECIPES, or ``key=value,key=value`` (values parsed as JSON)."""
    if name in RECIPES:
        return dict(RECIPES[name])
    out = {}
    for item in re.split(r",(?![^\[]*\])", name):  # commas inside [...] stay
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def kde_bandwidth(X: np.ndarray, rng: np.random.RandomState, max_rows: int = 2000) -> float:
    """Gaussian KDE bandwidth of the standardized rows by 3-fold CV (a subsample).

    12 values log-spaced from 0.03 to 3 times Scott's factor ``n ** (-1 / (d + 4))``.
    """
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KernelDensity

    Z = (X - X.mean(0)) / np.maximum(X.std(0), 1e-12)
    if len(Z) > max_rows:
        Z = Z[rng.choice(len(Z), max_rows, replace=False)]
    scott = len(Z) ** (-1.0 / (Z.shape[1] + 4))
    grid = scott * np.logspace(-1.5, 0.5, 12)
    search = GridSearchCV(KernelDensity(), {"bandwidth": grid}, cv=3).fit(Z)
    return float(search.best_params_["bandwidth"])


class StudyFlow(NormalizingFlow):
    """NormalizingFlow with the study's extra knobs and per-epoch curves.

    ``fit`` repeats ``NormalizingFlow.fit`` (same split, ActNorm init, schedule,
    stopping rule and kept epoch) with minibatch noise and optional per-epoch records.
    """

    def __init__(self, *, extra=None, record=None, **params):
        super().__init__(**params)
        self.extra = extra
        self.record = record

    def _resolve_auto(self, n_samples, n_features):
        super()._resolve_auto(n_samples, n_features)
        extra = self.extra or {}
        if extra.get("max_epochs_factor"):
            self._max_epochs = int(self._max_epochs * extra["max_epochs_factor"])

    def _make_flow(self, n_features):
        n_bins = (self.extra or {}).get("n_bins")
        if n_bins is None:
            return super()._make_flow(n_features)
        saved = nn_flows.COUPLINGS["spline"]
        nn_flows.COUPLINGS["spline"] = lambda w, h, **kw: saved(w, h, n_bins=n_bins, **kw)
        try:
            return super()._make_flow(n_features)
        finally:
            nn_flows.COUPLINGS["spline"] = saved

    def fit(self, X, y=None):
        self._validate_params()
        if hasattr(self, "_fit_template"):  # the template-method base (issue 21)
            X, _ = self._validate_fit_input(X, None, reset=True)
            self._start_fit(X)
            self._history = TrainingResult()
            self._build(X)
            rng, generator = self._rng, self._generator
        else:  # the base of the study's runs (commit 1066a7a)
            X = self._validate_fit_data(X)
            rng = np.random.RandomState(self.random_state)
            generator = self._initialize(X, rng)
        X_all = self._to_tensor(X)
        X_t, X_val = X_all, None
        early = self._early_stopping
        if early:
            n_val = self._validation_rows(X.shape[0])
            perm = torch.randperm(X.shape[0], generator=generator, device=generator.device)
            X_val, X_t = X_all[perm[:n_val]], X_all[perm[n_val:]]
        self._data_init(X_t, generator)
        module, optimizer = self.module_, self._optimizer
        extra = self.extra or {}
        n, d = X_t.shape
        sd = 0.0
        self.kde_bandwidth_ = None
        if extra.get("noise") and d <= extra.get("noise_max_d", 10**9):
            sd = float(extra["noise"])
            if extra.get("noise_rule") == "scott":
                sd *= n ** (-1.0 / (d + 4))
            elif extra.get("noise_rule") == "kde":
                self.kde_bandwidth_ = kde_bandwidth(X_t.numpy(), rng)
                sd *= self.kde_bandwidth_
        self.noise_sd_ = sd
        scale = X_t.std(0) * sd
        noise_gen = torch.Generator().manual_seed(int(rng.randint(2**31)))

        def step(idx):
            xb = X_t[idx]
            if sd > 0:
                xb = xb + scale * torch.randn(xb.shape, generator=noise_gen, dtype=xb.dtype)
            return -module.log_prob(xb).mean()

        self.validation_scores_ = [] if early else None
        self.best_validation_score_ = None
        self.curve_ = []
        tol = self.tol
        n_epochs = max(self._max_epochs, 1)
        state = {"best": -math.inf, "best_params": None, "misses": 0, "best_epoch": 0}
        record = self.record

        def on_epoch_end(epoch, loss):
            if early:
                module.eval()
                with torch.no_grad():
                    score = float(module.log_prob(X_val).mean())
                module.train()
                self.validation_scores_.append(score)
            else:
                score = -loss
            if record is not None:
                module.eval()
                with torch.no_grad():
                    tr = float(module.log_prob(X_t[:4000]).mean())
                    te = float(module.log_prob(record).mean())
                module.train()
                self.curve_.append({"epoch": epoch + 1, "train": tr,
                                    "val": score if early else None, "test": te,
                                    "lr": optimizer.param_groups[0]["lr"]})
            best = state["best"]
            improved = score > best + (tol or 0.0)
            state["misses"] = 0 if improved else state["misses"] + 1
            if self.lr_schedule == "cosine" and 2 * (epoch + 1) <= n_epochs:
                state["misses"] = 0
            if score > best:
                state["best"], state["best_epoch"] = score, epoch + 1
                if early:
                    self.best_validation_score_ = score
                    state["best_params"] = copy.deepcopy(module.state_dict())
            if self.lr_schedule == "cosine":
                rate = 0.5 * self._learning_rate * (1 + math.cos(math.pi * (epoch + 1) / n_epochs))
                for group in optimizer.param_groups:
                    group["lr"] = rate
            return tol is not None and state["misses"] >= self.n_iter_no_change

        module.train()
        history = train_loop(
            step, n_samples=n, batch_size=self._batch_size, max_epochs=self._max_epochs,
            generator=generator, optimizer=optimizer, tol=None,
            result=getattr(self, "_history", None),
            max_grad_norm=self.max_grad_norm, on_epoch_end=on_epoch_end,
        )
        if state["best_params"] is not None:
            module.load_state_dict(state["best_params"])
        self._store_history(history)
        self.best_epoch_ = state["best_epoch"]
        module.eval()
        return self


def make_flow(recipe: dict, seed: int, record=None) -> NormalizingFlow:
    extra_keys = {"noise", "noise_rule", "noise_max_d", "n_bins"}
    params = {k: v for k, v in recipe.items() if k not in extra_keys}
    extra = {k: v for k, v in recipe.items() if k in extra_keys}
    if params.get("max_epochs") == "x2":
        params.pop("max_epochs")
        extra["max_epochs_factor"] = 2
    if "hidden_layer_sizes" in params:
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return StudyFlow(extra=extra, record=record, random_state=seed, device="cpu", **params)


def run_one(name: str, seed: int, recipe_name: str, curves: bool) -> dict:
    X_tr, X_te = DATASETS[name](seed)
    X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
    recipe = _parse_recipe(recipe_name)
    record = torch.as_tensor(X_te) if curves else None
    model = make_flow(recipe, seed, record=record)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X_tr)
    fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    with torch.no_grad():
        train_ll = float(model.score(X_tr))
    out = {
        "data": name, "seed": seed, "recipe": recipe_name, "test": float(model.score(X_te)),
        "train_all": train_ll, "best_val": model.best_validation_score_,
        "epochs": model.n_iter_, "best_epoch": model.best_epoch_,
        "max_epochs": model._max_epochs, "fit_s": fit_s, "cpu_s": cpu_s,
        "noise_sd": model.noise_sd_, "kde_bandwidth": model.kde_bandwidth_,
        "setting": f"{model._coupling} x{model._n_stages} {model._hidden_layer_sizes} "
                   f"bs={model._batch_size} lr={model._learning_rate:g}",
    }
    if curves:
        out["curve"] = model.curve_
    return out


# ----------------------------------------------------------------------------- averaging
# Keys of an "average" recipe outside NormalizingFlow's parameters (the package's own fit
# runs; a subclass only adds what it does not expose):
# noise_factor: "auto" noise at this multiple of the CV KDE bandwidth (package: 0.5);
# n_bins: bins of the spline couplings; epochs_factor: times the "auto" max_epochs.
AVG_EXTRA = {"noise_factor", "n_bins", "epochs_factor", "ema", "swa"}
EMA_DECAYS = (0.99, 0.995, 0.998, 0.999)
SWA_FRACTIONS = (0.1, 0.25, 0.5)


class AveragingFlow(NormalizingFlow):
    """The package's ``NormalizingFlow`` fit, recording weight averages on the side.

    An optimizer post-step hook keeps exponential moving averages of the parameters
    (``EMA_DECAYS``, with the usual warm-up ``min(decay, (1 + t) / (10 + t))``) and
    uniform averages of every step's parameters over the last ``SWA_FRACTIONS`` of the
    planned steps; ``averages_`` maps each name to its parameter list. The fitted model
    itself is the package's (the last epoch's parameters, or early stopping's best).
    """

    def __init__(self, *, study=None, **params):
        super().__init__(**params)
        self.study = study

    def _resolve_auto(self, n_samples, n_features):
        super()._resolve_auto(n_samples, n_features)
        factor = (self.study or {}).get("epochs_factor")
        if factor and self.max_epochs == "auto":
            self._max_epochs = round(self._max_epochs * factor)

    def _resolve_noise(self, X_t):
        factor = (self.study or {}).get("noise_factor")
        if factor is None or self.noise != "auto":
            return super()._resolve_noise(X_t)
        from skdeepclust.flow import _normalizing as nf

        saved = nf._NF_NOISE_FACTOR
        nf._NF_NOISE_FACTOR = float(factor)
        try:
            return super()._resolve_noise(X_t)
        finally:
            nf._NF_NOISE_FACTOR = saved

    def _make_flow(self, n_features):
        n_bins = (self.study or {}).get("n_bins")
        if n_bins is None:
            return super()._make_flow(n_features)
        saved = nn_flows.COUPLINGS["spline"]
        nn_flows.COUPLINGS["spline"] = lambda w, h, **kw: saved(w, h, n_bins=n_bins, **kw)
        try:
            return super()._make_flow(n_features)
        finally:
            nn_flows.COUPLINGS["spline"] = saved

    def _make_optimizer(self):
        optimizer = super()._make_optimizer()
        params = list(self.module_.parameters())
        study = self.study or {}
        decays = tuple(study.get("ema", EMA_DECAYS))
        fractions = tuple(study.get("swa", SWA_FRACTIONS))
        self.averages_ = {}
        counts = {}
        state = {"t": 0}

        def post_hook(opt, args, kwargs):
            if not self.averages_:  # first step: ActNorm's data init is done by now
                for d in decays:
                    self.averages_[f"ema{d}"] = [p.detach().clone() for p in params]
            t = state["t"] = state["t"] + 1
            total = self._planned_steps
            with torch.no_grad():
                for d in decays:
                    rate = 1 - min(d, (1 + t) / (10 + t))
                    torch._foreach_lerp_(self.averages_[f"ema{d}"], [p.detach() for p in params],
                                         rate)
                for f in fractions:
                    if t > total * (1 - f):
                        key = f"swa{f}"
                        if key not in self.averages_:
                            self.averages_[key] = [p.detach().clone() for p in params]
                            counts[key] = 1
                        else:
                            counts[key] += 1
                            torch._foreach_lerp_(self.averages_[key],
                                                 [p.detach() for p in params],
                                                 1.0 / counts[key])

        optimizer.register_step_post_hook(post_hook)
        return optimizer

    @property
    def _planned_steps(self):
        n = self._n_fit_rows
        return self._max_epochs * math.ceil(n / min(self._batch_size, n))

    def fit(self, X, y=None):
        n_val = self._validation_rows(len(X))
        self._resolve_auto(len(X), X.shape[1])
        self._n_fit_rows = len(X) - n_val if self._early_stopping else len(X)
        return super().fit(X)

    def score_averages(self, X) -> dict:
        """Mean log-likelihood of ``X`` under each weight average (and the fit itself)."""
        out = {"final": float(self.score(X))}
        params = list(self.module_.parameters())
        saved = [p.detach().clone() for p in params]
        for name, avg in self.averages_.items():
            with torch.no_grad():
                for p, a in zip(params, avg):
                    p.copy_(a)
            out[name] = float(self.score(X))
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
        return out


def _gmm_reference() -> dict:
    """Per data set and seed, the best GaussianMixture's test LL of the committed panel."""
    path = Path(__file__).resolve().parent / "results" / "defaults_density.json"
    try:
        results = json.loads(path.read_text())["results"]
    except OSError:
        return {}
    return {(name, r["seed"]): r["test"] for name, per in results.items()
            for r in per.get("best GaussianMixture", [])}


def run_average(name: str, seed: int, recipe_name: str) -> dict:
    X_tr, X_te = DATASETS[name](seed)
    X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
    recipe = _parse_recipe(recipe_name)
    params = {k: v for k, v in recipe.items() if k not in AVG_EXTRA}
    study = {k: v for k, v in recipe.items() if k in AVG_EXTRA}
    if "hidden_layer_sizes" in params:
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    model = AveragingFlow(study=study, **{"random_state": seed, "device": "cpu", **params})
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X_tr)
    fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    tests = model.score_averages(X_te)
    return {
        "data": name, "seed": seed, "recipe": recipe_name, "test": tests["final"],
        "tests": tests, "train": float(model.score(X_tr)),
        "gmm": _gmm_reference().get((name, seed)), "epochs": model.n_iter_,
        "max_epochs": model._max_epochs, "fit_s": fit_s, "cpu_s": cpu_s,
        "noise": model._noise,
        "setting": f"{model._coupling} x{model._n_stages} {model._hidden_layer_sizes} "
                   f"bs={model._batch_size} lr={model._learning_rate:g}",
    }


def summary_average(path: str) -> None:
    """Per data set, recipe and weight average: mean ± sd, worst, seeds >= best GMM."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["data"], r["recipe"]), []).append(r)
    print("| data | recipe | weights | test LL mean ± sd | worst | >= GMM | minus GMM "
          "| CPU s mean/max |")
    print("|---|---|---|---|---|---|---|---|")
    for (data, recipe), rs in sorted(groups.items()):
        seeds = sorted({r["seed"] for r in rs})
        rs = [next(r for r in rs if r["seed"] == s) for s in seeds]
        gmm = np.array([r["gmm"] if r["gmm"] is not None else np.nan for r in rs])
        for key in rs[0]["tests"]:
            t = np.array([r["tests"][key] for r in rs])
            print(f"| {data} | {recipe} | {key} | {t.mean():.4f} ± {t.std():.4f} | "
                  f"{t.min():.4f} | {int(np.sum(t >= gmm))}/{len(t)} | "
                  f"{np.nanmean(t - gmm):+.4f} | "
                  f"{np.mean([r['cpu_s'] for r in rs]):.1f}/"
                  f"{np.max([r['cpu_s'] for r in rs]):.1f} |")


# ----------------------------------------------------------------------------- base
#: Recipe keys that override the mixture base's candidate grid (module constants).
BASE_EXTRA = {"base_covariances": "_NF_BASE_COVARIANCES",
              "base_components": "_NF_BASE_COMPONENTS", "base_reg": "_NF_BASE_REG_COVAR",
              "base_members": "_NF_BASE_MEMBERS", "base_folds": "_NF_BASE_FOLDS"}


class BaseStudyFlow(NormalizingFlow):
    """The package's NormalizingFlow, recording the test score of the untrained flow with
    its fitted base (``init_test_``: with a mixture base, what the mixture alone scores)."""

    def __init__(self, *, record=None, **params):
        super().__init__(**params)
        self.record = record

    def _init_base(self, X_t, *args, **kwargs):
        super()._init_base(X_t, *args, **kwargs)
        self.init_test_ = None
        if self.record is not None:
            with torch.no_grad():
                self.init_test_ = float(self.module_.log_prob(self.record).mean())


def run_base(name: str, seed: int, recipe_name: str) -> dict:
    """Fit ``NormalizingFlow(random_state=seed, **recipe)`` (the package's own fit) and
    record its test score, the untrained flow's (mixture base alone) and the fit's CPU
    time. Keys of ``BASE_EXTRA`` patch the base's candidate grid for this fit."""
    from skdeepclust.flow import _normalizing

    X_tr, X_te = DATASETS[name](seed)
    X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
    recipe = _parse_recipe(recipe_name)
    params = {k: v for k, v in recipe.items() if k not in BASE_EXTRA}
    if "hidden_layer_sizes" in params:
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    saved = {c: getattr(_normalizing, c) for c in BASE_EXTRA.values()}
    for key, const in BASE_EXTRA.items():
        if key in recipe:
            value = recipe[key]
            setattr(_normalizing, const, tuple(value) if isinstance(value, list) else value)
    model = BaseStudyFlow(record=torch.as_tensor(X_te),
                          **{"random_state": seed, "device": "cpu", **params})
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(X_tr)
        fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        grid = {key: getattr(_normalizing, const) for key, const in BASE_EXTRA.items()}
    finally:
        for const, value in saved.items():
            setattr(_normalizing, const, value)
    base = model.module_.base
    return {
        "data": name, "seed": seed, "recipe": recipe_name, "test": float(model.score(X_te)),
        "init_test": model.init_test_, "train": float(model.score(X_tr)),
        "gmm": _gmm_reference().get((name, seed)), "best_val": model.best_validation_score_,
        "epochs": model.n_iter_, "max_epochs": model._max_epochs, "fit_s": fit_s,
        "cpu_s": cpu_s, "noise": model._noise, "early_stopping": model._early_stopping,
        "base": None if base is None else base.n_components,
        "base_grid": grid,
        "setting": f"{model._coupling} x{model._n_stages} {model._hidden_layer_sizes} "
                   f"bs={model._batch_size} lr={model._learning_rate:g} base={model._base}",
    }


def summary_base(path: str) -> None:
    """Per data set and recipe: test LL mean ± sd, worst seed, seeds >= the best GMM, mean
    difference to it, the untrained flow's (mixture base alone) mean, CPU s."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["data"], r["recipe"]), {})[r["seed"]] = r  # reruns win
    print("| data | recipe | seeds | test LL mean ± sd | worst | >= GMM | minus GMM "
          "| untrained (base alone) | CPU s mean/max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (data, recipe), by_seed in sorted(groups.items()):
        rs = [by_seed[s] for s in sorted(by_seed)]
        t = np.array([r["test"] for r in rs])
        gmm = np.array([r["gmm"] if r["gmm"] is not None else np.nan for r in rs])
        init = [r["init_test"] for r in rs if r["init_test"] is not None]
        init_s = f"{np.mean(init):.4f}" if init else "-"
        print(f"| {data} | {recipe} | {len(rs)} | {t.mean():.4f} ± {t.std():.4f} | "
              f"{t.min():.4f} | {int(np.sum(t >= gmm))}/{len(t)} | "
              f"{np.nanmean(t - gmm):+.4f} | {init_s} | "
              f"{np.mean([r['cpu_s'] for r in rs]):.1f}/"
              f"{np.max([r['cpu_s'] for r in rs]):.1f} |")


# ----------------------------------------------------------------------------- choice
CHOICE_EMA = (0.99, 0.995)


class ChoiceStudyFlow(NormalizingFlow):
    """The package's NormalizingFlow fit, recording what its early stopping chooses from.

    Records the untrained model's (mixture base alone) validation and test scores, and
    per epoch the validation and test scores of the weights and of exponential moving
    averages of them (``CHOICE_EMA``, warm-up ``min(decay, (1 + t) / (10 + t))``, kept on
    the side by an optimizer hook; the fit itself is the package's).
    """

    def __init__(self, *, record=None, **params):
        super().__init__(**params)
        self.record = record

    def fit(self, X, y=None, sample_weight=None):
        self._study_X = np.asarray(X, dtype=np.float32)
        return super().fit(X, y, sample_weight=sample_weight)

    def _score(self, rows) -> float:
        with torch.no_grad():
            return float(self.module_.log_prob(rows).mean())

    def _log_probs(self, rows) -> np.ndarray:
        with torch.no_grad():
            return self.module_.log_prob(rows).double().numpy()

    def _init_base(self, X_t, *args, **kwargs):
        super()._init_base(X_t, *args, **kwargs)
        train = {r.tobytes() for r in X_t.cpu().numpy()}
        val = np.array([r for r in self._study_X if r.tobytes() not in train])
        self._study_val = torch.as_tensor(val) if len(val) else None
        self.init_val_ = self._score(self._study_val) if len(val) else None
        self._init_val_lp = self._log_probs(self._study_val) if len(val) else None
        self.init_test_ = self._score(self.record)
        self.choice_curve_ = []

    def _make_optimizer(self):
        optimizer = super()._make_optimizer()
        params = list(self.module_.parameters())
        self._ema = {}
        state = {"t": 0}

        def post_hook(opt, args, kwargs):
            if not self._ema:
                for d in CHOICE_EMA:
                    self._ema[d] = [p.detach().clone() for p in params]
            t = state["t"] = state["t"] + 1
            with torch.no_grad():
                for d in CHOICE_EMA:
                    rate = 1 - min(d, (1 + t) / (10 + t))
                    torch._foreach_lerp_(self._ema[d], [p.detach() for p in params], rate)

        optimizer.register_step_post_hook(post_hook)
        return optimizer

    def _train_flow(self, step, **kwargs):
        inner = kwargs["on_epoch_end"]
        module = self.module_

        def on_epoch_end(epoch, loss):
            stop = inner(epoch, loss)
            module.eval()
            row = {"val": self.validation_scores_[-1] if self.validation_scores_ else None,
                   "test": self._score(self.record), "loss": loss}
            if self._study_val is not None:  # sd of the per-row gain over the start
                row["val_gain_sd"] = float(np.std(self._log_probs(self._study_val)
                                                  - self._init_val_lp))
            params = list(module.parameters())
            saved = [p.detach().clone() for p in params]
            for d, avg in self._ema.items():
                with torch.no_grad():
                    for p, a in zip(params, avg):
                        p.copy_(a)
                row[f"ema{d}_val"] = (None if self._study_val is None
                                      else self._score(self._study_val))
                if self._study_val is not None:
                    row[f"ema{d}_val_gain_sd"] = float(np.std(
                        self._log_probs(self._study_val) - self._init_val_lp))
                row[f"ema{d}_test"] = self._score(self.record)
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s)
            module.train()
            self.choice_curve_.append(row)
            return stop

        kwargs["on_epoch_end"] = on_epoch_end
        return super()._train_flow(step, **kwargs)


def run_choice(name: str, seed: int, recipe_name: str) -> dict:
    """Fit ``NormalizingFlow(random_state=seed, **recipe)`` recording its choice (see
    ``ChoiceStudyFlow``); ``summary_choice`` replays stopping rules on the curves."""
    X_tr, X_te = DATASETS[name](seed)
    X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
    params = _parse_recipe(recipe_name)
    model = ChoiceStudyFlow(record=torch.as_tensor(X_te),
                            **{"random_state": seed, "device": "cpu", **params})
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(X_tr)
    fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    base = model.module_.base
    return {
        "data": name, "seed": seed, "recipe": recipe_name, "test": float(model.score(X_te)),
        "init_val": model.init_val_, "init_test": model.init_test_,
        "n_val": None if model._study_val is None else len(model._study_val),
        "best_val": model.best_validation_score_, "curve": model.choice_curve_,
        "gmm": _gmm_reference().get((name, seed)), "epochs": model.n_iter_,
        "max_epochs": model._max_epochs, "fit_s": fit_s, "cpu_s": cpu_s,
        "base": None if base is None else base.n_components,
        "base_params": [{k: v for k, v in p.items()
                         if k in ("n_components", "covariance_type", "reg_covar")}
                        for p in (model._base_mixture_params or [])[:1]],
    }


def _replay(r: dict, rule: str, margin: float = 0.0, z: float = 0.0) -> float:
    """Test score of the epoch a selection rule picks from a recorded ``choice`` fit: the
    best validation epoch (of the weights, ``rule="val"``, or of an EMA, ``"ema0.99"``)
    when its validation gain over the untrained model exceeds ``margin`` plus ``z``
    standard errors of the per-row gain, else the untrained model."""
    curve = r["curve"]
    if rule == "oracle":  # the best test score seen (init included)
        return max([r["init_test"]] + [c["test"] for c in curve])
    if rule == "last":
        return curve[-1]["test"] if curve else r["init_test"]
    key = "" if rule == "val" else f"{rule}_"  # "val" or "ema0.99" ...
    vals = [c[f"{key}val"] for c in curve]
    tests = [c[f"{key}test"] for c in curve]
    if not vals or r["init_val"] is None:
        return r["init_test"]
    i = int(np.argmax(vals))
    se = curve[i].get(f"{key}val_gain_sd", 0.0) / math.sqrt(r.get("n_val") or 1)
    return tests[i] if vals[i] > r["init_val"] + margin + z * se else r["init_test"]


def summary_choice(path: str) -> None:
    """Per data set and recipe, the test score of each selection rule replayed on the
    recorded curves, against the best GMM (seeds >= it, mean difference)."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["data"], r["recipe"]), {})[r["seed"]] = r
    rules = [("fit", None, 0.0, 0.0), ("init", None, 0.0, 0.0),
             ("oracle", "oracle", 0.0, 0.0), ("last", "last", 0.0, 0.0),
             ("val", "val", 0.0, 0.0)]
    rules += [(f"val+{m:g}", "val", m, 0.0) for m in (0.005, 0.01, 0.02)]
    rules += [(f"val+{z:g}se", "val", 0.0, z) for z in (1, 2, 3)]
    rules += [(f"ema{d}", f"ema{d}", 0.0, 0.0) for d in CHOICE_EMA]
    rules += [(f"ema{d}+2se", f"ema{d}", 0.0, 2.0) for d in CHOICE_EMA]
    print("| data | recipe | rule | test LL mean | per seed minus GMM | >= GMM |")
    print("|---|---|---|---|---|---|")
    for (data, recipe), by_seed in sorted(groups.items()):
        rs = [by_seed[s] for s in sorted(by_seed)]
        gmm = np.array([r["gmm"] for r in rs])
        for label, rule, m, z in rules:
            t = np.array([r["test"] if label == "fit" else r["init_test"] if label == "init"
                          else _replay(r, rule, m, z) for r in rs])
            diffs = " ".join(f"{x:+.4f}" for x in t - gmm)
            print(f"| {data} | {recipe} | {label} | {t.mean():.4f} | {diffs} | "
                  f"{int(np.sum(t >= gmm))}/{len(t)} |")


def _untrained_codes(name: str, seed: int):
    """The untrained default flow (``max_epochs=0``) on ``name``'s training rows, its mixture
    base's parameters, the codes (float64) of the training split, the validation split,
    all training rows and the test rows, and the log-determinants of the validation and
    test rows."""
    X_tr, X_te = DATASETS[name](seed)
    X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
    flow = ChoiceStudyFlow(record=torch.as_tensor(X_te), max_epochs=0, device="cpu",
                           random_state=seed).fit(X_tr)
    val = flow._study_val.numpy()
    held_rows = {r.tobytes() for r in val}
    fit_rows = np.array([r for r in X_tr if r.tobytes() not in held_rows])
    Z, Z_val, Z_all, Z_te = (flow.transform(A).astype(np.float64)
                             for A in (fit_rows, val, X_tr, X_te))
    return (flow, flow._base_mixture_params, Z, Z_val, Z_all, Z_te,
            flow.log_det_jacobian(val), flow.log_det_jacobian(X_te))


def run_base_reg(name: str, seed: int, folds: int = 3, members: int = 1) -> dict:
    """How the mixture base's ``reg_covar`` choice scores (default fit's structure).

    Fits the untrained default flow (``max_epochs=0``: its mixture base chosen on the
    training split), then for each ``reg_covar`` in ``REG_GRID``, at the chosen
    structure: the ``folds``-fold CV score (in code space) of the average of
    ``members`` EM fits on the training split's codes, the validation split's score of
    the average of the 10 members refitted on the training split, and the test score of
    the 10 members refitted on all rows (what a kept start becomes).
    """
    from scipy.special import logsumexp
    from sklearn.mixture import GaussianMixture

    _, params, Z, Z_val, Z_all, Z_te, ld_val, ld_te = _untrained_codes(name, seed)

    def average(ps, Z_fit, Z_score):
        ms = [GaussianMixture(**p).fit(Z_fit) for p in ps]
        return logsumexp(np.stack([m.score_samples(Z_score) for m in ms]), 0) - np.log(len(ms))

    split = np.array_split(np.random.RandomState(seed).permutation(len(Z)), folds)
    out = {"data": name, "seed": seed, "folds": folds, "members": members,
           "structure": {k: params[0][k] for k in ("n_components", "covariance_type",
                                                   "reg_covar")},
           "gmm": _gmm_reference().get((name, seed)), "reg": {}}
    for reg in REG_GRID:
        ps = [{**p, "reg_covar": reg} for p in params]
        cv = np.mean([average(ps[:members], Z[np.concatenate(split[:i] + split[i + 1:])],
                              Z[held]).mean() for i, held in enumerate(split)])
        out["reg"][f"{reg:g}"] = {
            "cv": float(cv), "val": float((average(ps, Z, Z_val) + ld_val).mean()),
            "test_all_rows": float((average(ps, Z_all, Z_te) + ld_te).mean())}
    return out


REG_GRID = (1e-6, 1e-4, 1e-3)


def run_base_reg_rules(name: str, seed: int) -> dict:
    """Which rule picks the mixture base's ``reg_covar`` that scores best on test.

    Fits the untrained default flow (``max_epochs=0``; its base's structure chosen by the
    shipped 3-fold CV), then for each ``reg_covar`` in ``REG_GRID`` at that structure:

    - ``cv3``: the shipped criterion, 3-fold CV of one EM fit on the training split's
      codes (fits on 2/3 of them);
    - ``cv90``: 3 folds of a 10-fold partition (one EM fit on 90% of the codes, scored on
      the other 10%, three times: the fits see nearly as many rows as the final one);
    - ``val10``: the 10 members (cold EM fits) fitted on the training split, scored on
      the flow's validation split (data space);
    - ``val10_warm``: the same members refitted from the next larger ``reg_covar``'s
      members (``warm_start``, the cheap version of ``val10``);
    - ``test10_all``: the 10 members fitted on all rows, scored on test (what a kept
      start becomes: the figure the rules should pick the best of).

    Each rule's CPU seconds are recorded (``*_cpu``, summed over the grid).
    """
    from scipy.special import logsumexp
    from sklearn.mixture import GaussianMixture

    flow, params, Z, Z_val, Z_all, Z_te, ld_val, ld_te = _untrained_codes(name, seed)

    def mean_ll(models, Z_score):
        lp = np.stack([m.score_samples(Z_score) for m in models])
        return logsumexp(lp, 0) - np.log(len(models))

    def fit_one(p, Z_fit):
        try:
            return GaussianMixture(**p).fit(Z_fit)
        except ValueError:  # a collapsed component
            return None

    rng = np.random.RandomState(seed)
    split3 = np.array_split(rng.permutation(len(Z)), 3)
    split10 = np.array_split(rng.permutation(len(Z)), 10)[:3]
    out = {"data": name, "seed": seed, "n_fit": len(Z), "n_val": len(Z_val),
           "structure": {k: params[0][k] for k in ("n_components", "covariance_type",
                                                   "reg_covar")},
           "gmm": _gmm_reference().get((name, seed)), "init_test": flow.init_test_,
           "reg": {}, "cpu": {"cv3": 0.0, "cv90": 0.0, "val10": 0.0, "val10_warm": 0.0}}
    warm = None
    for reg in sorted(REG_GRID, reverse=True):
        ps = [{**p, "reg_covar": reg} for p in params]
        row = {}
        for rule, split in (("cv3", split3), ("cv90", split10)):
            c0 = time.process_time()
            scores = []
            for held in split:
                keep = np.setdiff1d(np.arange(len(Z)), held)
                m = fit_one(ps[0], Z[keep])
                scores.append(-np.inf if m is None else float(m.score(Z[held])))
            row[rule] = float(np.mean(scores))
            out["cpu"][rule] += time.process_time() - c0
        c0 = time.process_time()
        members = [fit_one(p, Z) for p in ps]
        row["val10"] = (-math.inf if None in members
                        else float((mean_ll(members, Z_val) + ld_val).mean()))
        out["cpu"]["val10"] += time.process_time() - c0
        c0 = time.process_time()
        if warm is None:  # the largest reg: cold fits (the shipped members)
            warm = [GaussianMixture(**{**p, "warm_start": True}).fit(Z) for p in ps]
        else:
            for m in warm:
                m.set_params(reg_covar=reg).fit(Z)
        row["val10_warm"] = float((mean_ll(warm, Z_val) + ld_val).mean())
        out["cpu"]["val10_warm"] += time.process_time() - c0
        all_rows = [fit_one(p, Z_all) for p in ps]
        row["test10_all"] = (-math.inf if None in all_rows
                             else float((mean_ll(all_rows, Z_te) + ld_te).mean()))
        out["reg"][f"{reg:g}"] = row
    return out


def summary_base_reg_rules(path: str) -> None:
    """Per data set: the test score (10 members on all rows) of the ``reg_covar`` each
    rule picks, against the best of the grid and the panel's best GMM."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rules = ("cv3", "cv90", "val10", "val10_warm")
    print("| data | seed | structure | " + " | ".join(rules)
          + " | best of grid | best GMM | CPU s " + "/".join(rules) + " |")
    print("|---|---|---|" + "---|" * (len(rules) + 3))
    for r in rows:
        regs = r["reg"]
        cells = []
        for rule in rules:
            pick = max(regs, key=lambda g: regs[g][rule])
            cells.append(f"{pick}: {regs[pick]['test10_all']:.4f}")
        best = max(regs, key=lambda g: regs[g]["test10_all"])
        st = r["structure"]
        cpu = "/".join(f"{r['cpu'][k]:.1f}" for k in rules)
        print(f"| {r['data']} | {r['seed']} | {st['covariance_type']} "
              f"k={st['n_components']} | " + " | ".join(cells)
              + f" | {best}: {regs[best]['test10_all']:.4f} | {r['gmm']:.4f} | {cpu} |")


# ----------------------------------------------------------------------------- truth
def true_loglik(name: str, X: np.ndarray, n_grid: int = 4000) -> float:
    """Mean log-density of ``X`` under the generating density of a 2-D toy (grid in t)."""
    return float(true_log_density(name, X, n_grid).mean())


def true_log_density(name: str, X: np.ndarray, n_grid: int = 4000) -> np.ndarray:
    """Log-density of each row of ``X`` under the generating density of a 2-D toy."""
    if name == "moons":
        t = (np.arange(n_grid) + 0.5) / n_grid * np.pi
        centres = np.concatenate([np.column_stack([np.cos(t), np.sin(t)]),
                                  np.column_stack([1 - np.cos(t), 1 - np.sin(t) - 0.5])])
        sigma = 0.08
    elif name == "circles":
        t = np.arange(n_grid) / n_grid * 2 * np.pi
        outer = np.column_stack([np.cos(t), np.sin(t)])
        centres, sigma = np.concatenate([outer, 0.5 * outer]), 0.05
    elif name == "spiral":
        # t = sqrt(u) * 3 pi: u on a midpoint grid gives t's law exactly
        u = (np.arange(n_grid) + 0.5) / n_grid
        t = np.sqrt(u) * 3 * np.pi
        r = t / (3 * np.pi) * 2.0
        centres = np.concatenate([np.column_stack([r * np.cos(t + np.pi * a),
                                                   r * np.sin(t + np.pi * a)]) for a in (0, 1)])
        sigma = 0.05
    else:
        raise ValueError(name)
    out = []
    for chunk in np.array_split(X.astype(np.float64), max(1, len(X) // 200)):
        d2 = ((chunk[:, None, :] - centres[None]) ** 2).sum(-1)
        log_k = -d2 / (2 * sigma**2) - np.log(2 * np.pi * sigma**2)
        m = log_k.max(1, keepdims=True)
        out.append(m[:, 0] + np.log(np.exp(log_k - m).mean(1)))
    return np.concatenate(out)


def diagnose(name: str, seed: int, recipe_name: str, n_draws: int = 200_000) -> dict:
    """Where a recipe's flow loses held-out likelihood against the true density (2-D toys).

    Fits the recipe, then splits the test rows by the true log-density (``core``: the
    densest half; ``flank``: the next 45%; ``tail``: the sparsest 5%) and reports each
    group's share of the mean loss ``log p_true - log p_flow`` on the training and the
    test rows (a loss much larger on test than on training rows of the same group is
    variance, one as large on both is bias). ``leak`` is the flow's probability mass
    where the true density is below its own 1% quantile (the truth puts 1% there),
    estimated from ``n_draws`` samples of each.
    """
    X_tr, X_te = DATASETS[name](seed)
    X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
    recipe = _parse_recipe(recipe_name)
    params = {k: v for k, v in recipe.items() if k not in AVG_EXTRA}
    study = {k: v for k, v in recipe.items() if k in AVG_EXTRA}
    model = AveragingFlow(study=study, **{"random_state": seed, "device": "cpu", **params})
    model.fit(X_tr)
    truth_draws = np.concatenate([DATASETS[name](s)[0] for s in range(1000, 1000 + 50)])
    cut = np.quantile(true_log_density(name, truth_draws), 0.01)
    te_truth = true_log_density(name, X_te)
    lo, hi = np.quantile(te_truth, [0.05, 0.5])
    out = {"data": name, "seed": seed, "recipe": recipe_name}
    for label, X in (("train", X_tr), ("test", X_te)):
        truth, flow = true_log_density(name, X), model.score_samples(X)
        loss = truth - flow
        groups = {"core": truth >= hi, "flank": (truth >= lo) & (truth < hi),
                  "tail": truth < lo}
        out[label] = {"flow": float(flow.mean()), "truth": float(truth.mean()),
                      "loss": float(loss.mean()),
                      **{g: float(loss[k].sum() / len(X)) for g, k in groups.items()}}
    draws = model.sample(n_draws, random_state=seed)
    out["leak_flow"] = float(np.mean(true_log_density(name, draws) < cut))
    out["leak_truth"] = 0.01
    return out


# ----------------------------------------------------------------------------- summary
def summary(path: str) -> None:
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["data"], r["recipe"]), []).append(r)
    print("| data | recipe | test LL mean ± sd | worst | seeds | train LL | epochs (best) "
          "| CPU s mean/max |")
    print("|---|---|---|---|---|---|---|---|")
    for (data, recipe), rs in groups.items():
        t = np.array([r["test"] for r in rs])
        print(f"| {data} | {recipe} | {t.mean():.3f} ± {t.std():.3f} | {t.min():.3f} | "
              f"{len(rs)} | {np.mean([r['train_all'] for r in rs]):.3f} | "
              f"{np.mean([r['epochs'] for r in rs]):.0f} "
              f"({np.mean([r['best_epoch'] for r in rs]):.0f}) | "
              f"{np.mean([r['cpu_s'] for r in rs]):.1f}/{np.max([r['cpu_s'] for r in rs]):.1f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["curves", "recipes", "average", "diagnose", "truth",
                                       "summary", "summary_average", "base",
                                       "summary_base", "choice", "summary_choice",
                                       "base_reg", "base_reg_rules",
                                       "summary_base_reg_rules"])
    p.add_argument("--datasets", nargs="*", default=["moons", "circles", "spiral"],
                   choices=list(DATASETS))
    p.add_argument("--seeds", nargs="*", type=int, default=[0])
    p.add_argument("--recipes", nargs="*", default=["default"],
                   help="names from RECIPES or key=value,key=value")
    p.add_argument("--out", default=None, help="JSON lines file to append to")
    p.add_argument("--list", action="store_true", help="print the recipes and exit")
    p.add_argument("--folds", type=int, default=3, help="base_reg: CV folds")
    p.add_argument("--members", type=int, default=1, help="base_reg: EM fits averaged in CV")
    args = p.parse_args(argv)
    if args.list:
        for k, v in RECIPES.items():
            print(f"{k}: {v}")
        return 0
    torch.set_num_threads(1)
    if args.command == "summary":
        summary(args.out)
        return 0
    if args.command == "summary_average":
        summary_average(args.out)
        return 0
    if args.command == "summary_base":
        summary_base(args.out)
        return 0
    if args.command == "summary_base_reg_rules":
        summary_base_reg_rules(args.out)
        return 0
    if args.command == "base_reg_rules":
        for name in args.datasets:
            for seed in args.seeds:
                r = run_base_reg_rules(name, seed)
                print(json.dumps(r), flush=True)
                append_jsonl(args.out, r)
        return 0
    if args.command == "base_reg":
        for name in args.datasets:
            for seed in args.seeds:
                r = run_base_reg(name, seed, args.folds, args.members)
                print(json.dumps(r), flush=True)
                append_jsonl(args.out, r)
        return 0
    if args.command == "summary_choice":
        summary_choice(args.out)
        return 0
    if args.command == "choice":
        for name in args.datasets:
            for recipe in args.recipes:
                for seed in args.seeds:
                    r = run_choice(name, seed, recipe)
                    print(f"{name} seed {seed} {recipe}: test {r['test']:.4f} (GMM "
                          f"{r['gmm']}) untrained {r['init_test']:.4f} oracle "
                          f"{_replay(r, 'oracle'):.4f} base {r['base']} {r['base_params']} "
                          f"epochs {r['epochs']}/{r['max_epochs']} {r['cpu_s']:.1f} CPU s",
                          flush=True)
                    append_jsonl(args.out, r)
        return 0
    if args.command == "base":
        for name in args.datasets:
            for recipe in args.recipes:
                for seed in args.seeds:
                    r = run_base(name, seed, recipe)
                    print(f"{name} seed {seed} {recipe}: test {r['test']:.4f} (GMM "
                          f"{r['gmm']}) untrained {r['init_test']} base {r['base']} "
                          f"epochs {r['epochs']}/{r['max_epochs']} {r['cpu_s']:.1f} CPU s "
                          f"{r['setting']}", flush=True)
                    append_jsonl(args.out, r)
        return 0
    if args.command == "truth":
        for name in args.datasets:
            vals = [true_loglik(name, DATASETS[name](s)[1]) for s in args.seeds]
            print(f"{name}: true density test LL {np.mean(vals):.4f} ± {np.std(vals):.4f} "
                  f"(per seed {[round(v, 4) for v in vals]})")
        return 0
    if args.command == "diagnose":
        for name in args.datasets:
            for recipe in args.recipes:
                for seed in args.seeds:
                    r = diagnose(name, seed, recipe)
                    print(json.dumps(r), flush=True)
                    append_jsonl(args.out, r)
        return 0
    if args.command == "average":
        for name in args.datasets:
            for recipe in args.recipes:
                for seed in args.seeds:
                    r = run_average(name, seed, recipe)
                    best = max(r["tests"], key=r["tests"].get)
                    print(f"{name} seed {seed} {recipe}: final {r['test']:.4f} best "
                          f"{best} {r['tests'][best]:.4f} (GMM {r['gmm']}) train "
                          f"{r['train']:.4f} {r['cpu_s']:.1f} CPU s {r['setting']}",
                          flush=True)
                    append_jsonl(args.out, r)
        return 0
    for name in args.datasets:
        for recipe in args.recipes:
            for seed in args.seeds:
                r = run_one(name, seed, recipe, curves=args.command == "curves")
                print(f"{name} seed {seed} {recipe}: test {r['test']:.4f} train "
                      f"{r['train_all']:.4f} val {r['best_val']} epochs {r['epochs']}"
                      f"/{r['max_epochs']} best {r['best_epoch']} {r['cpu_s']:.1f} CPU s "
                      f"{r['setting']} noise {r['noise_sd']:.3g}", flush=True)
                append_jsonl(args.out, r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
