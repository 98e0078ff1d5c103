"""Untrained references of the LISTA benchmark B1, evaluated iteration by iteration.

Every method returns a *curve*: the test-set NMSE (ratio of sums, reference 3.2)
``NMSE_dB(k) = 10 log10( sum_b ||x_k,b - x_b||^2 / sum_b ||x_b||^2 )`` at recorded iterations k,
with the matvec count spent to reach k, plus the final estimate for the support F1.

Matvec convention (one matvec = one product with A or A^H for one sample, 2 m N real flops):
ISTA, FISTA, IHT, Soft-IHT, AMP, LISTA-CP(SS), ALISTA, PUDLE-ISTA and IHT-Net spend 2 per
iteration; OMP, Soft-OMP and OMP-Net spend 2 per atom (A^H r and the residual update; the
least-squares update, O(m k), is not counted); LISTA spends 1 for W_e y and N/m per layer for the
(N, N) product S_k x (its cost in matvecs of A).

Lambda of ISTA / FISTA: the grid value with the lowest validation NMSE at that iteration count
(``n_lam_select`` validation samples). OMP and IHT run with the oracle k = |S_b| of each sample
and with the fixed k = ``k_fixed``; IHT with step ``iht_step`` for ``iht_iters`` iterations.
AMP is optional: it runs when ``greedybench.amp`` (another change) is installed and is reported
as 'unavailable' otherwise.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Dict, Iterable, List, Optional

import torch

import greedybench as gb

from ..nn.lista import soft_threshold
from .b1_task import B1Config, B1Data

__all__ = ["PathRecorder", "curve_row", "support_f1", "ista", "run_baselines", "amp_available", "nmse_db"]

CHUNK = 250          # samples per call for the path-recording greedy runs (memory: CHUNK x iters x N)
SUPPORT_TOL = 1e-3   # estimated support: |x_hat_i| > SUPPORT_TOL * max_j |x_hat_j| (per sample)


def nmse_db(sq_err: float, sq_norm: float) -> float:
    return 10.0 * math.log10(sq_err / sq_norm) if sq_err > 0 else -math.inf


class PathRecorder:
    """Accumulates sum_b ||x_k,b - x_b||^2 per recorded iteration k over (chunks of) the test set."""

    def __init__(self, X: torch.Tensor):
        self.X = X.to(torch.float64)
        self.sq_norm = float((self.X ** 2).sum())
        self.sq_err: Dict[int, float] = {}
        self.matvecs: Dict[int, float] = {}

    def add(self, k: int, matvecs: float, X_hat: torch.Tensor, idx: Optional[torch.Tensor] = None) -> None:
        X = self.X if idx is None else self.X[idx]
        e = float(((X_hat.detach().real.to(torch.float64) - X) ** 2).sum())
        self.sq_err[k] = self.sq_err.get(k, 0.0) + e
        self.matvecs[k] = float(matvecs)

    def layers(self) -> List[dict]:
        return [{"iteration": k, "matvecs": self.matvecs[k], "nmse_db": nmse_db(self.sq_err[k], self.sq_norm)}
                for k in sorted(self.sq_err)]


def support_f1(X_hat: torch.Tensor, X: torch.Tensor) -> tuple:
    """(mean F1, exact-support rate) of the estimated supports |x_hat| > SUPPORT_TOL * max |x_hat|."""
    mag = X_hat.detach().abs().to(torch.float64)
    est = mag > SUPPORT_TOL * mag.amax(-1, keepdim=True).clamp_min(1e-300)
    true = X != 0
    hit = (est & true).sum(-1).double()
    denom = (est.sum(-1) + true.sum(-1)).double()
    f1 = torch.where(denom > 0, 2 * hit / denom.clamp_min(1), torch.ones_like(hit))
    return float(f1.mean()), float((est == true).all(-1).double().mean())


def curve_row(name: str, rec: PathRecorder, X_hat: torch.Tensor, X: torch.Tensor, seconds: float,
              n_samples: int, depth: int, **extra) -> dict:
    """The summary row of one method: NMSE at iteration ``depth`` (or the last one if fewer) and at
    the final iteration, F1, time per 1000 samples, plus ``extra`` columns."""
    layers = rec.layers()
    last = layers[-1]
    at_depth = [r for r in layers if r["iteration"] == depth]
    at_depth = at_depth[0] if at_depth else max((r for r in layers if r["iteration"] <= depth),
                                                 key=lambda r: r["iteration"], default=last)
    f1, exact = support_f1(X_hat, X)
    row = {"method": name, "status": "ok", "nmse_db_depth": at_depth["nmse_db"],
           "nmse_db_final": last["nmse_db"], "n_iter": last["iteration"], "matvecs_final": last["matvecs"],
           "support_f1": f1, "exact_support": exact, "sec_per_1000": seconds * 1000.0 / n_samples,
           "params": 0, "trained": False}
    row.update(extra)
    return row, layers


def ista(A: torch.Tensor, Y: torch.Tensor, lam: float, n_iter: int, *, fast: bool = False,
         record: Optional[Callable[[int, torch.Tensor], None]] = None) -> torch.Tensor:
    """ISTA (or FISTA with ``fast``) for min 1/2 ||y - A x||^2 + lam ||x||_1, step 1/L with
    L = ||A||_2^2, x_0 = 0, batched over Y (B, m); ``record(k, x_k)`` is called after iteration k."""
    L = float(torch.linalg.matrix_norm(A.to(torch.float64), ord=2)) ** 2
    x = Y.new_zeros(Y.shape[0], A.shape[1])
    z, t = x, 1.0
    At = A.mT.contiguous()
    for k in range(1, n_iter + 1):
        x_new = soft_threshold(z + (Y - z @ At) @ A / L, lam / L)
        if fast:
            t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
            z = x_new + ((t - 1.0) / t_new) * (x_new - x)
            t = t_new
        else:
            z = x_new
        x = x_new
        if record is not None:
            record(k, x)
    return x


def _recorded_iterations(n_iter: int, depth: int) -> set:
    """1..depth, then a geometric grid up to n_iter (about 10 points per decade)."""
    its = set(range(1, min(depth, n_iter) + 1))
    k = float(depth)
    while k < n_iter:
        its.add(int(round(k)))
        k *= 10 ** 0.1
    its.add(n_iter)
    return its


def _select_lam(cfg: B1Config, A, val: B1Data, n_iter: int, fast: bool) -> float:
    n = min(cfg.n_lam_select, val.Y.shape[0])
    Yv, Xv = val.Y[:n], val.X[:n].to(torch.float64)
    best = None
    for lam in cfg.lam_grid:
        err = float(((ista(A, Yv, lam, n_iter, fast=fast).to(torch.float64) - Xv) ** 2).sum())
        if best is None or err < best[0]:
            best = (err, lam)
    return best[1]


def _run_ista(cfg, A, test, val, n_iter, fast):
    lam = _select_lam(cfg, A, val, n_iter, fast)
    rec = PathRecorder(test.X)
    keep = _recorded_iterations(n_iter, cfg.depth)
    t0 = time.perf_counter()
    x = ista(A, test.Y, lam, n_iter, fast=fast,
             record=lambda k, xk: rec.add(k, 2 * k, xk) if k in keep else None)
    sec = time.perf_counter() - t0
    return rec, x, sec, {"lam": lam}


def _chunked_path(run: Callable, Y: torch.Tensor, rec: PathRecorder, keep: Iterable[int],
                  per_iter_matvecs: float, idx: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Call ``run(Y_chunk) -> path (b, n+1, N)`` chunk by chunk, record the kept iterations, return
    the final iterates."""
    idx = torch.arange(Y.shape[0]) if idx is None else idx
    outs = []
    for c in range(0, idx.numel(), CHUNK):
        ic = idx[c:c + CHUNK]
        path = run(Y[ic])
        for k in keep:
            if k < path.shape[1]:
                rec.add(k, per_iter_matvecs * k, path[:, k], ic)
        outs.append(path[:, -1])
    return torch.cat(outs) if outs else Y.new_zeros(0, rec.X.shape[1])


