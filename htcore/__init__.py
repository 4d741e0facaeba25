"""htcore: the computations behind the htstudy workflow.

Each module holds one stage's logic as pure functions on arrays; file I/O lives at
the edges (:mod:`htcore.io`, :mod:`htcore.cli`). The Snakemake rules under
``workflow/rules`` only declare inputs, outputs and parameters and call
``python -m htcore <stage>``.
"""

__version__ = "0.1.0"
