# htstudy: heavy tails in the weight spectrum without gradient noise.
# Rules declare; htcore computes. See README.md.

import os
import sys

import yaml

from htcore.configfile import ConfigError, read_config_files
from snakemake.utils import min_version

min_version("9.0")


# Read every config file ourselves before `configfile:` merges them (htcore.configfile.
# read_config_files): config.yaml, and each --configfile (workflow.configfiles holds
# those here). A YAML syntax error in config.yaml names its file, line and column
# (Snakemake's loader says only "not valid JSON or YAML"); a key written twice, or one
# that `configfile:` would trip on (pathvars), names the file. Snakemake itself parses
# each --configfile before this runs: a syntax error, a missing file or a malformed
# pathvars there gets Snakemake's own message (or traceback), out of this file's reach.
# The full validation is in workflow/rules/common.smk.
try:
    with open(workflow.source_path("workflow/schemas/config.schema.yaml")) as _f:
        read_config_files("config.yaml", workflow.configfiles, yaml.safe_load(_f))
except ConfigError as e:
    sys.exit(f"Invalid configuration: {e}")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/spectrum.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/surgery.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"


rule all:
    input:
        all_targets(),
    default_target: True
