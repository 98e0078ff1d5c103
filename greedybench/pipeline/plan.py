"""The job matrix of a validated config: instance slices, solver variants, and the paths that
connect them. The Snakefile (workflow/rules/common.smk) and the CLI read the same :class:`Plan`.

Paths (all under ``results/``)::

    instances/phase/{family}/{slice}/            one generate job: manifest.json + one .npz per rho
    instances/train/{set}/{split}/               split = trainval (train.npz, val.npz) or test
    models/{variant}/{set}.pt                    one train job per trained variant x training set
    runs/phase/{variant}/{family}/{slice}.csv    one solve job per variant x phase slice
    runs/train/{variant}/{set}/test.csv          one solve job per variant x training set
    timing/{variant}.csv                         one timing job per variant
    transitions/{family}/{tvariant}.csv          one transition job per family x study variant
    tables/{results,timing,soft_vs_hard}.csv     merged tables
    tables/{transitions,transition_counts}.csv   the transition study (rho* per location; raw counts)
    figures/ (manifest.json + PNGs), report/index.html

``slice`` is ``N{N}_delta{delta}_seed{seed}``; ``variant`` is the variant name made safe for a
path (``iht[n_iter=30,step=0.6]`` -> ``iht@n_iter=30@step=0.6``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from ..registry import Variant, discover
from .config import cell_sizes, fig2_enabled, resolve_device

__all__ = ["Plan", "Slice", "variant_slug"]


def variant_slug(name: str) -> str:
    """File-system safe form of a variant name (one-to-one for ordinary names)."""
    s = name.replace("[", "@").replace("]", "").replace(",", "@")
    return re.sub(r"[^A-Za-z0-9_.=+@-]", "_", s)


@dataclass(frozen=True)
class Slice:
    """One generate job: a (family, N, delta, seed) slice holding one instance per rho."""

    family: str
    N: int
    delta: float
    seed: int
    cells: Tuple[Tuple[float, int, int], ...]  # (rho, m, s)

    @property
    def id(self) -> str:
        return f"N{self.N}_delta{self.delta!r}_seed{self.seed}"


@dataclass
class Plan:
    config: dict
    device: str = ""
    variants: Dict[str, Variant] = field(default_factory=dict)   # slug -> variant
    slices: List[Slice] = field(default_factory=list)
    #: (family, N, delta, rho, s) of grid points dropped because an earlier rho gave the same s
    merged_cells: List[tuple] = field(default_factory=list)
    #: slug -> variant of the transition study (its own solver list, ``transitions.solvers``)
    transition_variants: Dict[str, Variant] = field(default_factory=dict)

    def __post_init__(self):
        cfg = self.config
        self.device = resolve_device(cfg["device"])
        entries = discover(cfg.get("solver_files", []))
        for name, over in cfg["solvers"].items():
            for v in entries[name].variants(over.get("parameters")):
                slug = variant_slug(v.name)
                if slug in self.variants:
                    raise ValueError(f"variants {self.variants[slug].name!r} and {v.name!r} share the path {slug!r}")
                self.variants[slug] = v
        tr = cfg.get("transitions") or {}
        if tr.get("enabled"):
            for name, over in tr["solvers"].items():
                if name not in entries:
                    raise ValueError(f"transitions.solvers: unknown solver {name!r}")
                if entries[name].trained:
                    raise ValueError(f"transitions.solvers: {name!r} is a trained solver; the study "
                                     "runs untrained ones")
                for v in entries[name].variants((over or {}).get("parameters")):
                    self.transition_variants[variant_slug(v.name)] = v
        pt = cfg["phase_transition"]
        if pt["enabled"]:
            for fam in pt["families"]:
                for N in pt["N"]:
                    for delta in pt["delta"]:
                        cells, seen = [], set()
                        for rho in pt["rho"]:
                            m, s = cell_sizes(N, delta, rho)
                            if s in seen:  # a small m maps neighbouring rhos to one s: one cell
                                self.merged_cells.append((fam, N, float(delta), float(rho), s))
                                continue
                            seen.add(s)
                            cells.append((float(rho), m, s))
                        for r in range(cfg["seeds"]["replicates"]):
                            self.slices.append(Slice(fam, N, float(delta), cfg["seeds"]["base"] + r, tuple(cells)))

    # -- selections ------------------------------------------------------------------------------

    def slice(self, family: str, slice_id: str) -> Slice:
        for s in self.slices:
            if s.family == family and s.id == slice_id:
                return s
        raise KeyError(f"no instance slice {family}/{slice_id}")

    def variant(self, slug: str) -> Variant:
        return self.variants[slug]

    def _over(self, v: Variant) -> dict:
        return self.config["solvers"][v.entry.name]

    @property
    def untrained(self) -> List[str]:
        return [k for k, v in self.variants.items() if not v.entry.trained]

    @property
    def trained(self) -> List[str]:
        return [k for k, v in self.variants.items() if v.entry.trained]

    def phase_runs(self) -> List[Tuple[str, str, str]]:
        """(variant slug, family, slice id) of every phase-transition solve job."""
        pt = self.config["phase_transition"]
        out = []
        for slug in self.untrained:
            over = self._over(self.variants[slug])
            fams = over["families"] if "families" in over else pt["families"]
            out += [(slug, s.family, s.id) for s in self.slices if s.family in fams]
        return out

    def _sets_of(self, slug: str) -> List[str]:
        return list(self._over(self.variants[slug]).get("training_sets") or self.config["training"]["sets"])

    def models(self) -> List[Tuple[str, str]]:
        """(trained variant slug, training set) of every train job."""
        if not self.config["training"]["enabled"]:
            return []
        return [(slug, t) for slug in self.trained for t in self._sets_of(slug)]

    def train_runs(self) -> List[Tuple[str, str]]:
        """(variant slug, training set) of every solve job on a test split (trained + baselines)."""
        tr = self.config["training"]
        if not tr["enabled"]:
            return []
        base = set(tr.get("baselines", []))
        slugs = self.trained + [k for k in self.untrained if self.variants[k].entry.name in base]
        return [(slug, t) for slug in slugs for t in self._sets_of(slug)]

    def family_of(self, experiment: str, group: str) -> str:
        """The family of a run group: the family itself (phase) or the training set's family."""
        return group if experiment == "phase" else self.config["training"]["sets"][group]["family"]

    def timed(self) -> List[str]:
        if not self.config["timing"]["enabled"]:
            return []
        return [k for k in self.untrained if self._over(self.variants[k]).get("timing", True)]

    def solver_files_of(self, names) -> List[str]:
        """The drop-in files among these entries (built-ins need none): a job gets only its own,
        so adding a drop-in elsewhere does not change its params."""
        entries = discover(self.config.get("solver_files", []))
        return sorted({str(entries[n].path) for n in names
                       if not entries[n].module_name.startswith("greedybench.solvers.")})

    def soft_vs_hard_versions(self) -> Dict[str, str]:
        """Version hash of every solver the soft-vs-hard stage runs."""
        sv = self.config["soft_vs_hard"]
        if not sv["enabled"]:
            return {}
        entries = discover(self.config.get("solver_files", []))
        names = sorted({p[r] for p in sv["pairs"] for r in ("soft", "hard")})
        return {n: entries[n].version for n in names}

    def train_options(self, slug: str) -> dict:
        opts = dict(self.config["training"].get("options", {}))
        opts.update(self._over(self.variants[slug]).get("train_options", {}) or {})
        return opts

    def _transition_Ns(self, slug: str) -> Tuple[List[int], List[int]]:
        """(N of the full curves, extra N at finite_size.delta only) of a study variant."""
        tr = self.config["transitions"]
        over = tr["solvers"][self.transition_variants[slug].entry.name] or {}
        curves = [int(n) for n in over.get("N", tr["N"])]
        fs = (tr.get("finite_size") or {}).get("N", [])
        extra = [int(n) for n in over.get("finite_size_N", fs) if int(n) not in curves]
        return curves, extra

    def transition_jobs(self) -> List[Tuple[str, str]]:
        """(family, study variant slug) of every transition job; a job covers every N of the
        curves (every delta) and every extra finite-size N (finite_size.delta only): one job per
        pair keeps the per-job start-up (~10 s on a loaded 2-core machine) off the budget."""
        tr = self.config.get("transitions") or {}
        if not tr.get("enabled"):
            return []
        out = []
        for slug, v in self.transition_variants.items():
            over = tr["solvers"][v.entry.name] or {}
            out += [(fam, slug) for fam in over.get("families", tr["families"])]
        return out

    def transition_params(self, family: str, slug: str) -> dict:
        """Everything one transition job reads (its parameters decide when it reruns)."""
        tr = self.config["transitions"]
        v = self.transition_variants[slug]
        over = tr["solvers"][v.entry.name] or {}
        curves, extra = self._transition_Ns(slug)
        sizes = [[N, [float(d) for d in tr["delta"]]] for N in curves]
        sizes += [[N, [float(tr["finite_size"]["delta"])]] for N in extra]
        return {"entry": v.entry.name, "params_json": v.params_json, "version": v.version,
                "solver_files": self.solver_files_of([v.entry.name]), "family_name": family,
                "family": self.config["families"][family], "sizes": sizes,
                "protocol": dict(tr["protocol"]), "success": dict(tr["success"]),
                "trials_per_matrix": int(tr["trials_per_matrix"]), "seed": int(tr["seed"]),
                "rho_max": float(over.get("rho_max", tr["rho_max"]))}

    def transition_paths(self) -> List[str]:
        return [f"results/transitions/{f}/{v}.csv" for f, v in self.transition_jobs()]

    # -- paths -----------------------------------------------------------------------------------

    def run_paths(self) -> List[str]:
        out = [f"results/runs/phase/{v}/{f}/{s}.csv" for v, f, s in self.phase_runs()]
        out += [f"results/runs/train/{v}/{t}/test.csv" for v, t in self.train_runs()]
        return out

    def final_targets(self) -> List[str]:
        cfg = self.config
        out = ["results/tables/results.csv"]
        if self.timed():
            out.append("results/tables/timing.csv")
        if cfg["soft_vs_hard"]["enabled"]:
            out.append("results/tables/soft_vs_hard.csv")
        if fig2_enabled(cfg["soft_vs_hard"]):
            out.append("results/tables/fig2.csv")
        if self.transition_jobs():
            out += ["results/tables/transitions.csv", "results/tables/transition_counts.csv"]
        if cfg["figures"]["enabled"]:
            out.append("results/figures")
        if cfg["report"]["enabled"]:
            out.append("results/report/index.html")
        return out

    def summary(self) -> str:
        """A one-screen description of the job matrix."""
        lines = [f"config {self.config['name']!r}: device {self.device}, dtype {self.config['dtype']}",
                 f"  variants ({len(self.variants)}): " + ", ".join(v.name for v in self.variants.values()),
                 f"  phase-transition slices: {len(self.slices)} "
                 f"({sum(len(s.cells) for s in self.slices)} instances), solve jobs: {len(self.phase_runs())}",
                 f"  grid points merged into an existing cell (same m and s): {len(self.merged_cells)}\n"
                 f"  trained models: {len(self.models())}, test-split solve jobs: {len(self.train_runs())}",
                 f"  timing jobs: {len(self.timed())}, soft-vs-hard: {self.config['soft_vs_hard']['enabled']}",
                 f"  transition study: {len(self.transition_variants)} variants, "
                 f"{len(self.transition_jobs())} jobs (one per family x variant, every N and delta)"]
        return "\n".join(lines)
