"""The batched OMP package `orthogonal-matching-pursuit-gpu` (torch, algorithm v0, Gram precomputed)."""
import torch

name = "omp_gpu_package"
capabilities = {"differentiable": False, "trained": False, "complex": False, "gpu": True}
parameters = {}
requires = {"orthogonal_matching_pursuit_gpu": "orthogonal-matching-pursuit-gpu"}
references = [
    "orthogonal-matching-pursuit-gpu on PyPI (the batched-OMP package): run_omp(alg='v0')",
]


def solve(problem):
    """problem: greedybench.registry.ProblemBatch (real); returns x of shape (B, N).

    One call per shared A (all problems), else one call per problem; exactly s atoms (tol=None),
    no normalisation or intercept (the plain OMP the grid asks for)."""
    from orthogonal_matching_pursuit_gpu import run_omp

    A, Y = problem.A, problem.y
    As = [A] if A.dim() == 2 else list(A)
    Ys = [Y] if A.dim() == 2 else [Y[b:b + 1] for b in range(problem.B)]
    out = [torch.as_tensor(run_omp(Ab, Yb, int(problem.s), precompute=True, tol=None, normalize=False,
                                   fit_intercept=False, alg="v0")).reshape(Yb.shape[0], -1)
           for Ab, Yb in zip(As, Ys)]
    return torch.cat(out).to(dtype=Y.dtype, device=Y.device)
