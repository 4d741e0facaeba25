# A `script:` rule's job: the htcore stage named like the rule (htcore.cli.run_rule),
# for rules whose inputs are thousands of files (a command line would not hold them).
# BLAS threads are pinned before NumPy loads (Snakemake also sets OMP/OPENBLAS_NUM_THREADS).
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(snakemake.threads)  # noqa: F821 - set by Snakemake

from htcore.cli import run_rule  # noqa: E402

run_rule(snakemake)  # noqa: F821
