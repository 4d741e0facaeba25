# Stage train: one run (optimizer, lr, seed, ...) from its data: W and a at the probe
# steps, and the per-step trace (loss, lr, divergence). A seed's initial run
# (init~0/..., 0 steps) gives the step-0 snapshot its runs share. htcore.stages.train


rule train:
    input:
        data=data_of,
    output:
        weights="results/{experiment}/train/{run}/weights.npz",
        trace="results/{experiment}/train/{run}/trace.parquet",
    params:
        spec=spec_of("train"),
        code=code_of("train"),
    log:
        "results/logs/{experiment}/train/{run}.log",
    benchmark:
        "results/benchmarks/{experiment}/train/{run}.tsv"
    threads: 1
    priority: train_priority
    resources:
        mem_mb=mem_of("train"),
    shell:
        command("train")
