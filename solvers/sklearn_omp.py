"""scikit-learn's OMP on the Gram path (orthogonal_mp_gram): the ecosystem's reference implementation."""
import numpy as np
import torch

name = "sklearn_omp"
capabilities = {"differentiable": False, "trained": False, "complex": False, "gpu": False}
parameters = {}
requires = {"sklearn": "scikit-learn"}
references = [
    "Pedregosa et al. (2011), scikit-learn: sklearn.linear_model.orthogonal_mp_gram",
    "Rubinstein, Zibulevsky & Elad (2008), Batch-OMP",
]


def solve(problem):
    """problem: greedybench.registry.ProblemBatch (real); returns x of shape (B, N).

    One shared A: one call for the whole batch (G = A^T A once). One A per problem: one call per
    problem. Runs on the CPU in float64 numpy, as scikit-learn does."""
    from sklearn.linear_model import orthogonal_mp_gram

    A = problem.A.detach().cpu().numpy()
    Y = problem.y.detach().cpu().numpy()
    As = [A] if A.ndim == 2 else list(A)
    Ys = [Y] if A.ndim == 2 else [Y[b:b + 1] for b in range(problem.B)]
    out = []
    for Ab, Yb in zip(As, Ys):
        X = orthogonal_mp_gram(Ab.T @ Ab, Ab.T @ Yb.T, n_nonzero_coefs=problem.s, copy_Gram=False,
                               copy_Xy=False)
        out.append(np.asarray(X).reshape(Ab.shape[1], -1).T)
    return torch.as_tensor(np.concatenate(out), dtype=problem.y.dtype, device=problem.y.device)
