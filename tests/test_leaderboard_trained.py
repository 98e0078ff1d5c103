"""The leaderboard's trained track (docs/leaderboard.md, "The trained track"): the committed table
is a function of the committed rows and current, the config is checked with errors naming the
key, two names of one algorithm share a rank, training longer never selects a worse validation
loss, failures are rows, and a run is reproducible from (config, seed)."""

import numpy as np
import pytest
import yaml

from greedybench.analysis.ranking import separated
from greedybench.cli import main as cli_main
from greedybench.leaderboard import LeaderboardError
from greedybench.leaderboard import trained as lbt
from greedybench.leaderboard.trained_config import TRACK_FILE, load_track
from greedybench.registry import discover
from greedybench.storage import csv_text

TINY = {
    "track_version": 1, "N": 32,
    "family": {"ensemble": "gaussian", "signal": "latent", "amplitude": "gaussian", "normalize": True,
               "shared_A": True},
    "tasks": {"a": {"m": 16, "s": 3}, "b": {"m": 12, "s": 4}},
    "split": {"n_train": 64, "n_val": 32, "n_test": 40},
    "training": {"epochs": 3, "batch_size": 32},
    "bootstrap": {"n_boot": 200},
    "entries": {"trained": ["omp_net", "lista", "broken_net"], "untrained": ["omp", "omp_twin", "htp", "syntax_error"],
                "oracle": ["omp_oracle"]},
}

TWIN = '''"""OMP under a second name (the same algorithm: must share OMP's rank)."""
import greedybench as gb

name = "omp_twin"
capabilities = {"differentiable": False, "trained": False, "complex": True, "gpu": True}
parameters = {}


def solve(problem, **params):
    return gb.omp(problem.A, problem.y, problem.s)
'''

BROKEN = '''"""A trained entry whose training always fails."""
name = "broken_net"
capabilities = {"differentiable": True, "trained": True, "complex": False, "gpu": False}
parameters = {}


def train(train_batch, val_batch, *, seed, **options):
    raise RuntimeError("no convergence")


def solve(problem, state=None, **params):
    return problem.A.new_zeros(problem.B, problem.N)
'''


