# Stage spectrum: the ESD of every snapshot of a run to Parquet, with its summaries
# (and, for evolution experiments, the update analysis). htcore.stages.spectrum
# Stage tails: from the ESD, the power-law fits, MP fit, outliers and the shape label
# per snapshot; a `tails:` setting re-runs only this. htcore.stages.tails


rule spectrum:
    input:
        weights=rules.train.output.weights,
    output:
        esd="results/{experiment}/spectrum/{run}/esd.parquet",
        summary="results/{experiment}/spectrum/{run}/summary.parquet",
        update_sv="results/{experiment}/spectrum/{run}/update_sv.parquet",
        overlaps="results/{experiment}/spectrum/{run}/overlaps.parquet",
    params:
        spec=spec_of("spectrum"),
        code=code_of("spectrum"),
    log:
        "results/logs/{experiment}/spectrum/{run}.log",
    threads: 1
    resources:
        mem_mb=mem_of("spectrum"),
    shell:
        command("spectrum")


rule tails:
    input:
        esd=rules.spectrum.output.esd,
    output:
        table="results/{experiment}/tails/{run}/tails.parquet",
    params:
        spec=spec_of("tails"),
        code=code_of("tails"),
    log:
        "results/logs/{experiment}/tails/{run}.log",
    threads: 1
    resources:
        mem_mb=mem_of("tails"),
    shell:
        command("tails")
