"""The maths of the trained-net study (reference Fig. 3, 5.1 / 5.3), without the training loop.

- the data: one partial DFT A per task (N = 256; m = 20 for the OMP task, m = 36 for the IHT task),
  one hidden set T of K = 20 indices per seed, supports of S = 10 of T without replacement, N(0, 1)
  values normalised to unit norm, complex noise sigma/sqrt(m) (g1 + i g2)/sqrt(2), sigma = 1e-3
  (:func:`fig3_data`);
- the test metrics of one method (:func:`summarize`);
- the evaluation tables over seeds: the comparison (mean +- std over seeds, :func:`comparison_rows`,
  :func:`comparison_markdown`), the learned weights against T (:func:`weights_rows`), and the tables
  the report's training figure draws (:func:`figure_tables`).

The training itself is :mod:`greedybench.train`; the paper script ``greedybench.experiments.fig3``
runs it per seed and calls these functions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

__all__ = ["N", "K", "S", "SIGMA", "TASKS", "METHODS", "partial_dft", "latent_signals", "fig3_data",
           "rel_errors", "summarize", "mean_std", "comparison_rows", "comparison_markdown", "weights_rows",
           "WEIGHTS_COLUMNS", "figure_tables"]

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
WEIGHTS_COLUMNS = ("seed", "net", "index", "in_T", "oracle_w", "learned_w")


# ------------------------------------------------------------------------------------------ data


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


# --------------------------------------------------------------------------------------- metrics


def rel_errors(x_hat: torch.Tensor, X: torch.Tensor) -> np.ndarray:
    """Per-sample ||Re x_hat - x|| / ||x||, shape (B,)."""
    x_hat = x_hat.real if x_hat.is_complex() else x_hat
    X = X.to(x_hat.dtype)
    return (torch.linalg.vector_norm(x_hat - X, dim=1) / torch.linalg.vector_norm(X, dim=1)).double().numpy()


def summarize(x_hat: torch.Tensor, X: torch.Tensor) -> dict:
    """Test metrics of one method: mse (mean ||Re x_hat - x||^2), median_rel, mean_rel,
    frac_rel_lt_1e-2 and the per-sample errors ``rel``."""
    xr = (x_hat.real if x_hat.is_complex() else x_hat).double()
    mse = float((xr - X.double()).pow(2).sum(1).mean())
    r = rel_errors(x_hat, X)
    return {"mse": mse, "median_rel": float(np.median(r)), "mean_rel": float(r.mean()),
            "frac_rel_lt_1e-2": float((r < 1e-2).mean()), "rel": r}


def mean_std(vals):
    """Mean and sample standard deviation of the finite values (std 0 for one value, nan for none)."""
    v = np.array([x for x in vals if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


# ---------------------------------------------------------------------------------- aggregation


def comparison_rows(runs: list) -> list:
    """The comparison table: one row per (task, method) with the test metrics' mean +- std over the
    seeds of ``runs`` (each ``{"seed", "epochs", "tasks": {task: metrics.json content}}``) and the
    training record of the learned models."""
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
            mse, mse_sd = mean_std([m_["mse"] for m_ in ms])
            med, med_sd = mean_std([m_["median_rel"] for m_ in ms])
            mean, _ = mean_std([m_["mean_rel"] for m_ in ms])
            frac, _ = mean_std([m_["frac_rel_lt_1e-2"] for m_ in ms])
            row = {"task": f"{task.upper()} (m={per[0]['m']})", "method": name, "n_seeds": len(ms),
                   "test_mse_mean": mse, "test_mse_std": mse_sd, "median_rel_l2_mean": med,
                   "median_rel_l2_std": med_sd, "mean_rel_l2": mean, "frac_rel_lt_1e-2": frac,
                   "best_epoch": "", "epochs": "", "train_time_s": "", "skipped_steps": "", "top20_in_T": ""}
            if trn:
                row["best_epoch"] = " ".join(str(t["best_epoch"]) for t in trn)
                row["epochs"] = " ".join(str(t["epochs"]) for t in trn)
                row["skipped_steps"] = " ".join(str(t.get("skipped_steps", 0)) for t in trn)
                tm, tsd = mean_std([t["train_time_s"] for t in trn])
                row["train_time_s"] = f"{tm:.0f} +- {tsd:.0f}"
            if any("top20_in_T" in t for t in trn):                   # untied nets: layer-averaged |w|
                row["top20_in_T"] = " ".join(str(t["top20_in_T"]) for t in trn if "top20_in_T" in t)
            rows.append(row)
    return rows


def comparison_markdown(rows: list, runs: list) -> str:
    lines = [f"Fig. 3 comparison on the TEST set (512 samples per seed; mean +- std over seeds "
             f"{[r['seed'] for r in runs]}; epochs {runs[0]['epochs']})", "",
             "| task | method | test MSE | median rel. l2 | mean rel. l2 | frac(rel<1e-2) | epochs | best epoch "
             "| train time [s] | skipped steps | top-20 |w| in T |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['method']} | {r['test_mse_mean']:.3g} +- {r['test_mse_std']:.2g} | "
                     f"{r['median_rel_l2_mean']:.3g} +- {r['median_rel_l2_std']:.2g} | {r['mean_rel_l2']:.3g} | "
                     f"{r['frac_rel_lt_1e-2']:.2f} | {r['epochs']} | {r['best_epoch']} | {r['train_time_s']} | "
                     f"{r['skipped_steps']} | {r['top20_in_T']} |")
    return "\n".join(lines) + "\n"


def weights_rows(runs: list) -> list:
    """The learned weights of the tied nets against the hidden set T, one row per (seed, net, index)."""
    rows = []
    for r in runs:
        for task, tr in r["tasks"].items():
            if tr.get("weights") is None:
                continue
            Tset = set(tr["T"])
            for i, wv in enumerate(tr["weights"]):
                rows.append({"seed": r["seed"], "net": TASKS[task]["net"], "index": i, "in_T": int(i in Tset),
                             "oracle_w": int(i in Tset), "learned_w": float(wv)})
    return rows


def figure_tables(runs: list, task: str, errors: dict, losses: pd.DataFrame | None):
    """The tables the report's training figure (:func:`greedybench.analysis.fig_training.draw_training`)
    draws for one task: ``(loss, weights, errors, baselines)``. ``errors``: method -> list of per-seed
    per-sample error arrays (pooled); ``losses``: the first seed's epoch, train_loss, val_loss (or
    None); the weights are the first seed's; the baselines are the test MSEs (mean over seeds) of
    the hard algorithm and its oracle-weighted version."""
    per = [r for r in runs if task in r["tasks"]]
    loss = losses if losses is not None else pd.DataFrame(columns=["epoch", "train_loss", "val_loss"])
    r0 = per[0]["tasks"][task]
    if r0.get("weights") is not None:
        T = set(r0["T"])
        weights = pd.DataFrame({"index": np.arange(len(r0["weights"])), "weight": np.asarray(r0["weights"]),
                                "in_hidden_set": [i in T for i in range(len(r0["weights"]))]})
    else:
        weights = pd.DataFrame(columns=["index", "weight", "in_hidden_set"])
    names = [n for n in METHODS[task] if n in errors]
    err = pd.DataFrame({"method": np.repeat(names, [sum(len(a) for a in errors[n]) for n in names]),
                        "rel_err": np.concatenate([np.concatenate(errors[n]) for n in names]) if names else []})
    hard = "OMP" if task == "omp" else "IHT"
    baselines = {}
    for name in (hard, f"weighted {hard} (oracle)"):
        vals = [r["tasks"][task]["methods"][name]["mse"] for r in per if name in r["tasks"][task]["methods"]]
        if vals:
            baselines[f"{name} test MSE"] = float(np.mean(vals))
    return loss, weights, err, baselines
