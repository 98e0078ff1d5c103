"""greedybench.datasets: sensing ensembles, signal models, noise and instance files.

    from greedybench.datasets import make_instance, save_instance, load_instance
    inst = make_instance(ensemble="gaussian", signal="uniform", m=200, N=400, s=15,
                         batch=64, seed=0, sigma=1e-3, normalize=True)
    save_instance(inst, "results/instances/cell.npz")
    inst2 = load_instance("results/instances/cell.npz", device="cuda")

An instance is deterministic from (parameters, seed) (see :mod:`.instance`); the file format is
described in :mod:`.files` and in ``datasets/README.md``.
"""

from .ensembles import ENSEMBLES
from .files import InstanceFileError, InstanceFileNotFoundError, load_instance, save_instance
from .instance import FORMAT_VERSION, Instance, make_instance
from .signals import AMPLITUDES, SIGNALS

__all__ = [
    "AMPLITUDES", "ENSEMBLES", "FORMAT_VERSION", "Instance", "InstanceFileError",
    "InstanceFileNotFoundError", "SIGNALS", "load_instance", "make_instance", "save_instance",
]