def _write(tmp_path, cfg=None, name="track.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(TINY if cfg is None else cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny track run once (with the two drop-ins): its files, rows and table."""
    tmp = tmp_path_factory.mktemp("trained")
    (tmp / "omp_twin.py").write_text(TWIN)
    (tmp / "broken_net.py").write_text(BROKEN)
    (tmp / "syntax_error.py").write_text("name = 'syntax_error'\ndef solve(problem:\n")
    files = [str(tmp / "omp_twin.py"), str(tmp / "broken_net.py"), str(tmp / "syntax_error.py")]
    cfg = _write(tmp)
    out = tmp / "t.csv"
    table = lbt.trained_stage(out, tmp / "t_rows.csv.gz", config=cfg, solver_files=files, echo=lambda s: None)
    track = load_track(cfg, solver_files=files)
    return {"dir": tmp, "files": files, "cfg": cfg, "track": track, "out": out,
            "rows": lbt.read_trained_rows(tmp / "t_rows.csv.gz"), "table": {r["variant"]: r for r in table},
            "order": table}


# ------------------------------------------------------------------------------------------------
# the committed results


def test_stored_table_is_a_function_of_the_stored_rows():
    track = load_track()
    table = lbt.compute_trained_table(lbt.read_trained_rows(lbt.STORED_TRAINED_ROWS), track)
    assert csv_text(lbt.trained_columns(list(track.tasks)), table) == lbt.STORED_TRAINED_CSV.read_text()


def test_stored_table_covers_every_trained_entry_and_is_current():
    track = load_track()
    entries = discover()
    builtin_trained = sorted(n for n, e in entries.items() if e.available and e.trained)
    assert sorted(track.entries["trained"]) == builtin_trained, "config/leaderboard_trained.yaml misses a net"
    stored = {r["variant"]: r for r in lbt.read_trained_rows(lbt.STORED_TRAINED_ROWS)}
    variants = [v for n in track.all_entries() for v in entries[n].variants()]
    missing = [v.name for v in variants if v.name not in stored]
    assert not missing, f"regenerate results/leaderboard_trained.csv: {missing} missing"
    stale = [f"{v.name} (stored {stored[v.name]['solver_version']}, now {v.version})"
             for v in variants if stored[v.name]["solver_version"] != v.version]
    assert not stale, ("solvers changed since results/leaderboard_trained.csv was made; regenerate it "
                       "(snakemake --cores 2 leaderboard_trained --forcerun leaderboard_trained): " + ", ".join(stale))
    assert {r["track_sha"] for r in stored.values()} == {track.sha}, "config/leaderboard_trained.yaml changed"
    assert {stored[v.name]["group"] for v in variants if v.entry.name in track.entries["oracle"]} == {"oracle"}


def test_committed_config_is_the_documented_one():
    track = load_track(TRACK_FILE)
    assert track.split["n_test"] >= 500
    assert track.N <= 256 and 2 <= len(track.tasks) <= 4
    assert set(track.entries["oracle"]) == {"omp_oracle", "iht_oracle"}


# ------------------------------------------------------------------------------------------------
# the table and its ranks


def test_table_is_a_function_of_the_rows(tiny):
    again = lbt.compute_trained_table(tiny["rows"], tiny["track"])
    assert csv_text(lbt.trained_columns(list(tiny["track"].tasks)), again) == tiny["out"].read_text()


def test_two_names_of_one_algorithm_share_a_rank(tiny):
    t = tiny["table"]
    assert t["omp"]["rank"] == t["omp_twin"]["rank"] != ""
    for k in ("score", "score_lo", "score_hi", "success_a", "nmse_db_b"):
        assert t["omp"][k] == t["omp_twin"][k]


def test_ranks_are_one_plus_the_entries_significantly_better(tiny):
    """Recomputed independently from the rows: the paired bootstrap of the mean success rate."""
    track, rows = tiny["track"], tiny["rows"]
    tasks, n = list(track.tasks), track.split["n_test"]
    from greedybench.analysis.ranking import resample_index, resampled_counts

    idx = {t: resample_index(n, 200, 0, ("leaderboard_trained", t)) for t in tasks}
    reps = {}
    for var, rec in tiny["table"].items():
        if not rec["rank"]:
            continue
        reps[var] = sum(resampled_counts(np.array([int(r["success"]) for r in sorted(
            (r for r in rows if r["variant"] == var and r["task"] == t), key=lambda r: int(r["problem"]))]),
            idx[t]) / n for t in tasks) / len(tasks)
    for var, r in reps.items():
        better = sum(separated(reps[o], r) for o in reps if o != var)
        assert tiny["table"][var]["rank"] == str(1 + better)
        assert float(tiny["table"][var]["score_lo"]) <= float(tiny["table"][var]["score"]) \
            <= float(tiny["table"][var]["score_hi"])
    ranks = [int(r["rank"]) for r in tiny["order"] if r["rank"]]
    assert ranks == sorted(ranks)


def test_oracle_is_a_reference_and_failures_count(tiny):
    t = tiny["table"]
    assert t["omp_oracle"]["rank"] == "" and t["omp_oracle"]["status"] == "reference"
    assert t["omp_oracle"]["group"] == "oracle"
    # the oracle gets T, OMP does not: on the latent family it is never worse
    assert float(t["omp_oracle"]["score"]) >= float(t["omp"]["score"])
    b = t["broken_net"]
    assert b["status"] == "failed" and b["rank"] == "" and b["score"] == "0.0000"
    assert "no convergence" in b["status_detail"]
    rows = [r for r in tiny["rows"] if r["variant"] == "broken_net"]
    assert len(rows) == 2 * 40 and {r["success"] for r in rows} == {"0"} and {r["status"] for r in rows} == {"error"}
    assert {t[v]["group"] for v in ("omp_net", "lista")} == {"trained"}
    u = t["syntax_error"]
    assert u["status"] == "unavailable" and u["rank"] == "" and u["score"] == "" and "SyntaxError" in u["status_detail"]
    assert tiny["order"][-1]["variant"] == "syntax_error"  # after the ranked entries and the references


def test_stale_rows_are_refused(tiny, tmp_path):
    cfg = dict(TINY, seed=5)
    track = load_track(_write(tmp_path, cfg), solver_files=tiny["files"])
    with pytest.raises(LeaderboardError, match="regenerate"):
        lbt.compute_trained_table(tiny["rows"], track)


# ------------------------------------------------------------------------------------------------
# splits, training, reproducibility


def test_splits_share_A_and_T_and_are_disjoint(tiny):
    sp = lbt.task_splits(tiny["track"], "a")
    assert [sp[k].B for k in ("train", "val", "test")] == [64, 32, 40]
    assert all(sp[k].A is sp["train"].A for k in sp)
    assert sp["train"].meta["T"] == sp["test"].meta["T"] is not None
    X = np.concatenate([sp[k].X.numpy() for k in ("train", "val", "test")])
    assert len({tuple(x) for x in X}) == len(X)


def test_longer_training_never_selects_a_worse_validation_loss(tiny):
    """The first k epochs of a longer run are the k-epoch run (seeded shuffling per epoch), and the
    best epoch is chosen on validation: more epochs can only lower the selected validation loss."""
    track = tiny["track"]
    sp = lbt.task_splits(track, "a")
    v = discover()["omp_net"].variants()[0]
    short = lbt.train_variant(v, sp, "a", track, epochs=1)
    full = lbt.train_variant(v, sp, "a", track, epochs=4)
    assert full["best_val_loss"] <= short["best_val_loss"]
    if full["best_epoch"] == short["best_epoch"]:
        for k, w in short["state_dict"].items():
            assert np.array_equal(w.numpy(), full["state_dict"][k].numpy())


def test_same_config_and_seed_give_the_same_rows(tiny, tmp_path):
    track = tiny["track"]
    again = lbt.run_track(track, solver_files=tiny["files"], entries=["omp_net", "omp", "omp_oracle"],
                          echo=lambda s: None)
    lbt.write_trained_rows(tmp_path / "r.csv", again)
    keep = [c for c in lbt.ROW_COLUMNS if c not in lbt.TIMING_ROW_COLUMNS + ("git_commit",)]
    mine = [{c: r[c] for c in keep} for r in lbt.read_trained_rows(tmp_path / "r.csv")]
    stored = [{c: r[c] for c in keep} for r in tiny["rows"] if r["variant"] in ("omp_net", "omp", "omp_oracle")]
    assert mine == stored


# ------------------------------------------------------------------------------------------------
# the config file


@pytest.mark.parametrize("edit, key", [
    (lambda c: c.update(taskz={}), "taskz"),
    (lambda c: c["split"].update(n_tets=5), "n_tets"),
    (lambda c: c["training"].update(epoch=5), "training"),
    (lambda c: c["tasks"]["a"].update(s=20), "tasks.a"),
    (lambda c: c["entries"]["trained"].append("omp"), "entries.trained"),
    (lambda c: c["entries"]["untrained"].append("lista_cp"), "entries.untrained"),
    (lambda c: c["entries"]["oracle"].append("no_such_solver"), "entries.oracle"),
    (lambda c: c["family"].update(shared_A=False), "family.shared_A"),
])
def test_bad_config_errors_name_the_key(tiny, tmp_path, edit, key):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    edit(cfg)
    with pytest.raises(LeaderboardError) as info:
        load_track(_write(tmp_path, cfg), solver_files=tiny["files"])
    assert key in str(info.value)


def test_cli_stage(tiny, tmp_path, capsys):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    cfg["entries"] = {"trained": ["omp_net"], "untrained": ["omp"]}
    cfg["training"]["epochs"] = 1
    path = _write(tmp_path, cfg)
    assert cli_main(["leaderboard", "trained", "--config", str(path), "--out", str(tmp_path / "lt.csv")]) == 0
    assert (tmp_path / "lt_rows.csv.gz").is_file()
    text = (tmp_path / "lt.csv").read_text().splitlines()
    assert len(text) == 3 and text[0].startswith("rank,group,variant")
    bad = dict(cfg, tasks={"a": {"m": 8, "s": 9}})
    assert cli_main(["leaderboard", "trained", "--config", str(_write(tmp_path, bad, "bad.yaml")),
                     "--out", str(tmp_path / "x.csv")]) == 2
    assert "tasks.a" in capsys.readouterr().err
