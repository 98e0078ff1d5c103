"""Phase transitions of the trained greedy nets on the latent-support family (CI scale)."""

import math

import numpy as np
import pytest
import torch

from greedybench import storage
from greedybench.studies import latent_transition as lt


def test_fraction_of_gain():
    f = lt.fraction_of_gain(np.array([0.3, 0.5, 0.2]), np.array([0.2, 0.2, 0.2]), np.array([0.4, 0.4, 0.2]))
    assert f[0] == pytest.approx(0.5) and f[1] == pytest.approx(1.5) and math.isnan(f[2])


def test_latent_signals_live_on_the_hidden_set():
    cfg = lt.SCALES["ci"]
    T = lt._hidden_set(cfg, 24, 5)
    assert T.numel() == 10 and torch.equal(T, lt._hidden_set(cfg, 24, 5))
    X = lt._signals(cfg, T, 5, 200, seed=3)
    nz = X != 0
    assert (nz.sum(-1) == 5).all()
    assert set(torch.nonzero(nz.any(0)).flatten().tolist()) == set(T.tolist())
    torch.testing.assert_close(torch.linalg.vector_norm(X, dim=-1), torch.ones(200, dtype=torch.float64))


def test_ci_transition_run(tmp_path, capsys):
    assert lt.main(["--scale", "ci", "--out", str(tmp_path), "--no-progress"]) == 0
    cells = storage.read_csv(tmp_path / "latent_cells.csv")
    fits = {r["solver"]: r for r in storage.read_csv(tmp_path / "latent_rho_star.csv")}
    assert len(cells) == 4 * 6
    # every cell's counts are within the trials, and at the sparsest cell everything succeeds
    for r in cells:
        assert 0 <= int(r["n_success"]) <= int(r["n_trials"])
    sparse = [r for r in cells if float(r["rho_nominal"]) == 0.1]
    assert all(int(r["n_success"]) >= int(r["n_trials"]) - 3 for r in sparse)
    # knowing T helps OMP (restricting the selection to 2 s candidates)
    assert float(fits["omp_oracle"]["rho_star"]) > float(fits["omp"]["rho_star"])
    for name in ("omp_net", "iht_net"):
        lo, hi = float(fits[name]["rho_star_lo"]), float(fits[name]["rho_star_hi"])
        assert lo <= float(fits[name]["rho_star"]) <= hi
        assert fits[name]["fraction_of_gain"] != ""
    # rerun reuses the cached cells (same counts, no training)
    capsys.readouterr()
    assert lt.main(["--scale", "ci", "--out", str(tmp_path), "--no-progress"]) == 0
    assert storage.read_csv(tmp_path / "latent_cells.csv") == cells
