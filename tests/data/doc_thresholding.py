"""Thresholding: keep the s largest |A^H y|, least squares on them.

A drop-in solver written from docs/leaderboard.md section 1 only (tests/test_compare.py runs it
through `greedybench compare`; tests/test_compare_sandbox.py reuses `thresholding` inside its
cheating entries, so that they solve honestly besides cheating).
"""
import torch

name = "doc_thresholding"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {}


def thresholding(problem):
    A = problem.A if problem.A.dim() == 3 else problem.A.expand(problem.B, -1, -1)
    c = (A.mH @ problem.y.unsqueeze(-1)).squeeze(-1)
    idx = c.abs().topk(problem.s, dim=-1).indices
    cols = torch.gather(A, 2, idx.unsqueeze(1).expand(-1, A.shape[1], -1))
    z = torch.linalg.lstsq(cols, problem.y.unsqueeze(-1)).solution.squeeze(-1)
    x = torch.zeros(problem.B, problem.N, dtype=z.dtype).scatter(1, idx, z)
    return x.real if x.is_complex() else x


def solve(problem):
    return thresholding(problem)