def _oracle_k(method: str, cfg, A, test, rec):
    """OMP / IHT with k = |S_b| per sample (samples grouped by k)."""
    X_hat = test.X.new_zeros(test.X.shape)
    n_iter = None if method == "omp" else cfg.iht_iters
    keep = None if method == "omp" else _recorded_iterations(cfg.iht_iters, cfg.depth)
    if method == "omp":
        k_max = int(test.k.max())
        keep = range(1, k_max + 1)
    for k in sorted(set(int(v) for v in test.k.tolist())):
        idx = torch.nonzero(test.k == k).flatten()
        if k == 0:
            for j in keep:
                rec.add(j, 2 * j, X_hat[idx], idx)
            continue
        if method == "omp":
            path = gb.omp(A, test.Y[idx], k, return_path=True)
            # after k atoms the estimate stays x_k (oracle stop): extend the path for the curve
            for j in keep:
                rec.add(j, 0, path[:, min(j, k)], idx)
            X_hat[idx] = path[:, -1].to(X_hat.dtype)
        else:
            X_hat[idx] = _chunked_path(
                lambda Yc: gb.iht(A, Yc, k, step=cfg.iht_step, n_iter=n_iter, return_path=True),
                test.Y, rec, keep, 2, idx).to(X_hat.dtype)
    if method == "omp":                  # matvecs of iteration j: 2 min(j, k_b), averaged over the samples
        for j in keep:
            rec.matvecs[j] = 2.0 * float(torch.clamp(test.k, max=j).double().mean())
    return X_hat


