# Stage evaluate: read-out losses, KTA, sim and loss baselines per snapshot of one
# run and evaluation setting; for evolution experiments the feature ESD.
# htcore.stages.evaluate


rule evaluate:
    input:
        data=data_of("eval"),
        weights=weights_of_eval,
    output:
        out="results/{experiment}/eval/{run}/eval.parquet",
        feature_esd="results/{experiment}/eval/{run}/feature_esd.parquet",
    params:
        spec=spec_of("evaluate"),
        code=code_hash("evaluate"),
    log:
        "results/logs/{experiment}/evaluate/{run}.log",
    threads: 1
    resources:
        mem_mb=mem_of("evaluate"),
    conda:
        ENV
    shell:
        command("evaluate")
