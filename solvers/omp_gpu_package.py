"""The batched OMP package `orthogonal-matching-pursuit-gpu` (torch, algorithm v0, Gram precomputed)."""
from greedybench.solvers import PEER, per_matrix

name = "omp_gpu_package"
capabilities = dict(PEER, gpu=True)
parameters = {}
requires = {"orthogonal_matching_pursuit_gpu": "orthogonal-matching-pursuit-gpu"}
references = ["orthogonal-matching-pursuit-gpu on PyPI (the batched-OMP package): run_omp(alg='v0')"]


def solve(problem):
    """problem: greedybench.registry.ProblemBatch (real); returns x of shape (B, N).

    One call per shared A, else one call per problem; exactly s atoms (tol=None), no
    normalisation or intercept (the plain OMP the grid asks for)."""
    from orthogonal_matching_pursuit_gpu import run_omp

    def one(A, Y):
        return run_omp(A, Y, int(problem.s), precompute=True, tol=None, normalize=False, fit_intercept=False,
                       alg="v0")

    return per_matrix(problem, one, to_numpy=False)
