# Stage train: one run (optimizer, lr, seed, ...) -> W at the probe steps + the loss
# trace. A seed's initial run (init~0/..., 0 steps) gives the step-0 snapshot its
# runs share. htcore.stages.train


rule train:
    input:
        data=data_of("train"),
    output:
        weights="results/{experiment}/train/{run}/weights.npz",
        trace="results/{experiment}/train/{run}/trace.parquet",
    params:
        spec=spec_of("train"),
        code=code_hash("train"),
    log:
        "results/logs/{experiment}/train/{run}.log",
    threads: 1
    priority: train_priority
    resources:
        mem_mb=mem_of("train"),
    conda:
        ENV
    shell:
        command("train")
