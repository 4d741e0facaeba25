# Stage evaluate: one evaluation setting of a run (read-out losses, KTA, sim,
# baselines per snapshot; the feature ESD for evolution experiments). Settings that
# only change the evaluation (reg_lambda, readout_scaling, n_test) share the run's
# training. htcore.stages.evaluate


rule evaluate:
    input:
        unpack(eval_inputs),
    output:
        out="results/{experiment}/eval/{run}/eval.parquet",
        feature_esd="results/{experiment}/eval/{run}/feature_esd.parquet",
    params:
        spec=spec_of("evaluate"),
        code=code_of("evaluate"),
    log:
        "results/logs/{experiment}/eval/{run}.log",
    threads: 1
    resources:
        mem_mb=mem_of("evaluate"),
    shell:
        command("evaluate")
