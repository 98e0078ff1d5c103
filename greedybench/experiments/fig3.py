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
``fig3_omp.png`` / ``fig3_iht.png`` (loss curves with baseline lines, oracle vs learned |w| stems,
boxplots of the per-sample relative error). ``--aggregate-only`` rebuilds the table and figures
from the per-seed files (e.g. after running seeds in separate processes).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import greedybench as gb
from greedybench.nn import ALISTA, LISTA, PUDLEISTA, IHTNet, OMPNet
from greedybench.train import TrainConfig, predict, train

N, K, S, SIGMA = 256, 20, 10, 1e-3
TASKS = {
    "omp": {"m": 20, "layers": 10, "net": "OMP-Net"},
    "iht": {"m": 36, "layers": 30, "net": "IHT-Net"},
}
METHODS = {  # table order
    "omp": ["OMP", "Soft-OMP (w=1)", "weighted OMP (oracle)", "weighted OMP (learned w)", "OMP-Net",
            "OMP-Net (untied)", "LISTA", "ALISTA", "PUDLE-ISTA"],
    "iht": ["IHT", "Soft-IHT (w=1)", "weighted IHT (oracle)", "weighted IHT (learned w)", "IHT-Net",
            "IHT-Net (untied)", "LISTA", "ALISTA", "PUDLE-ISTA"],
}
LEARNED = ("net", "lista", "alista", "pudle")
# optional (``--methods net_untied``): the greedy net with one weight vector per layer
OPTIONAL = ("net_untied",)


# --------------------------------------------------------------------------------------------- #
# data (reference 5.1), generated inline with seeded generators
# --------------------------------------------------------------------------------------------- #
def partial_dft(m: int, g: torch.Generator, n: int = N) -> torch.Tensor:
    """A = F[rows] / sqrt(m), rows = sorted random m of the first n-1 frequencies k in
    {-n/2+1, ..., n/2}, F[k, j] = exp(-2 pi i k j / n); complex128, unit columns, A A^H = (n/m) I."""
    rows = torch.randperm(n - 1, generator=g)[:m].sort().values
    k = torch.arange(-n // 2 + 1, n // 2 + 1, dtype=torch.float64)[rows]
    j = torch.arange(n, dtype=torch.float64)
    return torch.exp(-2j * math.pi * torch.outer(k, j) / n) / math.sqrt(m)


def latent_signals(T: torch.Tensor, count: int, g: torch.Generator, s: int = S, n: int = N) -> torch.Tensor:
    """(count, n) real signals: support = s of the hidden set T without replacement, N(0,1) values,
    normalised to unit l2 norm."""
    pick = torch.rand(count, T.numel(), generator=g).argsort(dim=1)[:, :s]
    supp = T[pick]
    vals = torch.randn(count, s, generator=g, dtype=torch.float64)
    X = torch.zeros(count, n, dtype=torch.float64).scatter(1, supp, vals)
    return X / torch.linalg.vector_norm(X, dim=1, keepdim=True)


def fig3_data(seed: int, m: int, *, n_train: int = 1024, n_val: int = 512, n_test: int = 512,
              sigma: float = SIGMA, dtype=torch.complex64) -> dict:
    """One task's data for one seed: A (m, N) and the hidden set T shared by the three splits.
    T depends on the seed only (shared by both tasks of a seed); A and the samples on (seed, m)."""
    T = torch.randperm(N, generator=torch.Generator().manual_seed(int(seed)))[:K].sort().values
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(m))
    A = partial_dft(m, g)
    out = {"A": A.to(dtype), "A64": A, "T": T, "m": m, "seed": seed, "sigma": sigma}
    rdt = torch.empty((), dtype=dtype).real.dtype
    for name, count in (("train", n_train), ("val", n_val), ("test", n_test)):
        X = latent_signals(T, count, g)
        e = torch.complex(torch.randn(count, m, generator=g, dtype=torch.float64),
                          torch.randn(count, m, generator=g, dtype=torch.float64)) / math.sqrt(2)
        Y = X.to(A.dtype) @ A.mT + sigma / math.sqrt(m) * e
        out[name] = (Y.to(dtype), X.to(rdt))
        out[name + "64"] = (Y, X)
    return out


# --------------------------------------------------------------------------------------------- #
# metrics
# --------------------------------------------------------------------------------------------- #
def rel_errors(x_hat: torch.Tensor, X: torch.Tensor) -> np.ndarray:
    x_hat = x_hat.real if x_hat.is_complex() else x_hat
    X = X.to(x_hat.dtype)
    return (torch.linalg.vector_norm(x_hat - X, dim=1) / torch.linalg.vector_norm(X, dim=1)).double().numpy()


