"""scikit-learn's OMP on the Gram path (orthogonal_mp_gram): the ecosystem's reference implementation."""
from greedybench.solvers import BATCH_OMP, PEER, per_matrix

name = "sklearn_omp"
capabilities = PEER
parameters = {}
requires = {"sklearn": "scikit-learn"}
references = ["Pedregosa et al. (2011), scikit-learn: sklearn.linear_model.orthogonal_mp_gram", BATCH_OMP]


def solve(problem):
    """problem: greedybench.registry.ProblemBatch (real); returns x of shape (B, N).

    One call per shared A (G = A^T A once for the batch), else one call per problem; float64 numpy,
    as scikit-learn computes."""
    from sklearn.linear_model import orthogonal_mp_gram

    def one(A, Y):
        X = orthogonal_mp_gram(A.T @ A, A.T @ Y.T, n_nonzero_coefs=problem.s, copy_Gram=False, copy_Xy=False)
        return X.reshape(A.shape[1], -1).T

    return per_matrix(problem, one)
