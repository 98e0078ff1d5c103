"""Generate stage: instance slices for the phase-transition grid and the train/val/test draw.

A slice directory holds ``manifest.json`` (written last) and one instance file per rho, written
with :func:`greedybench.datasets.save_instance`; the whole directory is built under a temporary
name and renamed into place, so a half-written slice is never seen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, Sequence, Tuple

import torch

from ..datasets import Instance, load_instance, make_instance, save_instance
from ..storage import atomic_dir, write_json

__all__ = ["generate_phase_slice", "generate_training_data", "read_manifest", "load_slice_instance", "DTYPES",
           "FAMILY_KEYS"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: the keys of a family (config ``families.<name>``) that make its instances
FAMILY_KEYS = ("ensemble", "signal", "amplitude", "normalize", "shared_A", "K", "block")


def _family_kwargs(family: dict) -> dict:
    return {k: family[k] for k in FAMILY_KEYS if family.get(k) is not None}


def generate_phase_slice(out_dir, *, family_name: str, family: dict, N: int, delta: float, seed: int,
                         cells: Iterable[Sequence], trials: int, sigma: float, dtype: str) -> Path:
    """One (family, N, delta, seed) slice: an instance of ``trials`` problems per (rho, m, s) cell."""
    entries = []
    with atomic_dir(out_dir) as tmp:
        for rho, m, s in cells:
            inst = make_instance(m=int(m), N=int(N), s=int(s), batch=int(trials), seed=int(seed),
                                 sigma=float(sigma), dtype=DTYPES[dtype], **_family_kwargs(family))
            name = f"rho{float(rho)!r}.npz"
            save_instance(inst, tmp / name)
            entries.append({"file": name, "rho": float(rho), "m": int(m), "s": int(s)})
        write_json(tmp / "manifest.json", {
            "experiment": "phase", "family": family_name, "N": int(N), "delta": float(delta),
            "seed": int(seed), "sigma": float(sigma), "dtype": dtype, "instances": entries})
    return Path(out_dir)


def _split(inst, start: int, stop: int, split: str):
    A = inst.A if inst.A.dim() == 2 else inst.A[start:stop]
    meta = dict(inst.meta, batch=stop - start, split=split, split_start=start, draw_batch=inst.B)
    return Instance(A=A.clone(), X=inst.X[start:stop].clone(), Y=inst.Y[start:stop].clone(),
                    support=inst.support[start:stop].clone(), meta=meta)


def generate_training_data(trainval_dir, test_dir, *, set_name: str, family_name: str, family: dict,
                           m: int, N: int, s: int, sigma: float, n_train: int, n_val: int,
                           n_test: int, seed: int, dtype: str) -> Tuple[Path, Path]:
    """One draw of n_train + n_val + n_test problems (so A and the hidden set T are shared),
    split into consecutive train / val / test slices."""
    total = n_train + n_val + n_test
    inst = make_instance(m=m, N=N, s=s, batch=total, seed=seed, sigma=float(sigma), dtype=DTYPES[dtype],
                         **_family_kwargs(family))
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, total)}
    common = {"experiment": "train", "set": set_name, "family": family_name, "N": N, "delta": m / N, "seed": seed,
              "sigma": float(sigma), "dtype": dtype}
    for out, splits in ((trainval_dir, ("train", "val")), (test_dir, ("test",))):
        with atomic_dir(out) as tmp:
            entries = []
            for split in splits:
                name = f"{split}.npz"
                save_instance(_split(inst, *bounds[split], split), tmp / name)
                entries.append({"file": name, "split": split, "rho": s / m, "m": m, "s": s})
            write_json(tmp / "manifest.json", dict(common, instances=entries))
    return Path(trainval_dir), Path(test_dir)


def read_manifest(instance_dir) -> Dict:
    """The manifest of a slice directory (FileNotFoundError names the directory)."""
    path = Path(instance_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{instance_dir}: no manifest.json (an incomplete instance slice; rerun the generate job)")
    with open(path) as fh:
        return json.load(fh)


def load_slice_instance(instance_dir, manifest: Dict, item: Dict, family: Dict, *, device: str = "cpu"):
    """Load one instance of a slice and check that it is the one its place asks for.

    The manifest (N, seed, sigma, dtype), its entry (m, s, and the split of a training set) and the
    family's keys must match the file's own metadata: a valid file copied into another cell or
    slice is refused (``datasets.InstanceFileError``) instead of being solved as if it belonged there.
    """
    expect = {"N": manifest["N"], "seed": manifest["seed"], "sigma": manifest["sigma"],
              "dtype": manifest["dtype"], "m": item["m"], "s": item["s"], **_family_kwargs(family)}
    if "split" in item:
        expect["split"] = item["split"]
    path = Path(instance_dir) / item["file"]
    return load_instance(path, device=device, expect=expect), path
