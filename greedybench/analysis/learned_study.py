"""The learned-solver studies' tables as the report draws them (``fig_learned`` draws, this computes).

Inputs are the output folders of ``python -m greedybench.studies.lista_b1`` (``b1_layers.csv``,
``b1_results.csv``, ``b1_training.csv``, ``b1_run.json``) and of
``python -m greedybench.studies.latent_transition`` (``latent_rho_star.csv``, ``latent_cells.csv``,
``latent_run.json``). Only the CSV/JSON files are read: the analysis layer does not import the
studies (they sit above it).

- :func:`read_b1` / :func:`read_latent`: the tables of a folder, or the reason they cannot be read;
- :func:`b1_curves`: NMSE (dB) per iteration, per method and SNR, with the method's kind
  (learned or untrained);
- :func:`lasso_floor`: per SNR, the NMSE of the longest FISTA run at its last iteration (``fista-1000``
  at full scale, ``fista-300`` at CI scale: the LASSO solution);
- :func:`b1_training_curves`: the nets' validation NMSE and running training loss per step;
- :func:`latent_curves` / :func:`gain_table`: rho*(delta) with intervals per family (OMP, IHT) and
  role (plain, oracle, net), and the fraction of the oracle's gain each net recovers.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["B1_FILES", "LATENT_FILES", "lasso_method", "read_b1", "read_latent", "snr_order", "snr_text",
           "b1_curves", "lasso_floor", "b1_training_curves", "b1_layer_table", "latent_curves", "gain_table"]

B1_FILES = ("b1_layers.csv", "b1_results.csv", "b1_training.csv")
LATENT_FILES = ("latent_rho_star.csv",)
_LONG_FISTA = re.compile(r"^fista-(\d+)$")
MIN_FLOOR_ITERS = 100   # a FISTA run this long or longer stands for the LASSO solution
# methods whose rows say trained=True in b1_results.csv; this is the fallback for a table without it
_LEARNED = ("lista", "lista-cp", "lista-cpss", "alista", "alista-paper", "pudle-ista", "omp-net", "iht-net")
ROLES = {"": "plain (untrained)", "_oracle": "oracle weights 1_T", "_net": "trained net"}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_b1(folder):
    """``(tables, None)`` with tables = {layers, results, training, run} of a B1 output folder, or
    ``(None, reason)`` when a file is missing or empty."""
    folder = Path(folder)
    missing = [f for f in B1_FILES if not (folder / f).is_file()]
    if missing:
        return None, f"no {', '.join(missing)} in {folder}"
    t = {name: pd.read_csv(folder / f"b1_{name}.csv", dtype={"snr_db": str})
         for name in ("layers", "results", "training")}
    if t["layers"].empty:
        return None, f"{folder / 'b1_layers.csv'} has no rows"
    t["run"] = _read_json(folder / "b1_run.json")
    return t, None


def read_latent(folder):
    """``(tables, None)`` with tables = {fits, cells, run} of a latent-transition output folder, or
    ``(None, reason)``."""
    folder = Path(folder)
    path = folder / "latent_rho_star.csv"
    if not path.is_file():
        return None, f"no latent_rho_star.csv in {folder}"
    fits = pd.read_csv(path)
    if fits.empty:
        return None, f"{path} has no rows"
    cells = pd.read_csv(folder / "latent_cells.csv") if (folder / "latent_cells.csv").is_file() else pd.DataFrame()
    return {"fits": fits, "cells": cells, "run": _read_json(folder / "latent_run.json")}, None


def snr_order(labels) -> list:
    """SNR labels ('inf', '40', '30') from the cleanest: noiseless first, then decreasing dB."""
    return sorted(set(map(str, labels)), key=lambda s: -math.inf if s == "inf" else -float(s))


def snr_text(label: str) -> str:
    return "noiseless (SNR = inf)" if str(label) == "inf" else f"SNR = {label} dB"


def _learned_names(results: pd.DataFrame) -> set:
    if "trained" in results.columns:
        return set(results.loc[results["trained"].astype(str).str.lower().isin(("true", "1")), "method"])
    return set(_LEARNED)


def b1_curves(layers: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """NMSE (dB) per iteration: columns method, snr_db, iteration, matvecs, nmse_db, learned
    (bool); finite rows only, ordered by SNR, then the order of the methods in the results."""
    d = layers.copy()
    d["snr_db"] = d["snr_db"].astype(str)
    d = d[np.isfinite(d["nmse_db"].astype(float))]
    d["learned"] = d["method"].isin(_learned_names(results))
    order = {m: i for i, m in enumerate(dict.fromkeys(list(results["method"]) + list(d["method"])))}
    snr = {s: i for i, s in enumerate(snr_order(d["snr_db"]))}
    d = d.assign(_s=d["snr_db"].map(snr), _m=d["method"].map(order))
    return d.sort_values(["_s", "_m", "iteration"]).drop(columns=["_s", "_m"]).reset_index(drop=True)


def lasso_method(curves: pd.DataFrame):
    """The FISTA run with the most iterations (at least ``MIN_FLOOR_ITERS``), or None."""
    runs = {m: int(g["iteration"].max()) for m, g in curves.groupby("method") if _LONG_FISTA.match(str(m))}
    runs = {m: n for m, n in runs.items() if n >= MIN_FLOOR_ITERS}
    return max(runs, key=runs.get) if runs else None


def lasso_floor(curves: pd.DataFrame, method: str | None = None) -> pd.DataFrame:
    """Per SNR: the NMSE (dB) of ``method`` (default :func:`lasso_method`) at its last iteration
    (columns snr_db, method, iterations, nmse_db); empty when there is no such run."""
    method = method or lasso_method(curves)
    d = curves[curves["method"] == method]
    rows = [{"snr_db": s, "method": method, "iterations": int(g["iteration"].max()),
             "nmse_db": float(g.loc[g["iteration"].idxmax(), "nmse_db"])} for s, g in d.groupby("snr_db")]
    return pd.DataFrame(rows, columns=["snr_db", "method", "iterations", "nmse_db"])


def b1_layer_table(curves: pd.DataFrame, depth: int) -> pd.DataFrame:
    """Per method and SNR: the NMSE (dB) at iteration ``depth`` (or the last one before it) and at
    the last iteration; the numbers the captions quote."""
    rows = []
    for (m, s), g in curves.groupby(["method", "snr_db"], sort=False):
        at = g[g["iteration"] <= depth]
        rows.append({"method": m, "snr_db": s, "learned": bool(g["learned"].iloc[0]),
                     "nmse_db_depth": float(at.loc[at["iteration"].idxmax(), "nmse_db"]) if len(at) else math.nan,
                     "last_iteration": int(g["iteration"].max()),
                     "nmse_db_last": float(g.loc[g["iteration"].idxmax(), "nmse_db"])})
    return pd.DataFrame(rows)


def b1_training_curves(training: pd.DataFrame) -> pd.DataFrame:
    """The training histories: method, snr_db, step, train_loss (running mean; NaN where the
    schedule records none), val_nmse_db; ordered by SNR, method, step."""
    d = training.copy()
    if d.empty:
        return d
    d["snr_db"] = d["snr_db"].astype(str)
    snr = {s: i for i, s in enumerate(snr_order(d["snr_db"]))}
    order = {m: i for i, m in enumerate(dict.fromkeys(d["method"]))}
    d = d.assign(_s=d["snr_db"].map(snr), _m=d["method"].map(order))
    return d.sort_values(["_s", "_m", "step"]).drop(columns=["_s", "_m"]).reset_index(drop=True)


def latent_curves(fits: pd.DataFrame) -> pd.DataFrame:
    """rho*(delta) with its interval per family (omp, iht) and role (plain, oracle, net): columns
    family, role, solver, delta, rho_star, lo, hi, flag."""
    rows = []
    for _, r in fits.iterrows():
        solver = str(r["solver"])
        fam, role = next(((solver[: -len(suf)] if suf else solver, suf) for suf in ("_oracle", "_net", "")
                          if suf == "" or solver.endswith(suf)))
        rows.append({"family": fam, "role": ROLES[role], "solver": solver, "delta": float(r["delta"]),
                     "rho_star": float(r["rho_star"]), "lo": float(r["rho_star_lo"]),
                     "hi": float(r["rho_star_hi"]), "flag": str(r.get("flag", ""))})
    d = pd.DataFrame(rows)
    fam = {f: i for i, f in enumerate(dict.fromkeys(d["family"]))}   # the study's order: omp, iht
    return (d.assign(_f=d["family"].map(fam)).sort_values(["_f", "delta"], kind="stable")
            .drop(columns="_f").reset_index(drop=True))


def gain_table(fits: pd.DataFrame) -> pd.DataFrame:
    """The fraction of the oracle's rho* gain each net recovers, (net - plain) / (oracle - plain),
    with its bootstrap interval (as the study computed it): columns family, delta, fraction, lo, hi."""
    d = fits[fits["solver"].astype(str).str.endswith("_net")].dropna(subset=["fraction_of_gain"])
    return pd.DataFrame({"family": d["solver"].str.removesuffix("_net"), "delta": d["delta"].astype(float),
                         "fraction": d["fraction_of_gain"].astype(float), "lo": d["fraction_lo"].astype(float),
                         "hi": d["fraction_hi"].astype(float)}).reset_index(drop=True)
