"""CoSaMP and Subspace Pursuit, batched. (stub)"""
def cosamp(A, y, s, *, n_iter, weights=None, return_path=False):
    raise NotImplementedError
def subspace_pursuit(A, y, s, *, n_iter, weights=None, return_path=False):
    raise NotImplementedError
