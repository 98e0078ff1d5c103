"""Kernel micro-benchmarks. Kept small (milliseconds) so that base and head fit in one CI job."""

import pytest

import greedybench as gb

S = 8


@pytest.mark.benchmark(group="hard")
def test_omp(benchmark, problem):
    A, _, Y = problem
    benchmark(gb.omp, A, Y, S)


@pytest.mark.benchmark(group="hard")
def test_iht(benchmark, problem):
    A, _, Y = problem
    benchmark(gb.iht, A, Y, S, step=0.6, n_iter=30)


@pytest.mark.benchmark(group="soft")
def test_softsort(benchmark, problem):
    _, X, _ = problem
    benchmark(gb.softsort, X.abs(), 1e-3, S)


@pytest.mark.benchmark(group="soft")
def test_soft_omp(benchmark, problem):
    A, _, Y = problem
    benchmark(gb.soft_omp, A, Y, S, tau=1e-3)


@pytest.mark.benchmark(group="soft")
def test_soft_iht(benchmark, problem):
    A, _, Y = problem
    benchmark(gb.soft_iht, A, Y, S, tau=1e-3, step=0.6, n_iter=30)


@pytest.mark.benchmark(group="hard")
def test_omp_foundation(benchmark, foundation):
    """The suite's OMP speed problem (B = 2000, m = 256, N = 512, s = 32, float64)."""
    A, _, Y = foundation
    benchmark(gb.omp, A, Y, 32)
