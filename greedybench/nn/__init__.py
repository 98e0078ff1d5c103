"""Trained unrolled networks: OMP-Net and IHT-Net (unrolled Soft-OMP / Soft-IHT with learned
selection weights) and the unfolded-ISTA baselines LISTA, LISTA-CP(SS), ALISTA and PUDLE.

All map y of shape (B, m) to x_hat of shape (B, N) and are trained with ``greedybench.train.train``.
"""

from .greedy_nets import IHTNet, OMPNet
from .lista import ALISTA, LISTA, LISTACP, LISTACPSS, alista_weight_matrix, coherence, soft_threshold
from .paths import layer_outputs
from .pudle import (PUDLE, PUDLEISTA, learn_dictionary, make_dictionary_data, normalize_columns,
                    relative_dictionary_error, sine_distance)

__all__ = [
    "ALISTA", "IHTNet", "LISTA", "LISTACP", "LISTACPSS", "OMPNet", "layer_outputs", "PUDLE", "PUDLEISTA", "alista_weight_matrix", "coherence",
    "learn_dictionary", "make_dictionary_data", "normalize_columns", "relative_dictionary_error",
    "sine_distance", "soft_threshold",
]
