#!/usr/bin/env bash
# Run by Snakemake (--use-conda) once inside a new greedybench.yaml environment: install
# greedybench itself, without dependencies (the environment file lists them), from the checkout.
# Snakemake runs this in its working directory, the repository root for `snakemake` and
# `greedybench run`; with --directory elsewhere, set GREEDYBENCH_REPO to the checkout.
set -euo pipefail
repo="${GREEDYBENCH_REPO:-$PWD}"
if [ ! -f "$repo/pyproject.toml" ] || [ ! -d "$repo/greedybench" ]; then
    echo "greedybench.post-deploy.sh: $repo is not a greedybench checkout; set GREEDYBENCH_REPO" >&2
    exit 1
fi
python -m pip install --no-deps -e "$repo"
