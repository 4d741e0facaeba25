# Stage collect: one tidy table per experiment (a row per run and probe step) and
# all its ESDs, from every run's files (its inputs: thousands, so a `script:` job);
# evolution experiments also get their update and feature tables.
# htcore.stages.collect, htcore.stages.collect_updates, htcore.collect


rule collect:
    input:
        unpack(collect_inputs),
    output:
        table="results/{experiment}/table.parquet",
        esd_table="results/{experiment}/esd.parquet",
    params:
        spec=collect_spec,
        code=code_hash("collect"),
    log:
        "results/logs/{experiment}/collect.log",
    threads: 1
    resources:
        mem_mb=STAGES["collect"].mem_mb(),
    script:
        "../scripts/stage.py"


rule collect_updates:
    input:
        unpack(collect_updates_inputs),
    output:
        sv_table="results/{experiment}/update_sv.parquet",
        overlaps_table="results/{experiment}/overlaps.parquet",
        feature_table="results/{experiment}/feature_esd.parquet",
    params:
        spec=collect_spec,
        code=code_hash("collect_updates"),
    log:
        "results/logs/{experiment}/collect_updates.log",
    threads: 1
    resources:
        mem_mb=STAGES["collect_updates"].mem_mb(),
    script:
        "../scripts/stage.py"