def summarize(x_hat: torch.Tensor, X: torch.Tensor) -> dict:
    xr = (x_hat.real if x_hat.is_complex() else x_hat).double()
    mse = float((xr - X.double()).pow(2).sum(1).mean())
    r = rel_errors(x_hat, X)
    return {"mse": mse, "median_rel": float(np.median(r)), "mean_rel": float(r.mean()),
            "frac_rel_lt_1e-2": float((r < 1e-2).mean()), "rel": r}


# --------------------------------------------------------------------------------------------- #
# one seed
# --------------------------------------------------------------------------------------------- #
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
    from greedybench.train import load_model
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
        mpath.parent.mkdir(parents=True, exist_ok=True)
        with open(mpath, "w") as f:
            json.dump({"seed": seed, "epochs": epochs, "task": task, **tr}, f, indent=1)
    return res


def _write_errors(path: Path, errs: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(errs)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sample"] + names)
        for i in range(len(next(iter(errs.values())))):
            w.writerow([i] + [f"{errs[n][i]:.6e}" for n in names])


def _read_errors(path: Path) -> dict:
    with open(path) as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    vals = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    return {n: vals[:, i] for i, n in enumerate(names)}


# --------------------------------------------------------------------------------------------- #
# aggregation: table, weights CSV, figures
# --------------------------------------------------------------------------------------------- #
def _ms(vals):
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def aggregate(out: Path, seeds, models: Path = None) -> list:
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
    rows = []
    for task in ("omp", "iht"):
        per = [r["tasks"][task] for r in runs if task in r["tasks"]]
        if not per:
            continue
        for name in METHODS[task]:
            ms = [p["methods"][name] for p in per if name in p["methods"]]
            if not ms:
                continue
            trn = [p["train"].get(name) for p in per if p["train"].get(name)]
            mse, mse_sd = _ms([m_["mse"] for m_ in ms])
            med, med_sd = _ms([m_["median_rel"] for m_ in ms])
            mean, _ = _ms([m_["mean_rel"] for m_ in ms])
            frac, _ = _ms([m_["frac_rel_lt_1e-2"] for m_ in ms])
            row = {"task": f"{task.upper()} (m={per[0]['m']})", "method": name, "n_seeds": len(ms),
                   "test_mse_mean": mse, "test_mse_std": mse_sd, "median_rel_l2_mean": med,
                   "median_rel_l2_std": med_sd, "mean_rel_l2": mean, "frac_rel_lt_1e-2": frac,
                   "best_epoch": "", "epochs": "", "train_time_s": "", "skipped_steps": "", "top20_in_T": ""}
            if trn:
                row["best_epoch"] = " ".join(str(t["best_epoch"]) for t in trn)
                row["epochs"] = " ".join(str(t["epochs"]) for t in trn)
                row["skipped_steps"] = " ".join(str(t.get("skipped_steps", 0)) for t in trn)
                tm, tsd = _ms([t["train_time_s"] for t in trn])
                row["train_time_s"] = f"{tm:.0f} +- {tsd:.0f}"
            if any("top20_in_T" in t for t in trn):                   # untied nets: layer-averaged |w|
                row["top20_in_T"] = " ".join(str(t["top20_in_T"]) for t in trn if "top20_in_T" in t)
            rows.append(row)
    cols = list(rows[0])
    with open(out / "comparison.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    lines = [f"Fig. 3 comparison on the TEST set (512 samples per seed; mean +- std over seeds "
             f"{[r['seed'] for r in runs]}; epochs {runs[0]['epochs']})", "",
             "| task | method | test MSE | median rel. l2 | mean rel. l2 | frac(rel<1e-2) | epochs | best epoch | train time [s] | skipped steps | top-20 |w| in T |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['method']} | {r['test_mse_mean']:.3g} +- {r['test_mse_std']:.2g} | "
                     f"{r['median_rel_l2_mean']:.3g} +- {r['median_rel_l2_std']:.2g} | {r['mean_rel_l2']:.3g} | "
                     f"{r['frac_rel_lt_1e-2']:.2f} | {r['epochs']} | {r['best_epoch']} | {r['train_time_s']} | {r['skipped_steps']} | {r['top20_in_T']} |")
    (out / "comparison.md").write_text("\n".join(lines) + "\n")
    # learned weights vs T
    with open(out / "weights.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seed", "net", "index", "in_T", "oracle_w", "learned_w"])
        for r in runs:
            for task, tr in r["tasks"].items():
                if tr.get("weights") is None:
                    continue
                Tset = set(tr["T"])
                for i, wv in enumerate(tr["weights"]):
                    w.writerow([r["seed"], TASKS[task]["net"], i, int(i in Tset), int(i in Tset), f"{wv:.6e}"])
    try:
        _figures(out, runs, out if models is None else models)
    except Exception as exc:  # figures are a convenience; the CSVs are the record
        print(f"figures failed: {exc!r}")
    return rows


def _read_losses(path: Path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    ep = np.array([int(r["epoch"]) for r in rows])
    tl = np.array([float(r["train_loss"]) for r in rows])
    vl = np.array([float(r["val_loss"]) if r["val_loss"] else np.nan for r in rows])
    return ep, tl, vl


def _figures(out: Path, runs, models: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for task in ("omp", "iht"):
        per = [r for r in runs if task in r["tasks"]]
        if not per:
            continue
        net = TASKS[task]["net"]
        hard = "OMP" if task == "omp" else "IHT"
        fig, ax = plt.subplots(1, 3, figsize=(17, 4.6))
        # (a) loss curves
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, r in enumerate(per):
            p = models / f"seed{r['seed']}" / task / "net" / "losses.csv"
            if p.exists():
                ep, tl, vl = _read_losses(p)
                ax[0].semilogy(ep, tl, color=colors[i % 10], alpha=0.5, lw=0.8, label=f"train (seed {r['seed']})")
                ok = np.isfinite(vl)
                ax[0].semilogy(ep[ok], vl[ok], color=colors[i % 10], lw=1.2, ls="--", label=f"val (seed {r['seed']})")
        mt = [r["tasks"][task]["methods"] for r in per]
        for name, ls, c in ((hard, ":", "k"), (f"weighted {hard} (oracle)", "-.", "g"), (net, "-", "r")):
            vals = [m_[name]["mse"] for m_ in mt if name in m_]
            if vals:
                ax[0].axhline(np.mean(vals), color=c, ls=ls, lw=1.5, label=f"{name} test MSE {np.mean(vals):.2g}")
        ax[0].set_xlabel("epoch")
        ax[0].set_ylabel(r"MSE  mean $\|\mathrm{Re}\,\hat x - x\|_2^2$")
        ax[0].set_title(f"(a) {net} training (m={TASKS[task]['m']})")
        ax[0].legend(fontsize=6.5, ncol=2)
        # (b) weights of the first seed
        r0 = per[0]["tasks"][task]
        if r0.get("weights") is not None:
            wv = np.abs(np.array(r0["weights"]))
            orc = np.zeros(N)
            orc[r0["T"]] = 1
            idx = np.arange(N)
            inT = orc > 0
            ax[1].axhline(1.0, color="C7", ls=":", lw=1, label="initial w = 1")
            ax[1].vlines(idx[~inT], 0, wv[~inT], color="C7", lw=0.8, label="learned |w|, j not in T")
            ax[1].vlines(idx[inT], 0, wv[inT], color="C3", lw=1.6, label="learned |w|, j in T")
            ax[1].plot(idx[inT], np.ones(inT.sum()), "o", mfc="none", mec="C2", ms=6, label="oracle $1_T$")
            ax[1].set_ylim(bottom=0)
            ax[1].set_xlabel("index j")
            ax[1].set_ylabel("|w_j|")
            ax[1].set_title(f"(b) weights, seed {per[0]['seed']}: top-20 |w| hit {r0.get('top20_in_T')}/20 of T")
            ax[1].legend(fontsize=7)
        # (c) boxplots of per-sample relative error, pooled over seeds
        errs = {}
        for r in per:
            p = out / f"errors_seed{r['seed']}_{task}.csv"
            if p.exists():
                for k, v in _read_errors(p).items():
                    errs.setdefault(k, []).append(v)
        names = [n for n in METHODS[task] if n in errs]
        data = [np.clip(np.concatenate(errs[n]), 1e-8, None) for n in names]
        ax[2].boxplot(data, orientation="horizontal", tick_labels=names, showfliers=True, flierprops={"markersize": 2})
        ax[2].set_xscale("log")
        ax[2].set_xlabel(r"relative $\ell_2$ error (test, all seeds)")
        ax[2].set_title("(c) per-sample error")
        fig.tight_layout()
        fig.savefig(out / f"fig3_{task}.png", dpi=130)
        plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
