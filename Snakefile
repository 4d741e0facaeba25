# htstudy: heavy tails in the weight spectrum without gradient noise.
# Rules declare; htcore computes. See README.md.

import os
import sys

import htcore.config as hc
from snakemake.utils import min_version

min_version("9.0")


# Read config.yaml ourselves before Snakemake does: a YAML syntax error then names its
# file, line and column (Snakemake's loader says only "not valid JSON or YAML"). The
# full validation is in workflow/rules/common.smk.
if os.path.exists("config.yaml"):
    try:
        hc.load_config_file("config.yaml")
    except hc.ConfigError as e:
        sys.exit(f"Invalid configuration: {e}")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/run.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"


rule all:
    input:
        all_targets(),
    default_target: True
