# Stage run: one whole run (optimizer, lr, seed, ...): train, then the ESD, summaries,
# tail fits and shape label of each snapshot (and the update analysis where the
# experiment draws it), then each evaluation setting (read-out losses, KTA, sim,
# baselines; the feature ESD for evolution experiments). One job, so that Snakemake's
# cost stays per run, not per step (README, "Speed").
# Snakemake re-runs the job when anything in its spec changes; inside, a step whose
# files are there for the same spec, code and training is skipped (htcore.memo):
# changing reg_lambda re-evaluates without retraining.
# A seed's initial run (init~0/..., 0 steps) gives the step-0 snapshot its runs share.
# The step files: results/{experiment}/{train,spectrum,eval}/<id>/ (htcore.stages.LAYOUT).
# htcore.stages.run


rule run:
    input:
        data=data_of,
    output:
        manifest="results/{experiment}/runs/{run}.json",
    params:
        spec=spec_of("run"),
        code=code_hash("run"),
    log:
        "results/logs/{experiment}/run/{run}.log",
    threads: 1
    priority: train_priority
    resources:
        mem_mb=mem_of("run"),
    conda:
        ENV
    shell:
        command("run")
