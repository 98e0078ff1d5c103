"""SPAMS' OMP (C++ Batch-OMP, `spams-bin`, GPL: an optional benchmark extra), one thread."""
import numpy as np
import torch

name = "spams_omp"
capabilities = {"differentiable": False, "trained": False, "complex": False, "gpu": False}
parameters = {}
requires = {"spams": "spams-bin"}
references = [
    "Mairal, Bach, Ponce & Sapiro (2010), SPAMS: spams.omp",
    "Rubinstein, Zibulevsky & Elad (2008), Batch-OMP",
]


def solve(problem):
    """problem: greedybench.registry.ProblemBatch (real); returns x of shape (B, N).

    SPAMS expects unit-norm atoms: A's columns are normalised, SPAMS solves with L = s atoms
    (eps = 0, lambda1 = 0: exactly s atoms, as greedybench.omp), and x is rescaled by the norms.
    One call per shared A (all problems), else one call per problem; numThreads = 1 (the grid's)."""
    import spams

    A = problem.A.detach().cpu().numpy().astype(np.float64)
    Y = problem.y.detach().cpu().numpy().astype(np.float64)
    As = [A] if A.ndim == 2 else list(A)
    Ys = [Y] if A.ndim == 2 else [Y[b:b + 1] for b in range(problem.B)]
    out = []
    for Ab, Yb in zip(As, Ys):
        norms = np.linalg.norm(Ab, axis=0)
        norms[norms == 0] = 1.0
        D = np.asfortranarray(Ab / norms)
        X = spams.omp(np.asfortranarray(Yb.T), D, L=int(problem.s), eps=0.0, numThreads=1)
        out.append(np.asarray(X.toarray()).T / norms)
    return torch.as_tensor(np.concatenate(out), dtype=problem.y.dtype, device=problem.y.device)
