"""asv benchmarks of the batched kernels: time and peak memory over problem sizes.

Each time_* makes one call; data is built in setup from seeded generators. Append-only params.
"""

import torch

import greedybench as gb

from .common import gaussian_problem, sync

SIZES = ["B256_m64_N128_s8", "B1000_m200_N400_s15"]


def _parse(size):
    B, m, N, s = (int(p[1:]) if p[0] != "B" else int(p[1:]) for p in size.split("_"))
    return B, m, N, s


class Greedy:
    params = (SIZES, ["float64", "float32"])
    param_names = ["size", "dtype"]

    def setup(self, size, dtype):
        torch.set_num_threads(2)
        B, m, N, s = _parse(size)
        self.s = s
        self.A, self.X, self.Y = gaussian_problem(B, m, N, s, dtype=getattr(torch, dtype))

    def time_omp(self, size, dtype):
        gb.omp(self.A, self.Y, self.s)
        sync()

    def time_iht(self, size, dtype):
        gb.iht(self.A, self.Y, self.s, step=0.6, n_iter=30)
        sync()

    def time_soft_omp(self, size, dtype):
        gb.soft_omp(self.A, self.Y, self.s, tau=1e-3)
        sync()

    def time_soft_iht(self, size, dtype):
        gb.soft_iht(self.A, self.Y, self.s, tau=1e-3, step=0.6, n_iter=30)
        sync()

    def peakmem_omp(self, size, dtype):
        gb.omp(self.A, self.Y, self.s)

    def peakmem_soft_iht(self, size, dtype):
        gb.soft_iht(self.A, self.Y, self.s, tau=1e-3, step=0.6, n_iter=30)


class Softsort:
    params = (["B64_N4096_k1", "B64_N4096_k16", "B64_N65536_k1"],)
    param_names = ["size"]

    def setup(self, size):
        torch.set_num_threads(2)
        B, N, k = (int(p[1:]) for p in size.split("_"))
        g = torch.Generator().manual_seed(0)
        self.v = torch.rand(B, N, generator=g, dtype=torch.float64)
        self.k = k

    def time_softsort(self, size):
        gb.softsort(self.v, 1e-3, self.k)
        sync()

    def peakmem_softsort(self, size):
        gb.softsort(self.v, 1e-3, self.k)


class OMPFoundation:
    """The suite's OMP speed problem (B = 2000, m = 256, N = 512, s = 32) at 1 and 2 threads, the
    number tracked against SPAMS (benchmarks/ratios/omp_vs_peers.py) over the project's history."""

    params = ([1, 2], ["float64", "float32"])
    param_names = ["threads", "dtype"]

    def setup(self, threads, dtype):
        self._threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        self.A, _, self.Y = gaussian_problem(2000, 256, 512, 32, dtype=getattr(torch, dtype))

    def teardown(self, threads, dtype):
        torch.set_num_threads(self._threads)

    def time_omp(self, threads, dtype):
        gb.omp(self.A, self.Y, 32)
        sync()
