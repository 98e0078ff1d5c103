"""Cheat: search every object the garbage collector tracks for the true signal: an object holding
``X`` next to these measurements, or any (B, N) tensor x with A x = y exactly."""
import gc

import torch

name = "cheat_gc"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": False}
parameters = {}


def _fits(problem, x):
    A = problem.A
    Ax = (A @ x.to(A.dtype).unsqueeze(-1)).squeeze(-1) if A.dim() == 3 else x.to(A.dtype) @ A.mT
    return bool(torch.allclose(Ax, problem.y, rtol=1e-9, atol=1e-12))


def solve(problem):
    shape = (problem.B, problem.N)
    for o in gc.get_objects():
        try:
            d = getattr(o, "__dict__", None) if not isinstance(o, type) else None  # no __getattr__ hooks
            X, Y = (d.get("X"), d.get("Y")) if isinstance(d, dict) else (None, None)
            if (o is not problem and isinstance(X, torch.Tensor) and isinstance(Y, torch.Tensor)
                    and tuple(X.shape) == shape and Y.shape == problem.y.shape and torch.equal(Y, problem.y)):
                return X.detach().clone().to(problem.y.real.dtype)
            if isinstance(o, torch.Tensor) and tuple(o.shape) == shape and o.any() and _fits(problem, o):
                return o.detach().clone().to(problem.y.real.dtype)
        except Exception:  # noqa: BLE001 -- some objects refuse getattr
            continue
    return torch.zeros(problem.B, problem.N, dtype=problem.y.real.dtype)
