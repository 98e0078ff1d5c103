"""Batched linear-algebra pieces shared by the solvers: column gathers, scatters, least squares.

Shapes: A (m, N) or (B, m, N); idx (B, k) integer column indices; y (B, m).
"""

from __future__ import annotations

import warnings

import torch

from .._validation import NonFiniteError, all_finite


def gather_columns(A: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """A[:, idx[b]] for each problem: (B, m, k)."""
    if A.dim() == 2:
        # (m, N) shared: index the transposed matrix so the gather is one contiguous read per atom
        return A.mT[idx].mT
    m = A.shape[1]
    return torch.gather(A, 2, idx.unsqueeze(1).expand(-1, m, -1))


def scatter_support(values: torch.Tensor, idx: torch.Tensor, N: int) -> torch.Tensor:
    """Dense (B, N) vector with values (B, k) placed at columns idx (B, k); other entries 0."""
    out = values.new_zeros(values.shape[0], N)
    return out.scatter(1, idx, values)


def matvec(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A x for each problem: (B, N) -> (B, m). One GEMM when A is shared."""
    if A.dim() == 2:
        return x @ A.mT
    return torch.bmm(A, x.unsqueeze(-1)).squeeze(-1)


def rmatvec(A: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """A^H r for each problem: (B, m) -> (B, N). One GEMM when A is shared."""
    if A.dim() == 2:
        return r @ A.conj()
    return torch.bmm(A.mH, r.unsqueeze(-1)).squeeze(-1)


def lstsq(M: torch.Tensor, y: torch.Tensor, valid: torch.Tensor | None = None, *,
          sync_free: bool = False) -> torch.Tensor:
    """Least-squares solution z = argmin ||M z - y|| for each problem, M (B, m, k), y (B, m).

    Fast path: Cholesky of the k x k normal equations. Problems whose Gram matrix is not
    numerically positive definite (dependent or duplicated columns, zero columns) fall back to a
    rank-revealing solve (minimum-norm solution), so the batch never fails as a whole.

    valid : optional bool (B, k). Slots with ``valid = False`` are padding: their columns are
        ignored and their coefficients are exactly 0 (fixed-size index sets of varying true size,
        e.g. the merged sets of CoSaMP and Subspace Pursuit), without triggering the fallback.
    sync_free : bool
        False (default): the fallback is the exact minimum-norm solve on the failing problems only,
        which needs one host read of the "any failed?" flag. True: no host read; see
        :func:`solve_normal`.
    """
    G = M.mH @ M
    rhs = (M.mH @ y.unsqueeze(-1)).squeeze(-1)
    return solve_normal(G, rhs, valid, sync_free=sync_free, fallback=lambda bad: (M[bad], y[bad]))


def solve_normal(G: torch.Tensor, rhs: torch.Tensor, valid: torch.Tensor | None = None, *,
                 sync_free: bool = False, fallback=None) -> torch.Tensor:
    """Least squares from its normal equations: G z = rhs with G = M^H M (B, k, k), rhs = M^H y (B, k).

    The Gram matrix may come from anywhere (``M.mH @ M``, or gathered from a precomputed A^H A,
    which never forms M). ``valid`` (B, k): padding slots are decoupled (their rows and columns of
    G and their rhs are zeroed, with a unit pivot) and get exactly 0. Problems whose Cholesky fails
    or has a pivot below 1e3 eps max diag(G) are re-solved:

    - ``sync_free=False``: by ``fallback(bad) -> (M_bad, y_bad)`` (the columns and data of the
      failing problems) with the exact minimum-norm :func:`pinv_solve`; without a ``fallback``,
      by ``pinv(G) rhs`` (also the minimum-norm solution, with G's squared conditioning). One
      host read of the "any failed?" flag.
    - ``sync_free=True``: no host read; every problem also gets a ridge-regularised Cholesky solve
      (ridge 100 k eps max diag(G)), used where the plain one failed: approximately the
      minimum-norm solution (for GPU iteration loops; identical results when nothing fails).
    """
    rdt = G.real.dtype
    if valid is not None:
        vm = valid.to(rdt)
        G = G * (vm.unsqueeze(-1) * vm.unsqueeze(-2))
        rhs = rhs * vm
    eps = torch.finfo(rdt).eps
    scale = torch.diagonal(G, dim1=-2, dim2=-1).real.amax(-1, keepdim=True).clamp_min(torch.finfo(rdt).tiny)
    if valid is not None:
        # padding slots become decoupled pivots (rows, columns and rhs zeroed above) -> exactly 0
        G = G + torch.diag_embed((1 - vm) * scale).to(G.dtype)
    rhs = rhs.unsqueeze(-1)
    L, info = torch.linalg.cholesky_ex(G)
    z = torch.cholesky_solve(rhs, L)
    # a Cholesky that "succeeds" on a numerically singular Gram gives garbage: check the pivots too
    diag = torch.diagonal(L, dim1=-2, dim2=-1).real
    bad = (info != 0) | ~torch.isfinite(z).all(dim=(-2, -1)) | ((diag**2) <= 1e3 * eps * scale).any(-1)
    if sync_free:
        k = G.shape[-1]
        ridge = torch.diag_embed((100 * k * eps * scale).expand(-1, k)).to(G.dtype)
        L2, _ = torch.linalg.cholesky_ex(G + ridge)
        z2 = torch.nan_to_num(torch.cholesky_solve(rhs, L2), nan=0.0, posinf=0.0, neginf=0.0)
        z = torch.where(bad[:, None, None], z2, z)
    elif bool(bad.any()):
        z = z.clone()
        if fallback is None:
            z[bad] = torch.linalg.pinv(G[bad], hermitian=True) @ rhs[bad]
        else:
            M_bad, y_bad = fallback(bad)
            if valid is not None:
                M_bad = M_bad * valid[bad].unsqueeze(-2).to(M_bad.dtype)
            z[bad] = pinv_solve(M_bad, y_bad.unsqueeze(-1))
    return z.squeeze(-1)


def pinv_solve(M: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Minimum-norm least squares via SVD (any rank, CPU and CUDA)."""
    if M.device.type == "cpu":
        return torch.linalg.lstsq(M, rhs, driver="gelsd").solution
    return torch.linalg.pinv(M) @ rhs


def residual(A: torch.Tensor, x, y: torch.Tensor, support=None, *,
             A_t: torch.Tensor | None = None) -> torch.Tensor:
    """r = y - A x for each problem: (B, m).

    Dense: one fused GEMM call (addmm / baddbmm). ``support = (idx, vals)``, both (B, k), says
    that each row of x has its nonzeros among columns idx (distinct per row) with values vals
    (x may then be None); a per-problem A then uses a gather of k columns (B m k instead of
    B m N reads), and a shared A on CPU uses :func:`combine_rows` on the rows of A^T (2 m k B
    flops instead of 2 m N B) unless autograd needs the product. Rounding differs from the dense
    product only in summation order. ``A_t``: optional contiguous ``A.mT`` (hoisted out of loops).
    """
    if support is not None and A.dim() == 3:
        idx, vals = support
        return torch.baddbmm(y.unsqueeze(-1), gather_columns(A, idx), vals.unsqueeze(-1),
                             alpha=-1).squeeze(-1)
    if A.dim() == 2:
        if support is not None and A.device.type == "cpu" and 4 * support[0].shape[1] <= A.shape[1]:
            idx, vals = support
            needs_grad = torch.is_grad_enabled() and (A.requires_grad or vals.requires_grad
                                                      or y.requires_grad)
            if not needs_grad:
                return combine_rows(A.mT.contiguous() if A_t is None else A_t, idx, -vals, base=y)
        if x is None:
            x = scatter_support(support[1], support[0], A.shape[1])
        return torch.addmm(y, x, A.mT, alpha=-1)
    return torch.baddbmm(y.unsqueeze(-1), A, x.unsqueeze(-1), alpha=-1).squeeze(-1)


def matvec_support(A: torch.Tensor, idx: torch.Tensor, vals: torch.Tensor, *,
                   A_t: torch.Tensor | None = None) -> torch.Tensor:
    """A x (B, m) for x with values vals (B, k) on distinct columns idx (B, k), zero elsewhere.

    Same dispatch as the sparse :func:`residual`: gathered columns for a per-problem A,
    :func:`combine_rows` on CPU (2 m k B flops), a dense GEMM elsewhere or under autograd.
    """
    return -residual(A, None, vals.new_zeros(vals.shape[0], A.shape[-2]), (idx, vals), A_t=A_t)


def gradient_step(A: torch.Tensor, x: torch.Tensor, r: torch.Tensor, step=1.0,
                  A_conj: torch.Tensor | None = None) -> torch.Tensor:
    """u = x + step * A^H r for each problem, fused into one GEMM call: (B, N).

    ``step`` is a float or a 0-dim tensor (kept in the autograd graph: it scales r, which is
    cheaper than scaling the (B, N) product). ``A_conj``: optional precomputed ``A.conj()``
    (resolved), to hoist the conjugation of a complex shared A out of an iteration loop.
    """
    if isinstance(step, torch.Tensor):
        r = r * step
        alpha = 1.0
    else:
        alpha = float(step)
    if A.dim() == 2:
        Ac = A.conj() if A_conj is None else A_conj
        return torch.addmm(x, r, Ac, alpha=alpha)
    return torch.baddbmm(x.unsqueeze(-1), A.mH, r.unsqueeze(-1), alpha=alpha).squeeze(-1)


def combine_rows(table: torch.Tensor, idx: torch.Tensor, coef: torch.Tensor,
                 base: torch.Tensor | None = None) -> torch.Tensor:
    """base[b] + sum_i coef[b, i] * table[idx[b, i], :] for each problem: (B, n).

    table (R, n) is shared by the batch (e.g. the rows of A^T or of a Gram matrix), idx (B, k)
    integer row indices, distinct within a row of idx, coef (B, k) with table's dtype, base None
    (zeros) or (B, n). The rows are read from the (cached) table and never materialised as a
    (B, k, n) gather: on CPU with MKL one sparse-CSR x dense ``addmm`` (the coefficients as a
    (B, R) CSR matrix with k entries per row), elsewhere a fused ``embedding_bag`` (two for complex
    data, on the real view of the table). Cost 2 B k n flops (x4 complex), B k n reads of table.
    Not meant for autograd.
    """
    B, k = idx.shape
    R, n = table.shape
    if k == 0 or B == 0:
        return table.new_zeros(B, n) if base is None else base.clone()
    coef = coef.to(table.dtype)
    if table.device.type == "cpu" and torch.backends.mkl.is_available() and table.dtype != torch.float32:
        crow = torch.arange(0, B * k + 1, k, device=table.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta state"
            S = torch.sparse_csr_tensor(crow, idx.reshape(-1), coef.reshape(-1), size=(B, R),
                                        check_invariants=False)
            if base is None:
                return S @ table
            return torch.addmm(base, S, table)
    idx = idx.long()
    if not table.is_complex():
        out = torch.nn.functional.embedding_bag(idx, table, per_sample_weights=coef, mode="sum")
    else:
        # (a + ib) (Tr + i Ti) = (a Tr - b Ti) + i (a Ti + b Tr), on the (R, 2n) real view
        t2 = torch.view_as_real(table.resolve_conj().contiguous()).reshape(R, 2 * n)
        pa = torch.nn.functional.embedding_bag(idx, t2, per_sample_weights=coef.real.contiguous(), mode="sum")
        pb = torch.nn.functional.embedding_bag(idx, t2, per_sample_weights=coef.imag.contiguous(), mode="sum")
        pa, pb = pa.view(B, n, 2), pb.view(B, n, 2)
        out = torch.complex(pa[..., 0] - pb[..., 1], pa[..., 1] + pb[..., 0])
    return out if base is None else out.add_(base)


def rmatvec_out(A: torch.Tensor, r: torch.Tensor, out=None, A_conj: torch.Tensor | None = None):
    """A^H r (B, N) like :func:`rmatvec`; for a shared A optionally written into a preallocated
    ``out`` (no autograd then) and with a precomputed ``A_conj`` for a complex A."""
    if A.dim() == 2:
        Ac = A.conj() if A_conj is None else A_conj
        return torch.mm(r, Ac) if out is None else torch.mm(r, Ac, out=out)
    return torch.bmm(A.mH, r.unsqueeze(-1)).squeeze(-1)  # per-problem A: out is not used


def check_converged(x: torch.Tensor, caller: str, A: torch.Tensor, step) -> torch.Tensor:
    """Raise NonFiniteError if the iterates of a fixed-step method overflowed (step too large).

    One reduction over the result; the operator norm is computed for the message only."""
    if all_finite(x):
        return x
    step = float(step.detach()) if isinstance(step, torch.Tensor) else step
    with torch.no_grad():
        norm2 = float(torch.linalg.matrix_norm(A.detach(), ord=2).amax()) ** 2
    raise NonFiniteError(
        f"{caller}: the iterates diverged (non-finite result) with step = {step:.4g}; the "
        f"gradient step converges for step < 1 / ||A||_2^2 = {1.0 / norm2:.4g} (||A||_2^2 = "
        f"{norm2:.4g}); larger steps can diverge. Use a smaller step.")
