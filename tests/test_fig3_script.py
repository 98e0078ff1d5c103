"""The Fig. 3 script end to end at a toy budget: tied and untied nets train, the table lists them."""

import csv

import pytest
import torch

from greedybench.experiments import fig3


def test_fig3_data_matches_the_reference_setup():
    d = fig3.fig3_data(0, 20)
    A, T = d["A64"], d["T"]
    assert A.shape == (20, fig3.N) and T.numel() == fig3.K
    torch.testing.assert_close(torch.linalg.vector_norm(A, dim=0), torch.ones(fig3.N, dtype=torch.float64))
    Y, X = d["train64"]
    assert Y.shape == (1024, 20) and X.shape == (1024, fig3.N)
    supp = X != 0
    assert bool((supp.sum(1) == fig3.S).all())
    assert set(supp.any(0).nonzero().flatten().tolist()) <= set(T.tolist())
    torch.testing.assert_close(torch.linalg.vector_norm(X, dim=1), torch.ones(1024, dtype=torch.float64))
    # same seed, same data; the hidden set is shared by the two tasks of a seed
    assert torch.equal(fig3.fig3_data(0, 20)["train"][0], d["train"][0])
    assert torch.equal(fig3.fig3_data(0, 36)["T"], T)


@pytest.mark.filterwarnings("ignore")
def test_fig3_script_trains_tied_and_untied_nets(tmp_path):
    fig3.main(["--out", str(tmp_path), "--seeds", "0", "--epochs", "2", "--tasks", "omp",
               "--methods", "net", "net_untied", "--no-progress"])
    with open(tmp_path / "comparison.csv") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert {"OMP", "OMP-Net", "OMP-Net (untied)", "weighted OMP (oracle)"} <= set(rows)
    for name in ("OMP-Net", "OMP-Net (untied)"):
        assert rows[name]["epochs"] == "2" and 0 <= int(rows[name]["top20_in_T"]) <= 20
    # the oracle-weighted OMP is far better than plain OMP on this latent-support task (reference 5.3)
    assert float(rows["weighted OMP (oracle)"]["test_mse_mean"]) < 0.1 * float(rows["OMP"]["test_mse_mean"])
    assert (tmp_path / "seed0" / "omp" / "net_untied" / "best.pt").exists()
