"""Standard studies run on top of the package: task definitions, data with seeds, method lists,
training under one stated budget, evaluation and result tables.

* :mod:`.b1_task` -- the LISTA benchmark task B1 (reference unfolded_baselines 3.2 / 4.2): sizes,
  the seeded matrix, Bernoulli-Gaussian signals, per-sample SNR noise, fixed splits, a seeded stream.
* :mod:`.b1_baselines` -- the untrained references of B1 (ISTA, FISTA, OMP, IHT, Soft-OMP,
  Soft-IHT, AMP when ``greedybench.amp`` exists) evaluated per iteration.
* :mod:`.lista_b1` -- the learned methods, the resumable training loop and ``main(argv)``.
"""
