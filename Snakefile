# htstudy: heavy tails in the weight spectrum without gradient noise.
# Rules declare; htcore computes. See README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/spectra.smk"
include: "workflow/rules/tails.smk"
include: "workflow/rules/updates.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"


rule all:
    input:
        all_targets(),
    default_target: True
