"""Soft-OMP, Soft-IHT, Soft-HTP, Soft-CoSaMP. (stub)"""
def soft_omp(A, y, n_iter, *, tau, weights=None, return_path=False):
    raise NotImplementedError
def soft_iht(A, y, s, *, tau, step, n_iter, weights=None, return_path=False):
    raise NotImplementedError
def soft_htp(A, y, s, *, tau, n_iter, step=1.0, weights=None, return_path=False):
    raise NotImplementedError
def soft_cosamp(A, y, s, *, tau, n_iter, weights=None, return_path=False):
    raise NotImplementedError
