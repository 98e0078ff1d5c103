"""Cheat that a sandbox alone cannot stop: the stored instances are public (the grid's seed is in
config/leaderboard.yaml), so it rebuilds them from the grid file instead of ``problem.meta``. Only
``compare --seed`` (instances it cannot know) exposes it."""
import torch

from greedybench.datasets import make_instance
from greedybench.leaderboard import load_grid

name = "cheat_config_seed"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": False}
parameters = {}

GRID = load_grid()


def solve(problem):
    real = problem.y.real.dtype
    for fam in GRID.families.values():
        kw = {k: fam[k] for k in ("ensemble", "signal", "amplitude", "normalize", "shared_A", "K", "block")
              if fam.get(k) is not None}
        if kw["ensemble"] != problem.meta.get("ensemble"):
            continue
        inst = make_instance(m=problem.m, N=problem.N, s=problem.s, batch=problem.B, seed=GRID.seed,
                             sigma=problem.sigma, dtype=real, **kw)
        if inst.A.shape == problem.A.shape and torch.allclose(inst.A.to(problem.A.dtype), problem.A):
            return inst.X.to(real)
    return torch.zeros(problem.B, problem.N, dtype=real)
