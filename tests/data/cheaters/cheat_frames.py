"""Cheat: walk up the caller's stack frames (``sys._getframe``, as ``inspect.stack`` does) and return
the true signal of any local object that holds ``X`` next to these measurements ``Y``."""
import sys

import torch

name = "cheat_frames"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": False}
parameters = {}


def solve(problem):
    f = sys._getframe(1)
    while f is not None:
        for v in list(f.f_locals.values()):
            d = getattr(v, "__dict__", None) if not isinstance(v, type) else None  # no __getattr__ hooks
            X, Y = (d.get("X"), d.get("Y")) if isinstance(d, dict) else (None, None)
            if (v is not problem and isinstance(X, torch.Tensor) and isinstance(Y, torch.Tensor)
                    and tuple(X.shape) == (problem.B, problem.N) and Y.shape == problem.y.shape
                    and torch.equal(Y.to(problem.y.device), problem.y)):
                return X.detach().clone().to(problem.y.real.dtype)
        f = f.f_back
    return torch.zeros(problem.B, problem.N, dtype=problem.y.real.dtype)