def amp_available() -> bool:
    return callable(getattr(gb, "amp", None))


def _run_amp(cfg, A, test, rec):
    ks = sorted(_recorded_iterations(cfg.long_iters, cfg.depth))
    path = gb.amp(A, test.Y, n_iter=max(ks), return_path=True)       # (B, n_iter + 1, N)
    for k in ks:
        rec.add(k, 2 * k, path[:, min(k, path.shape[1] - 1)])
    return path[:, -1]


def run_baselines(cfg: B1Config, A: torch.Tensor, test: B1Data, val: B1Data, snr_label: str,
                  log=print) -> tuple:
    """All untrained references on the test set: (rows, layer rows), rows as in ``curve_row``."""
    rows, layers = [], []
    n = test.Y.shape[0]
    D, k70 = cfg.depth, cfg.k_fixed

    def add(name, rec, x, sec, **extra):
        row, lay = curve_row(name, rec, x, test.X, sec, n, D, snr_db=snr_label, **extra)
        rows.append(row)
        layers.extend({"method": name, "snr_db": snr_label, **r} for r in lay)
        log(f"  {name:<16} NMSE@{D} {row['nmse_db_depth']:7.2f} dB  final {row['nmse_db_final']:7.2f} dB  "
            f"F1 {row['support_f1']:.3f}  ({sec:.1f} s)")

    for fast, base in ((False, "ista"), (True, "fista")):
        for it in (D, cfg.long_iters):
            rec, x, sec, extra = _run_ista(cfg, A, test, val, it, fast)
            add(f"{base}-{it}", rec, x, sec, **extra)

    for method in ("omp", "iht"):
        rec = PathRecorder(test.X)
        t0 = time.perf_counter()
        x = _oracle_k(method, cfg, A, test, rec)
        add(f"{method}-oracle-k", rec, x, time.perf_counter() - t0, k="oracle")
        rec = PathRecorder(test.X)
        t0 = time.perf_counter()
        if method == "omp":
            x = _chunked_path(lambda Yc: gb.omp(A, Yc, k70, return_path=True), test.Y, rec,
                              range(1, k70 + 1), 2)
        else:
            x = _chunked_path(lambda Yc: gb.iht(A, Yc, k70, step=cfg.iht_step, n_iter=cfg.iht_iters,
                                                return_path=True),
                              test.Y, rec, _recorded_iterations(cfg.iht_iters, D), 2)
        add(f"{method}-k{k70}", rec, x, time.perf_counter() - t0, k=k70)

    rec = PathRecorder(test.X)
    t0 = time.perf_counter()
    x = _chunked_path(lambda Yc: gb.soft_omp(A, Yc, D, tau=cfg.tau, return_path=True), test.Y, rec,
                      range(1, D + 1), 2)
    add("soft-omp", rec, x, time.perf_counter() - t0, k=D)
    rec = PathRecorder(test.X)
    t0 = time.perf_counter()
    x = _chunked_path(lambda Yc: gb.soft_iht(A, Yc, k70, tau=cfg.tau, step=cfg.iht_step, n_iter=D,
                                             return_path=True), test.Y, rec, range(1, D + 1), 2)
    add("soft-iht", rec, x, time.perf_counter() - t0, k=k70)

    if amp_available():
        rec = PathRecorder(test.X)
        t0 = time.perf_counter()
        try:
            x = _run_amp(cfg, A, test, rec)
            add("amp", rec, x, time.perf_counter() - t0)
        except (AttributeError, TypeError, ValueError, RuntimeError) as exc:
            rows.append({"method": "amp", "snr_db": snr_label, "status": f"unavailable: {exc}"})
            log(f"  amp              unavailable: {exc}")
    else:
        rows.append({"method": "amp", "snr_db": snr_label, "status": "unavailable: greedybench.amp not installed"})
        log("  amp              unavailable (greedybench.amp not installed)")
    return rows, layers
