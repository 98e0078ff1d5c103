"""Iterative Hard Thresholding (fixed step) and normalised IHT, batched. (stub)"""
def iht(A, y, s, *, step, n_iter, weights=None, return_path=False):
    raise NotImplementedError
def niht(A, y, s, *, n_iter, weights=None, return_path=False):
    raise NotImplementedError
