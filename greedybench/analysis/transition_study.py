"""Transitions of solvers on generated problems: trial functions for
:func:`greedybench.analysis.transition.locate_transition`, built on
:func:`greedybench.datasets.make_instance` and the public kernels or the solver registry (no
pipeline code).

    from greedybench.analysis.transition_study import locate_solver_transition
    res = locate_solver_transition("htp[step=normalized]", N=512, delta=0.5, seed=0)
    res.rho_star, (res.ci_lo, res.ci_hi), res.counts

Trials: a call ``run(s, n, seed)`` draws its n problems in chunks of ``trials_per_matrix``, each
chunk with its own sensing matrix (a fresh A per small batch, limits.md 2.5: batching many x over
one A correlates the trials), from seeds derived from (seed, chunk index) only.
"""

from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np
import torch

from ..datasets import make_instance
from ..registry import ProblemBatch, Variant, get_solver, parse_variant, run_solver
from .transition import TransitionProtocol, TransitionResult, locate_transition

__all__ = ["SUCCESS_RULES", "successes", "variant_solver", "trial_function",
           "locate_solver_transition"]

#: success rules: relative l2 error (the suite's default, Maleki-Donoho use 1e-2), relative
#: l-infinity error (GAGA), exact support of the s largest entries
SUCCESS_RULES = ("rel_l2", "linf", "support")


def successes(x_hat: torch.Tensor, x: torch.Tensor, s: int, *, rule: str = "rel_l2",
              threshold: float = 1e-3) -> torch.Tensor:
    """Per-problem success flags (B,) of estimates x_hat against the truth x, both (B, N)."""
    if rule == "rel_l2":
        err = torch.linalg.vector_norm(x_hat - x, dim=-1) / torch.linalg.vector_norm(x, dim=-1)
        return err <= threshold
    if rule == "linf":
        err = (x_hat - x).abs().amax(-1) / x.abs().amax(-1)
        return err <= threshold
    if rule == "support":
        est = torch.zeros_like(x, dtype=torch.bool).scatter(1, x_hat.abs().topk(s, dim=-1).indices, True)
        return (est == (x != 0)).all(-1)
    raise ValueError(f"successes: rule must be one of {SUCCESS_RULES}; got {rule!r}.")


def variant_solver(spec: str) -> Callable:
    """``solve(A, Y, s) -> X`` running the registry variant ``spec`` (e.g. ``"cosamp[stop=residual]"``;
    parameters not given keep the entry's first grid value)."""
    name, params = parse_variant(spec)
    entry = get_solver(name)
    base = entry.variants()[0].params
    variant = Variant(entry, {**base, **params})

    def solve(A, Y, s):
        m, N = A.shape[-2], A.shape[-1]
        return run_solver(variant, ProblemBatch(A=A, y=Y, m=m, N=N, s=s))

    solve.__name__ = variant.name
    return solve


def _chunk_seed(seed: int, chunk: int) -> int:
    a, b = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(chunk),)).generate_state(2)
    return int((int(a) << 31) ^ int(b)) & ((1 << 62) - 1)


def trial_function(solve: Callable, *, N: int, m: int, ensemble: str = "gaussian",
                   signal: str = "uniform", amplitude: str = "gaussian", rule: str = "rel_l2",
                   threshold: float = 1e-3, trials_per_matrix: int = 10,
                   dtype: torch.dtype = torch.float64, device="cpu") -> Callable:
    """``run(s, n_trials, seed) -> successes`` for :func:`locate_transition`.

    ``solve(A, Y, s) -> X`` (A (m, N), Y (B, m), X (B, N)) is a kernel call or
    :func:`variant_solver`; problems are noiseless ``make_instance`` draws of the given family.
    """
    if rule not in SUCCESS_RULES:
        raise ValueError(f"trial_function: rule must be one of {SUCCESS_RULES}; got {rule!r}.")

    def run(s: int, n: int, seed: int) -> int:
        total = 0
        for c in range(math.ceil(n / trials_per_matrix)):
            b = min(trials_per_matrix, n - c * trials_per_matrix)
            inst = make_instance(ensemble=ensemble, signal=signal, amplitude=amplitude, m=m, N=N,
                                 s=s, batch=b, seed=_chunk_seed(seed, c), dtype=dtype,
                                 device=device)
            x_hat = solve(inst.A, inst.Y, s)
            total += int(successes(x_hat.to(inst.X.dtype), inst.X, s, rule=rule,
                                   threshold=threshold).sum())
        return total

    return run


def locate_solver_transition(solver: Union[str, Callable], *, N: int, delta: float,
                             protocol: TransitionProtocol | None = None, seed: int = 0,
                             s_max: int | None = None, **family) -> TransitionResult:
    """rho* of a solver (a registry variant spec or ``solve(A, Y, s)``) at (N, delta = m/N).

    ``family`` goes to :func:`trial_function` (ensemble, signal, amplitude, rule, threshold,
    trials_per_matrix, dtype, device). ``s_max`` defaults to m.
    """
    solve = variant_solver(solver) if isinstance(solver, str) else solver
    m = int(round(delta * N))
    run = trial_function(solve, N=N, m=m, **family)
    return locate_transition(run, m, protocol=protocol, seed=seed, s_max=s_max)
