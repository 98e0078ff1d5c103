"""The batched OMP package `orthogonal-matching-pursuit-gpu` (torch; its v0 and naive algorithms, Gram precomputed)."""
from greedybench.solvers import PEER, per_matrix

name = "omp_gpu_package"
capabilities = dict(PEER, gpu=True)
# v0: the package's default (and fastest). Its "naive" algorithm is not listed: called with one
# problem at a time (what a per-problem A needs) it returns the right support with inaccurate
# values (relative error ~1e-2 where v0 and omp reach 1e-15), which would rank the wrapper, not it.
parameters = {"alg": ["v0"]}
requires = {"orthogonal_matching_pursuit_gpu": "orthogonal-matching-pursuit-gpu"}
references = ["orthogonal-matching-pursuit-gpu on PyPI (the batched-OMP package): run_omp"]


def solve(problem, alg="v0"):
    """problem: greedybench.registry.ProblemBatch (real); returns x of shape (B, N).

    One call per shared A, else one call per problem; exactly s atoms (tol=None), no
    normalisation or intercept (the plain OMP the grid asks for); ``alg`` is the package's."""
    from orthogonal_matching_pursuit_gpu import run_omp

    def one(A, Y):
        return run_omp(A, Y, int(problem.s), precompute=True, tol=None, normalize=False, fit_intercept=False,
                       alg=alg)

    return per_matrix(problem, one, to_numpy=False)
