"""Incremental inverse-Cholesky factor of a growing Gram matrix, batched.

For B problems, each with an ordered set of k chosen columns ``A_S`` (B, m, k), keep the inverse
``Linv = L^{-1}`` (B, n_max, n_max, lower triangular, zero outside the first k rows) of the
Cholesky factor ``L L^H = A_S^H A_S``. Appending a column a_j needs only its inner products with
the chosen columns, ``g = A_S^H a_j`` (B, k), and its squared norm ``||a_j||^2`` (B,):

    w   = Linv_k g                                 (so that L_k w = g)
    nu2 = ||a_j||^2 - ||w||^2                      (new diagonal of L, squared)
    row = [ -(w^H Linv_k) / nu , 1 / nu ]          (new last row of Linv)

since ``[[L, 0], [w^H, nu]]^{-1} = [[Linv, 0], [-(w^H Linv) / nu, 1 / nu]]``. No triangular solve
is needed (matrix-vector products only, Zhu et al. 2020), which keeps tiny batched solves off the
critical path on GPUs. With ``Q = A_S Linv^H`` orthonormal, the least-squares solution on the
chosen columns is ``x_S = Linv^H (Linv A_S^H y)``; appending one column adds one entry
``z_k = row . (A_S^H y)`` to ``z = Linv A_S^H y`` and changes ``x_S`` by ``z_k conj(row)``.

Cost per append: 2 k^2 flops per problem for ``w`` and ``row`` (complex: 4x), O(k) for the rest.

References
----------
Zhu, Chen, Wu, Cao & Zhang, "Efficient implementations for orthogonal matching pursuit",
Electronics 9(9):1507, 2020.
"""

from __future__ import annotations

import torch


def inverse_cholesky_row(Linv: torch.Tensor, k: int, g: torch.Tensor, norm2: torch.Tensor):
    """New row of the inverse Cholesky factor when a column is appended after ``k`` columns.

    Parameters
    ----------
    Linv : Tensor (B, n, n) with n > k
        Inverse Cholesky factors; only ``Linv[:, :k, :k]`` is read.
    k : int
        Number of columns already in the factor (a Python int, not a tensor).
    g : Tensor (B, k)
        Inner products ``A_S^H a_j`` of the chosen columns with the new one.
    norm2 : real Tensor (B,)
        Squared norm ``||a_j||^2`` of the new column.

    Returns
    -------
    w_head : Tensor (B, k)
        ``-(w^H Linv_k)`` (not yet divided by nu).
    nu2 : real Tensor (B,)
        Squared new diagonal of L, ``||a_j||^2 - ||w||^2``. A value <= a small multiple of
        ``eps * ||a_j||^2`` means the new column is numerically in the span of the chosen ones; the
        caller decides what to do (this function never divides).
    """
    if k == 0:
        return g.new_zeros(g.shape[0], 0), norm2.clone()
    Lk = Linv[:, :k, :k]
    # w^T = g^T Linv_k^T as a (1 x k)(k x k) product on the transposed view: MKL's batched
    # (k x k)(k x 1) products are 1.5-3x slower at k = 16-64 (measured, CPU, float64)
    w = torch.bmm(g.unsqueeze(1), Lk.mT).squeeze(1)                       # (B, k), L_k w = g
    wabs2 = w.real.square() + w.imag.square() if w.is_complex() else w.square()
    nu2 = norm2 - wabs2.sum(-1)
    w_head = -torch.bmm(w.conj().unsqueeze(1), Lk).squeeze(1)           # -(w^H Linv_k), (B, k)
    return w_head, nu2
