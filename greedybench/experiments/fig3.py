"""Fig. 3 of Deep greedy unfolding: OMP-Net and IHT-Net learn a latent support (reference 5.1, 5.3),
with the unfolded-ISTA baselines (LISTA, ALISTA, PUDLE-ISTA) trained on the same data and budget.

    python -m greedybench.experiments.fig3 --out results/fig3 --seeds 0 1 2 [--epochs 1000]

Per seed: one partial DFT A per task (N = 256; m = 20 for the OMP task, m = 36 for the IHT task),
one hidden set T of K = 20 indices, 1024 train / 512 validation / 512 test samples
(supports: 10 of T without replacement; N(0,1) values normalised to unit norm; complex noise
sigma/sqrt(m) (g1 + i g2)/sqrt(2), sigma = 1e-3). Model selection uses the validation set only;
every number in the table is on the test set.

Learned baselines (documented choice): on each task, LISTA (untied), ALISTA and PUDLE-ISTA (D = A
frozen, learned per-layer thresholds) with the depth of that task's greedy net (10 layers for
m = 20, 30 layers for m = 36), the same data, batch, StepLR and clipping; the optimiser is Adam
(lr 5e-4 for LISTA, whose 0.66M (m = 20) to 2M (m = 36) complex entries do not survive RMSprop at
1e-2; lr 1e-3 for ALISTA/PUDLE-ISTA) instead of RMSprop 1e-2. ``--methods``/``--tasks``/``--epochs``
select what is trained, so a smaller budget for the baselines can be run separately (the table
lists the epochs of every learned model). Cost on one core: OMP-Net ~0.35 s/epoch, IHT-Net
~1 s/epoch, LISTA m = 20 ~1 s/epoch, LISTA m = 36 (30 layers) ~10 s/epoch.

Outputs in --out: per seed ``seed<k>/<task>/<method>/`` (train.py files: losses.csv, best.pt ...),
``seed<k>/metrics.json``, ``errors_seed<k>.csv`` (per-sample relative l2 error of every method),
``weights.csv`` (learned w vs T), ``comparison.csv`` / ``comparison.md`` (mean +- std over seeds),
``fig3_omp.png`` / ``fig3_iht.png`` (+ .svg; the report's training figure: the first seed's loss
curves with the baselines' test MSE, its learned |w| against T, boxplots of the per-sample relative
error pooled over seeds). ``--aggregate-only`` rebuilds the table and figures
from the per-seed files (e.g. after running seeds in separate processes).

The data, the metrics and the tables are :mod:`greedybench.analysis.fig3_study`; the figure is
:func:`greedybench.analysis.fig_training.draw_training`; every file is written atomically through
greedybench.storage. This module runs the training (greedybench.train) per seed and the command line.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import greedybench as gb
from greedybench.analysis.fig3_study import (
    K, METHODS, N, S, SIGMA, TASKS, WEIGHTS_COLUMNS, comparison_markdown, comparison_rows, fig3_data,
    figure_tables, latent_signals, partial_dft, rel_errors, summarize, weights_rows)
from greedybench.nn import ALISTA, LISTA, PUDLEISTA, IHTNet, OMPNet
from greedybench.storage import atomic_write_bytes, atomic_write_text, write_csv, write_json
from greedybench.train import TrainConfig, load_model, predict, train

LEARNED = ("net", "lista", "alista", "pudle")
# optional (``--methods net_untied``): the greedy net with one weight vector per layer
OPTIONAL = ("net_untied",)
__all__ = ["main", "run_seed", "aggregate", "LEARNED", "OPTIONAL",
           # re-exported from greedybench.analysis.fig3_study, where they live
           "K", "METHODS", "N", "S", "SIGMA", "TASKS", "fig3_data", "latent_signals", "partial_dft", "rel_errors",
           "summarize"]


def _make_model(kind: str, task: str, A: torch.Tensor):
    L = TASKS[task]["layers"]
    if kind in ("net", "net_untied"):
        tied = kind == "net"
        return (OMPNet(A, L, tau=1e-3, tied=tied) if task == "omp"
                else IHTNet(A, S, L, tau=1e-3, step=0.5, tied=tied))
    if kind == "lista":
        return LISTA(A, L, lam=0.1)
    if kind == "alista":
        return ALISTA(A, L, lam=0.1)
    return PUDLEISTA(A, L, lam=0.1)


def _config(kind: str, epochs: int, seed: int) -> TrainConfig:
    if kind in ("net", "net_untied"):
        # the paper's schedule; skip_failed_steps: the soft-OMP kernel's minimum-norm fallback (an
        # SVD) can fail to converge in complex64 on collapsed soft atoms (rare; counted, reported)
        return TrainConfig(epochs=epochs, seed=seed, skip_failed_steps=True)
    lr = 5e-4 if kind == "lista" else 1e-3
    return TrainConfig(epochs=epochs, seed=seed, optimizer="adam", lr=lr, eps=1e-8)


def _snapshot(model, mdir: Path):
    """Load the best weights of a (possibly unfinished) run without training; None if absent."""
    if not (mdir / "best.pt").exists() or not (mdir / "last.pt").exists():
        return None
    ck = torch.load(mdir / "last.pt", weights_only=True)
    load_model(model, mdir / "best.pt")
    done = int(ck["epoch"])
    t = float(ck.get("train_time_s", float("nan")))
    sk = ck["history"].get("skipped_steps")
    return {"best_epoch": int(ck["best_epoch"]), "best_val_loss": float(ck["best_val"]),
            "skipped_steps": int(sk.sum()) if sk is not None else 0,
            "epochs": done, "epochs_run": done, "train_time_s": t, "test_loss": None,
            "time_per_epoch_s": t / max(done, 1)}


def run_seed(seed: int, out: Path, *, epochs: int, kinds=LEARNED, tasks=("omp", "iht"),
             progress: bool = True, snapshot: bool = False, results: Path = None) -> dict:
    """Train (or, with ``snapshot``, only load the current best weights of) the learned models of
    one seed and evaluate every method on the test set; metrics go to ``results`` (default out)."""
    results = out if results is None else results
    res = {"seed": seed, "epochs": epochs, "tasks": {}}
    for task in tasks:
        tinfo = TASKS[task]
        d = fig3_data(seed, tinfo["m"])
        A, A64, T = d["A"], d["A64"], d["T"]
        Yte64, Xte = d["test64"]
        Yte = d["test"][0]
        oracle = torch.zeros(N, dtype=torch.float64)
        oracle[T] = 1
        tr = {"T": T.tolist(), "m": tinfo["m"], "methods": {}, "train": {}, "weights": None}
        preds = {}
        # untrained baselines: hard algorithms in float64, soft ones in the training dtype
        if task == "omp":
            preds["OMP"] = gb.omp(A64, Yte64, S)
            preds["weighted OMP (oracle)"] = gb.omp(A64, Yte64, S, weights=oracle)
            preds["Soft-OMP (w=1)"] = gb.soft_omp(A, Yte, S, tau=1e-3)
        else:
            preds["IHT"] = gb.iht(A64, Yte64, S, step=0.5, n_iter=30)
            preds["weighted IHT (oracle)"] = gb.iht(A64, Yte64, S, step=0.5, n_iter=30, weights=oracle)
            preds["Soft-IHT (w=1)"] = gb.soft_iht(A, Yte, S, tau=1e-3, step=0.5, n_iter=30)
        for kind in kinds:
            name = {"net": tinfo["net"], "net_untied": tinfo["net"] + " (untied)", "lista": "LISTA",
                    "alista": "ALISTA", "pudle": "PUDLE-ISTA"}[kind]
            model = _make_model(kind, task, A)
            mdir = out / f"seed{seed}" / task / kind
            if snapshot:
                info = _snapshot(model, mdir)
                if info is None:
                    continue
            else:
                r = train(model, d["train"], d["val"], _config(kind, epochs, seed), out_dir=mdir,
                          progress=progress, test_data=d["test"])
                info = {**r.summary(), "time_per_epoch_s": r.train_time_s / max(r.epochs_run, 1)}
                info["train_time_s"] = r.total_train_time_s
            preds[name] = predict(model, Yte, batch_size=512)
            tr["train"][name] = info
            if kind in ("net", "net_untied"):
                info["top20_in_T"] = len(set(model.learned_support(K).tolist()) & set(T.tolist()))
            if kind == "net":
                w = model.weights.detach().double()
                tr["weights"] = w.tolist()
                tr["top20_in_T"] = info["top20_in_T"]                 # the figure's title
                wl = w.abs()
                if task == "omp":
                    preds["weighted OMP (learned w)"] = gb.omp(A64, Yte64, S, weights=wl)
                else:
                    preds["weighted IHT (learned w)"] = gb.iht(A64, Yte64, S, step=0.5, n_iter=30, weights=wl)
        errs = {}
        for name, xh in preds.items():
            sm = summarize(xh.detach(), Xte)
            errs[name] = sm.pop("rel")
            tr["methods"][name] = sm
        # merge with what earlier invocations (other methods of the same seed and task) stored
        mpath = results / f"seed{seed}" / task / "metrics.json"
        epath = results / f"errors_seed{seed}_{task}.csv"
        if mpath.exists():
            old = json.loads(mpath.read_text())
            for key in ("methods", "train"):
                tr[key] = {**old.get(key, {}), **tr[key]}
            for key in ("weights", "top20_in_T"):
                if tr.get(key) is None and old.get(key) is not None:
                    tr[key] = old[key]
            epochs_all = {**old.get("epochs_by_method", {})}
        else:
            epochs_all = {}
        epochs_all.update({n: tr["train"][n]["epochs"] for n in tr["train"] if n in preds})
        tr["epochs_by_method"] = epochs_all
        if epath.exists():
            errs = {**_read_errors(epath), **errs}
        res["tasks"][task] = tr
        _write_errors(epath, errs)
        write_json(mpath, {"seed": seed, "epochs": epochs, "task": task, **tr})
    return res


def _write_errors(path: Path, errs: dict) -> None:
    names = list(errs)
    rows = [{"sample": i, **{n: float(errs[n][i]) for n in names}} for i in range(len(next(iter(errs.values()))))]
    write_csv(path, ["sample"] + names, rows)


def _read_errors(path: Path) -> dict:
    with open(path) as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    vals = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    return {n: vals[:, i] for i, n in enumerate(names)}


# --------------------------------------------------------------------------------------------- #
# aggregation: table, weights CSV, figures
# --------------------------------------------------------------------------------------------- #
def _runs(out: Path, seeds) -> list:
    runs = []
    for s in seeds:
        tasks = {}
        for task in TASKS:
            p = out / f"seed{s}" / task / "metrics.json"
            if p.exists():
                tasks[task] = json.loads(p.read_text())
        if tasks:
            runs.append({"seed": s, "epochs": max(t["epochs"] for t in tasks.values()), "tasks": tasks})
    if not runs:
        raise SystemExit(f"no seed results under {out}")
    return runs


def aggregate(out: Path, seeds, models: Path = None) -> list:
    """comparison.csv / comparison.md / weights.csv and the figures from the per-seed files."""
    runs = _runs(out, seeds)
    rows = comparison_rows(runs)
    write_csv(out / "comparison.csv", list(rows[0]), rows)
    atomic_write_text(out / "comparison.md", comparison_markdown(rows, runs))
    write_csv(out / "weights.csv", WEIGHTS_COLUMNS, weights_rows(runs))
    try:
        _figures(out, runs, out if models is None else models)
    except Exception as exc:  # figures are a convenience; the CSVs are the record
        print(f"figures failed: {exc!r}")
    return rows


def _figures(out: Path, runs, models: Path) -> None:
    """fig3_<task>.png/.svg with the report's training figure (fig_training.draw_training)."""
    from matplotlib.figure import Figure  # slow import, only here

    from greedybench.analysis.fig_training import draw_training, panels

    for task in ("omp", "iht"):
        per = [r for r in runs if task in r["tasks"]]
        if not per:
            continue
        errors = {}
        for r in per:
            p = out / f"errors_seed{r['seed']}_{task}.csv"
            if p.exists():
                for k, v in _read_errors(p).items():
                    errors.setdefault(k, []).append(v)
        lp = models / f"seed{per[0]['seed']}" / task / "net" / "losses.csv"
        losses = pd.read_csv(lp)[["epoch", "train_loss", "val_loss"]] if lp.exists() else None
        loss, weights, err, baselines = figure_tables(runs, task, errors, losses)
        if err.empty:
            continue
        fig = Figure(figsize=(5.6 * len(panels(loss, weights)), 4.8), layout="constrained")
        draw_training(fig, loss, weights, err, baselines)
        fig.suptitle(f"{TASKS[task]['net']} (m = {TASKS[task]['m']}): seed {per[0]['seed']} training and "
                     f"weights; test errors of seeds {[r['seed'] for r in per]}")
        for ext in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=130, metadata={"Software": None} if ext == "png" else {"Date": None})
            atomic_write_bytes(out / f"fig3_{task}.{ext}", buf.getvalue())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="greedybench fig3", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--methods", nargs="+", default=list(LEARNED), choices=list(LEARNED + OPTIONAL),
                    help="learned models to train (default: net lista alista pudle; net_untied adds the "
                         "greedy net with one weight vector per layer)")
    ap.add_argument("--tasks", nargs="+", default=["omp", "iht"], choices=["omp", "iht"])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 is fastest for these small GEMMs on a shared machine)")
    ap.add_argument("--aggregate-only", action="store_true")
    ap.add_argument("--snapshot", action="store_true",
                    help="no training: evaluate the current best.pt of every (possibly unfinished) run "
                         "and write the table to OUT/snapshot")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    results = a.out / "snapshot" if a.snapshot else a.out
    if not a.aggregate_only:
        for s in a.seeds:
            t0 = time.perf_counter()
            run_seed(s, a.out, epochs=a.epochs, kinds=tuple(a.methods), tasks=tuple(a.tasks),
                     progress=not a.no_progress, snapshot=a.snapshot, results=results)
            print(f"seed {s} done in {time.perf_counter() - t0:.0f} s", flush=True)
    aggregate(results, a.seeds, models=a.out)
    print((results / "comparison.md").read_text())


if __name__ == "__main__":
    main()
