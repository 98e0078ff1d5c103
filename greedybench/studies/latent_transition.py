"""Phase transitions of the trained greedy nets on the latent-support family (issue: learned
solvers, part 2; reference deep_greedy_unfolding 5.1 / 5.3).

Per delta = m / N (one Gaussian A with unit columns per delta) and per cell rho = s / m, the
latent model draws one hidden set T of K = 2 s indices (seeded by the cell); every training and
held-out signal has s non-zeros drawn without replacement from T, N(0, 1) values, normalised to
unit l2 norm, noiseless y = A x. Methods, each at the same iteration count within a trio:

* OMP (s atoms), oracle-weighted OMP (weights 1_T, as solvers/omp_oracle.py), OMP-Net (s layers,
  tied w, tau = ``tau``) trained on the cell's training stream;
* IHT (``iht_iters`` iterations, step ``iht_step``), oracle-weighted IHT (weights 1_T, as
  solvers/iht_oracle.py), IHT-Net (same depth and step) trained likewise.

Training: ``steps`` RMSprop steps (lr ``lr``, gradient clipping 1.0, the nets' paper optimiser) of
batch ``batch`` on the final-layer loss mean ||Re x_hat - x||^2; the best of the validations every
``val_every`` steps (``n_val`` samples) is kept. Success: relative l2 error <= ``threshold`` on
``n_test`` held-out problems per cell. rho*(delta) by ``greedybench.analysis.fit_logistic`` with
``bootstrap_rho_star`` intervals; the fraction of the oracle's gain a net recovers is
(rho*_net - rho*_plain) / (rho*_oracle - rho*_plain), with a percentile interval from the
bootstrap samples of the three fits (independent resamples).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

import greedybench as gb

from .. import storage
from ..analysis.phase import bootstrap_rho_star, fit_logistic
from ..nn import IHTNet, OMPNet
from .b1_task import split_seed

try:
    from tqdm.auto import tqdm
except ImportError:                     # pragma: no cover
    tqdm = None

__all__ = ["LatentConfig", "SCALES", "main", "run", "fraction_of_gain"]


@dataclass(frozen=True)
class LatentConfig:
    scale: str = "small"
    N: int = 128
    deltas: Tuple[float, ...] = (0.25, 0.5)
    rhos: Tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    n_test: int = 100
    n_val: int = 128
    batch: int = 32
    steps: int = 150
    val_every: int = 25
    lr: float = 1e-2
    tau: float = 1e-3
    iht_step: float = 0.5
    iht_iters: int = 50
    threshold: float = 1e-2
    n_boot: int = 200
    seed: int = 0


SCALES = {"small": LatentConfig(),
          "ci": LatentConfig(scale="ci", N=48, deltas=(0.5,), rhos=(0.1, 0.3, 0.5, 0.7), n_test=40, n_val=32,
                             batch=16, steps=30, val_every=10, iht_iters=30, n_boot=50)}


def _matrix(cfg: LatentConfig, m: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(split_seed(cfg.seed, "latent-A", m, cfg.N))
    A = torch.randn(m, cfg.N, generator=g, dtype=torch.float64)
    return A / torch.linalg.vector_norm(A, dim=0)


def _hidden_set(cfg: LatentConfig, m: int, s: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(split_seed(cfg.seed, "latent-T", m, cfg.N, s))
    return torch.randperm(cfg.N, generator=g)[:min(2 * s, cfg.N)].sort().values


def _signals(cfg: LatentConfig, T: torch.Tensor, s: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pos = torch.argsort(torch.rand(n, T.numel(), generator=g, dtype=torch.float64), dim=-1)[:, :s]
    X = torch.zeros(n, cfg.N, dtype=torch.float64)
    X.scatter_(1, T[pos], torch.randn(n, s, generator=g, dtype=torch.float64))
    return X / torch.linalg.vector_norm(X, dim=-1, keepdim=True)


def _train(net, cfg: LatentConfig, A, T, s, label: str, Yv, Xv) -> dict:
    opt = torch.optim.RMSprop(net.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-8)

    def val_loss():
        with torch.no_grad():
            return float(((net(Yv).real - Xv) ** 2).sum(-1).mean())

    best, best_state, best_step = val_loss(), {k: v.clone() for k, v in net.state_dict().items()}, 0
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        X = _signals(cfg, T, s, cfg.batch, split_seed(cfg.seed, "latent-train", label, step))
        Y = X @ A.mT
        loss = ((net(Y).real - X) ** 2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        if (step + 1) % cfg.val_every == 0:
            v = val_loss()
            if v < best:
                best, best_state, best_step = v, {k: x.clone() for k, x in net.state_dict().items()}, step + 1
    net.load_state_dict(best_state)
    return {"best_step": best_step, "best_val_mse": best, "seconds": time.perf_counter() - t0}


def _success(X_hat, X, threshold) -> int:
    err = torch.linalg.vector_norm(X_hat.real - X, dim=-1) / torch.linalg.vector_norm(X, dim=-1)
    return int((err <= threshold).sum())


def run_cell(cfg: LatentConfig, delta: float, rho: float) -> list:
    """Success counts of the six methods at one (delta, rho) cell (trains the two nets)."""
    m = max(int(round(delta * cfg.N)), 2)
    s = max(int(round(rho * m)), 1)
    A = _matrix(cfg, m)
    T = _hidden_set(cfg, m, s)
    label = f"{m}-{s}"
    Xt = _signals(cfg, T, s, cfg.n_test, split_seed(cfg.seed, "latent-test", label))
    Xv = _signals(cfg, T, s, cfg.n_val, split_seed(cfg.seed, "latent-val", label))
    Yt, Yv = Xt @ A.mT, Xv @ A.mT
    w = torch.zeros(cfg.N, dtype=torch.float64)
    w[T] = 1.0
    out = {}
    out["omp"] = gb.omp(A, Yt, s)
    out["omp_oracle"] = gb.omp(A, Yt, s, weights=w)
    out["iht"] = gb.iht(A, Yt, s, step=cfg.iht_step, n_iter=cfg.iht_iters)
    out["iht_oracle"] = gb.iht(A, Yt, s, step=cfg.iht_step, n_iter=cfg.iht_iters, weights=w)
    info = {}
    torch.manual_seed(split_seed(cfg.seed, "latent-net", label) % (2 ** 31))
    for name, net in (("omp_net", OMPNet(A, s, tau=cfg.tau)),
                      ("iht_net", IHTNet(A, s, cfg.iht_iters, tau=cfg.tau, step=cfg.iht_step))):
        info[name] = _train(net, cfg, A, T, s, f"{name}-{label}", Yv, Xv)
        with torch.no_grad():
            out[name] = net(Yt)
            top = set(net.learned_support(T.numel()).tolist())
        info[name]["T_recovered"] = len(top & set(T.tolist())) / T.numel()
    rows = []
    for name, X_hat in out.items():
        r = {"delta": delta, "rho": s / m, "rho_nominal": rho, "m": m, "N": cfg.N, "s": s, "K": T.numel(),
             "solver": name, "n_success": _success(X_hat, Xt, cfg.threshold), "n_trials": cfg.n_test}
        r.update({f"train_{k}": v for k, v in info.get(name, {}).items()})
        rows.append(r)
    return rows


def fraction_of_gain(net: np.ndarray, plain: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    """(net - plain) / (oracle - plain), elementwise (NaN where the oracle has no gain)."""
    gain = oracle - plain
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gain > 0, (net - plain) / gain, np.nan)


def _fit_table(cfg: LatentConfig, rows: list) -> list:
    out = []
    for delta in cfg.deltas:
        fits = {}
        for solver in ("omp", "omp_oracle", "omp_net", "iht", "iht_oracle", "iht_net"):
            sel = [r for r in rows if r["delta"] == delta and r["solver"] == solver]
            rho = np.array([r["rho"] for r in sel])
            k = np.array([r["n_success"] for r in sel], dtype=float)
            n = np.array([r["n_trials"] for r in sel], dtype=float)
            fit = fit_logistic(rho, k, n)
            lo, hi, samples = bootstrap_rho_star(rho, k, n, n_boot=cfg.n_boot,
                                                 seed=split_seed(cfg.seed, "boot", delta, solver) % (2 ** 32),
                                                 fit=fit)
            fits[solver] = (fit, samples)
            out.append({"delta": delta, "solver": solver, "rho_star": fit.rho_star, "rho_star_lo": lo,
                        "rho_star_hi": hi, "flag": fit.flag, "rho_star_bound": fit.rho_star_bound,
                        "fraction_of_gain": None, "fraction_lo": None, "fraction_hi": None})
        for fam in ("omp", "iht"):
            (fp, sp), (fo, so), (fn, sn) = fits[fam], fits[f"{fam}_oracle"], fits[f"{fam}_net"]
            frac = fraction_of_gain(np.array([fn.rho_star]), np.array([fp.rho_star]), np.array([fo.rho_star]))[0]
            fs = fraction_of_gain(sn, sp, so)
            fs = fs[np.isfinite(fs)]
            lo, hi = (np.percentile(fs, [2.5, 97.5]) if fs.size else (math.nan, math.nan))
            row = next(r for r in out if r["delta"] == delta and r["solver"] == f"{fam}_net")
            row.update(fraction_of_gain=float(frac), fraction_lo=float(lo), fraction_hi=float(hi))
    return out


CELL_COLUMNS = ["delta", "rho", "rho_nominal", "m", "N", "s", "K", "solver", "n_success", "n_trials",
                "train_best_step", "train_best_val_mse", "train_seconds", "train_T_recovered"]
FIT_COLUMNS = ["delta", "solver", "rho_star", "rho_star_lo", "rho_star_hi", "flag", "rho_star_bound",
               "fraction_of_gain", "fraction_lo", "fraction_hi"]


def run(cfg: LatentConfig, out: Path, *, progress: bool = True, log=print) -> dict:
    """All cells (resumable: finished cells are cached as JSON), then the fits."""
    out = Path(out)
    rows = []
    cells = [(d, r) for d in cfg.deltas for r in cfg.rhos]
    bar = tqdm(cells, desc="latent cells", disable=not progress or tqdm is None, mininterval=2.0)
    key = {"cfg": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}}
    for delta, rho in bar:
        cache = out / "cells" / f"d{delta:g}_r{rho:g}.json"
        hit = None
        if cache.exists():
            hit = json.loads(cache.read_text())
            if hit.get("key") != key:
                hit = None
        cell = hit["rows"] if hit is not None else run_cell(cfg, delta, rho)
        if hit is None:
            storage.write_json(cache, {"key": key, "rows": cell})
        rows.extend(cell)
        log("  delta %.2f rho %.2f: %s" % (delta, rho, ", ".join(f"{r['solver']} {r['n_success']}/{r['n_trials']}"
                                                              for r in cell)))
    fits = _fit_table(cfg, rows)
    storage.write_csv(out / "latent_cells.csv", CELL_COLUMNS, rows)
    storage.write_csv(out / "latent_rho_star.csv", FIT_COLUMNS, fits)
    storage.write_json(out / "latent_run.json", storage.run_record(key["cfg"], device="cpu", dtype="float64"))
    return {"rows": rows, "fits": fits}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="greedybench.studies.latent_transition",
                                description="rho*(delta) of OMP-Net / IHT-Net vs OMP / IHT and the oracle weights.")
    p.add_argument("--scale", choices=sorted(SCALES), default="ci")
    p.add_argument("--out", default="results/latent_transition")
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    cfg = replace(SCALES[a.scale], seed=a.seed, **({"steps": a.steps} if a.steps else {}))
    storage.set_threads(a.threads)
    res = run(cfg, Path(a.out), progress=not a.no_progress, log=lambda s: print(s, flush=True))
    for f in res["fits"]:
        frac = "" if f["fraction_of_gain"] is None else (
            f"  gain recovered {f['fraction_of_gain']:.2f} [{f['fraction_lo']:.2f}, {f['fraction_hi']:.2f}]")
        print(f"delta {f['delta']:.2f} {f['solver']:<11} rho* {f['rho_star']:.3f} "
              f"[{f['rho_star_lo']:.3f}, {f['rho_star_hi']:.3f}] {f['flag']}{frac}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
