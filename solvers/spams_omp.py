"""SPAMS' OMP (C++ Batch-OMP, `spams-bin`, GPL: an optional benchmark extra), one thread."""
from greedybench.solvers import BATCH_OMP, PEER, per_matrix

name = "spams_omp"
capabilities = PEER
parameters = {}
requires = {"spams": "spams-bin"}
references = ["Mairal, Bach, Ponce & Sapiro (2010), SPAMS: spams.omp", BATCH_OMP]


def solve(problem):
    """problem: greedybench.registry.ProblemBatch (real); returns x of shape (B, N).

    SPAMS expects unit-norm atoms: A's columns are normalised, SPAMS solves with L = s atoms
    (eps = 0: exactly s atoms, as greedybench.omp) on one thread (the grid's), and x is rescaled
    by the norms. One call per shared A, else one call per problem."""
    import numpy as np
    import spams

    def one(A, Y):
        norms = np.linalg.norm(A, axis=0)
        norms[norms == 0] = 1.0
        X = spams.omp(np.asfortranarray(Y.T), np.asfortranarray(A / norms), L=int(problem.s), eps=0.0,
                      numThreads=1)
        return X.toarray().T / norms

    return per_matrix(problem, one)
