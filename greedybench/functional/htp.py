"""Hard Thresholding Pursuit, batched. (stub)"""
def htp(A, y, s, *, n_iter, step=1.0, weights=None, return_path=False):
    raise NotImplementedError
