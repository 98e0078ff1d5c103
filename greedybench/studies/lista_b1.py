"""The LISTA benchmark B1 (reference unfolded_baselines 3.2, task B1): run it, resumably.

    python -m greedybench.studies.lista_b1 --scale ci --out results/b1_ci
    python -m greedybench.studies.lista_b1 --scale full --snr 40 --out results/b1     # ~25 min per SNR, 1 core

Per SNR: the untrained references (``b1_baselines``: ISTA / FISTA at ``depth`` and
``long_iters`` iterations, OMP and IHT with oracle k and k = ``k_fixed``, Soft-OMP, Soft-IHT, AMP if
installed), then every learned method (LISTA untied, LISTA-CP, LISTA-CPSS, ALISTA, PUDLE-ISTA,
OMP-Net, IHT-Net; ``--alista-paper`` adds ALISTA under its layer-wise schedule) trained under the
one budget of ``B1Config`` and evaluated on the fixed test set.

Outputs (all through ``greedybench.storage``, so atomic):

* ``b1_results.csv`` -- one row per (method, SNR): NMSE (dB, ratio of sums) at iteration ``depth``
  and at the last iteration, support F1 and exact-support rate, seconds per 1000 samples, trainable
  parameters, training steps / seconds / best step, and the provenance columns;
* ``b1_layers.csv`` -- NMSE per iteration with the matvec count (the curves, and NMSE vs matvecs);
* ``b1_training.csv`` -- training histories (step, running train loss, validation NMSE dB);
* ``b1_run.json`` -- ``storage.run_record`` with the configuration and the wall time;
* ``checkpoints/snr<label>/<method>.pt`` and ``cache/*.json``: the resume state. A rerun with the
  same configuration skips finished methods and resumes interrupted training.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

from .. import storage
from ..nn import alista_weight_matrix
from .b1_baselines import run_baselines
from .b1_task import B1Config, config_for, make_matrix, make_split, snr_label
from .b1_train import LEARNED, build_model, evaluate_model, finished, train_alista_paper, train_method

__all__ = ["main", "run", "RESULT_COLUMNS", "LAYER_COLUMNS", "ALL_METHODS"]

ALL_METHODS = ("baselines",) + tuple(LEARNED) + ("alista-paper",)
RESULT_COLUMNS = ["method", "snr_db", "status", "trained", "nmse_db_depth", "nmse_db_final", "n_iter",
                  "matvecs_final", "support_f1", "exact_support", "sec_per_1000", "params", "train_steps",
                  "train_seconds", "best_step", "best_val_nmse_db", "optimizer", "lr", "lam", "k", "scale",
                  "m", "N", "depth", "seed", "device", "dtype", "torch_version", "numpy_version",
                  "greedybench_version", "git_commit", "threads", "host"]
LAYER_COLUMNS = ["method", "snr_db", "iteration", "matvecs", "nmse_db"]
TRAINING_COLUMNS = ["method", "snr_db", "step", "train_loss", "val_nmse_db"]

# Layer-16 NMSE ranges (dB) of reference unfolded_baselines 3.2 ([approx], read off Chen 2018 /
# Liu 2019 plots; "about v" is taken as v +- 2 dB). Keys: method, SNR label.
REFERENCE_DB = {
    "ista-16": {s: (-7.0, -3.0) for s in ("inf", "40", "30")},
    "fista-16": {s: (-12.0, -8.0) for s in ("inf", "40", "30")},
    "lista": {"inf": (-45.0, -35.0), "40": (-37.0, -33.0), "30": (-30.0, -28.0)},
    "lista-cp": {"inf": (-50.0, -45.0), "40": (-40.0, -36.0), "30": (-32.0, -28.0)},
    "lista-cpss": {"inf": (-70.0, -60.0), "40": (-42.0, -40.0), "30": (-32.0, -31.0)},
    "alista": {"inf": (-70.0, -60.0), "40": (-42.0, -40.0), "30": (-32.0, -31.0)},
    "alista-paper": {"inf": (-70.0, -60.0), "40": (-42.0, -40.0), "30": (-32.0, -31.0)},
}


def reference_gap(method: str, snr: str, value: float):
    """(range text, dB above the range's upper end (> 0: worse than the reference), or below its
    lower end (< 0), 0 inside); (None, None) without a reference value."""
    rng = REFERENCE_DB.get(method, {}).get(snr)
    if rng is None or value is None or not math.isfinite(value):
        return None, None
    lo, hi = rng
    gap = value - hi if value > hi else (value - lo if value < lo else 0.0)
    return f"[{lo:g}, {hi:g}]", gap


def summary_markdown(rows, depth: int, reference: bool = True) -> str:
    """The B1 table: one line per method, NMSE at ``depth`` per SNR (with the reference range and
    the gap to it when ``reference``: full scale only), final NMSE, F1, time, params."""
    snrs = sorted({r["snr_db"] for r in rows}, key=lambda s: -math.inf if s == "inf" else -float(s))
    by = {(r["method"], r["snr_db"]): r for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = (["method"] + [f"NMSE@{depth} {s} dB" for s in snrs] + [f"final {s}" for s in snrs]
            + ["F1 (" + snrs[0] + ")", "s / 1000", "params", "train steps", "train s (" + snrs[0] + ")"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def num(v, f="{:.2f}"):
        try:
            v = float(v)
        except (TypeError, ValueError):
            return "-"
        return f.format(v) if math.isfinite(v) else str(v)

    for m in methods:
        runs = [by[(m, s)] for s in snrs if (m, s) in by]
        first = next((r for r in runs if str(r.get("status", "ok")) == "ok"), runs[0] if runs else {})
        if str(first.get("status", "ok")) != "ok":
            lines.append(f"| {m} | " + " | ".join([first.get("status", "")] + ["-"] * (len(head) - 2)) + " |")
            continue
        cells = [m]
        for s in snrs:
            r = by.get((m, s), {})
            v = num(r.get("nmse_db_depth"))
            rng, gap = (reference_gap(m, s, float(r["nmse_db_depth"]))
                        if reference and r.get("nmse_db_depth") not in (None, "") else (None, None))
            cells.append(v if rng is None else f"{v} (ref {rng}, {gap:+.1f})")
        cells += [num(by.get((m, s), {}).get("nmse_db_final")) for s in snrs]
        cells += [num(first.get("support_f1"), "{:.3f}"), num(first.get("sec_per_1000"), "{:.3g}"),
                  str(first.get("params", "")), str(first.get("train_steps") or "-"),
                  num(first.get("train_seconds"), "{:.0f}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _parse_snr(text: str) -> float:
    t = text.strip().lower()
    if t in ("inf", "infinity", "noiseless"):
        return math.inf
    try:
        v = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"SNR must be a number of dB or 'inf'; got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"SNR must be > 0 dB or 'inf'; got {text!r}")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="greedybench.studies.lista_b1",
                                description="The LISTA benchmark B1 (known dictionary, Bernoulli-Gaussian codes).")
    p.add_argument("--scale", choices=("ci", "full"), default="ci")
    p.add_argument("--out", default="results/b1", help="output directory (default results/b1)")
    p.add_argument("--snr", type=_parse_snr, action="append",
                   help="SNR in dB or 'inf' (repeatable; default: the scale's list)")
    p.add_argument("--methods", default="all",
                   help=f"comma list from {', '.join(ALL_METHODS)}, or 'all' (alista-paper needs --alista-paper)")
    p.add_argument("--steps", type=int, help="training steps per learned method (overrides the scale)")
    p.add_argument("--val-every", type=int, help="validation interval in steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alista-paper", action="store_true", help="also train ALISTA with the layer-wise schedule")
    p.add_argument("--alista-paper-steps", type=int, help="per-stage step cap of that schedule")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-train", action="store_true",
                   help="evaluate finished checkpoints only; unfinished learned methods are reported as not run")
    return p


def _methods(spec: str, cfg: B1Config) -> List[str]:
    if spec == "all":
        names = [m for m in ALL_METHODS if m != "alista-paper" or cfg.alista_paper]
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
        bad = [n for n in names if n not in ALL_METHODS]
        if bad:
            raise SystemExit(f"lista_b1: unknown method(s) {bad}; choose from {list(ALL_METHODS)}")
    return names


def _common(cfg: B1Config) -> dict:
    return {"scale": cfg.scale, "m": cfg.m, "N": cfg.N, "depth": cfg.depth, "seed": cfg.seed,
            **storage.provenance("cpu", cfg.dtype)}


def run(cfg: B1Config, out: Path, methods: Sequence[str], *, progress: bool = True, log=print,
        train: bool = True) -> dict:
    """Run B1 for ``methods`` at every SNR of ``cfg``; returns {'rows', 'layers', 'training'}.
    ``train=False`` only evaluates finished checkpoints and reports the other learned methods with
    status 'not run: no finished checkpoint' (to assemble the tables of runs stopped early)."""
    out = Path(out)
    t_start = time.perf_counter()
    A = make_matrix(cfg)
    W = None
    rows, layers, training = [], [], []
    for snr in cfg.snrs:
        lab = snr_label(snr)
        log(f"== B1 {cfg.scale}: m={cfg.m} N={cfg.N} depth={cfg.depth} SNR={lab} dB ==")
        test, val = make_split(cfg, A, "test", snr), make_split(cfg, A, "val", snr)
        ckdir = out / "checkpoints" / f"snr{lab}"
        if "baselines" in methods:
            cache = out / "cache" / f"baselines_snr{lab}.json"
            key = json.loads(json.dumps({"cfg": {k: v for k, v in cfg.to_dict().items()
                                                 if k not in ("snrs", "alista_paper", "alista_paper_steps")}}))
            hit = None
            if cache.exists():
                with open(cache) as fh:
                    hit = json.load(fh)
                if hit.get("key") != key:
                    hit = None
            if hit is None:
                b_rows, b_layers = run_baselines(cfg, A, test, val, lab, log=log)
                storage.write_json(cache, {"key": key, "rows": b_rows, "layers": b_layers})
            else:
                b_rows, b_layers = hit["rows"], hit["layers"]
                log(f"  baselines: reused {cache}")
            rows.extend(b_rows)
            layers.extend(b_layers)
        for name in methods:
            if name == "baselines":
                continue
            ck = ckdir / f"{name}.pt"
            if not train and not finished(name, cfg, snr, ck):
                rows.append({"method": name, "snr_db": lab, "status": "not run: no finished checkpoint"})
                log(f"  {name:<16} not run (no finished checkpoint)")
                continue
            if name in ("alista", "alista-paper") and W is None:
                W = alista_weight_matrix(A)
            model = build_model(name, cfg, A, W)
            if name == "alista-paper":
                info = train_alista_paper(model, cfg, A, snr, val, ckpt=ck, progress=progress, log=log)
            else:
                info = train_method(name, model, cfg, A, snr, val, ckpt=ck, progress=progress, log=log)
            row, lay = evaluate_model(name, model, test, cfg.depth, lab)
            row.update(train_steps=info["steps"], train_seconds=info["seconds"], best_step=info["best_step"],
                       best_val_nmse_db=info["best_val_nmse_db"], optimizer=info["optimizer"], lr=info["lr"],
                       lam=cfg.lam if name.startswith(("lista", "alista", "pudle")) else None,
                       k=cfg.k_fixed if name == "iht-net" else None)
            rows.append(row)
            layers.extend(lay)
            training.extend({"method": name, "snr_db": lab, "step": s, "train_loss": tl, "val_nmse_db": v}
                            for s, tl, v in info["history"])
            log(f"  {name:<16} NMSE@{cfg.depth} {row['nmse_db_depth']:7.2f} dB  F1 {row['support_f1']:.3f}  "
                f"params {row['params']}  trained {info['steps']} steps in {info['seconds']:.0f} s "
                f"(best step {info['best_step']}, val {info['best_val_nmse_db']:.2f} dB)")
        _write(out, cfg, rows, layers, training, methods, time.perf_counter() - t_start)   # after every SNR
    common = _common(cfg)
    return {"rows": [{**common, **r} for r in rows], "layers": layers, "training": training}


def _write(out: Path, cfg: B1Config, rows, layers, training, methods, seconds: float) -> None:
    common = _common(cfg)
    storage.write_csv(out / "b1_results.csv", RESULT_COLUMNS, [{**common, **r} for r in rows])
    storage.write_csv(out / "b1_layers.csv", LAYER_COLUMNS, layers)
    storage.write_csv(out / "b1_training.csv", TRAINING_COLUMNS, training)
    rec = storage.run_record(cfg.to_dict(), device="cpu", dtype=cfg.dtype)
    rec["wall_seconds"] = seconds
    rec["methods"] = list(methods)
    storage.write_json(out / "b1_run.json", rec)
    storage.atomic_write_text(out / "b1_summary.md", summary_markdown(rows, cfg.depth, reference=cfg.scale == "full"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI entry: ``main(["--scale", "ci", "--out", "results/b1_ci"])``; returns 0 on success."""
    args = _parser().parse_args(argv)
    over = {"seed": args.seed}
    if args.snr:
        over["snrs"] = tuple(args.snr)
    if args.steps is not None:
        over["steps"] = args.steps
    if args.val_every is not None:
        over["val_every"] = args.val_every
    if args.alista_paper:
        over["alista_paper"] = True
    if args.alista_paper_steps is not None:
        over["alista_paper_steps"] = args.alista_paper_steps
    cfg = config_for(args.scale, **over)
    storage.set_threads(args.threads)
    run(cfg, Path(args.out), _methods(args.methods, cfg), progress=not args.no_progress,
        log=lambda msg: print(msg, flush=True), train=not args.no_train)
    return 0


if __name__ == "__main__":
    sys.exit(main())
