"""One-step thresholding: least squares on the s columns most correlated with y.

A template for a drop-in solver entry (docs/leaderboard.md). Copy it anywhere, edit it, then

    greedybench compare path/to/my_solver.py --quick      # a one-minute check
    greedybench compare path/to/my_solver.py              # the official grid

It uses plain torch only; an entry may also call the library's kernels (``import greedybench as gb``,
``gb.omp(problem.A, problem.y, problem.s)``).
"""
import torch

# unique, lower case, a Python identifier, not the name of a built-in entry
name = "my_thresholding"
# all four keys, True/False. complex=False makes the complex families count as "not applicable"
# (scored 0); trained=True is not ranked on the leaderboard grid.
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
# dict of non-empty lists: every combination is one variant, named my_thresholding[ls=true]
parameters = {"ls": [True]}
references = ["one-step thresholding (e.g. Foucart & Rauhut, A Mathematical Introduction to CS, 3.3)"]


def solve(problem, ls=True):
    """problem: greedybench.registry.ProblemBatch. Return x of shape (problem.B, problem.N).

    problem.A is (m, N) (one matrix for the batch) or (B, m, N); problem.y is (B, m); both on the
    job's device and dtype (complex for partial_dft). problem.s is the sparsity. The result must be
    a finite tensor; a real one for real problems (signals are always real).
    """
    A, y, s = problem.A, problem.y, problem.s
    Ab = A.expand(problem.B, *A.shape) if A.dim() == 2 else A          # (B, m, N)
    corr = (Ab.mH @ y.unsqueeze(-1)).squeeze(-1)                        # (B, N) = A^H y
    idx = corr.abs().topk(s, dim=-1).indices                            # (B, s) largest |A^H y|
    x = torch.zeros(problem.B, problem.N, dtype=corr.dtype, device=corr.device)
    if ls:
        cols = torch.gather(Ab, 2, idx.unsqueeze(1).expand(-1, Ab.shape[1], -1))   # (B, m, s)
        z = torch.linalg.lstsq(cols, y.unsqueeze(-1)).solution.squeeze(-1)      # (B, s)
    else:
        z = corr.gather(1, idx)
    x = x.scatter(1, idx, z)
    # the signals are real: return the real part (a complex x for a real signal is not scored)
    return x.real if x.is_complex() else x
