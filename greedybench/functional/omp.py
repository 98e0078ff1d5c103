"""Orthogonal Matching Pursuit, batched. (stub: being implemented)"""
def omp(A, y, n_iter, *, weights=None, tol=None, return_path=False):
    raise NotImplementedError
