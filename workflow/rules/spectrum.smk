# Stage spectrum: per snapshot of one run, the ESD of W, its summaries, tail fits and
# shape label; for evolution experiments the update analysis. htcore.stages.spectrum


rule spectrum:
    input:
        weights=rules.train.output.weights,
        trace=rules.train.output.trace,
    output:
        esd="results/{experiment}/spectrum/{run}/esd.parquet",
        table="results/{experiment}/spectrum/{run}/spectrum.parquet",
        update_sv="results/{experiment}/spectrum/{run}/update_sv.parquet",
        overlaps="results/{experiment}/spectrum/{run}/overlaps.parquet",
    params:
        spec=spec_of("spectrum"),
        code=code_hash("spectrum"),
    log:
        "results/logs/{experiment}/spectrum/{run}.log",
    threads: 1
    resources:
        mem_mb=mem_of("spectrum"),
    conda:
        ENV
    shell:
        command("spectrum")
