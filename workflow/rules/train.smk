# Stage 2: train one run (optimizer, lr, seed, ...) -> W at the probe steps + trace.


rule train:
    input:
        data=data_of_train,
    output:
        weights="results/{experiment}/train/{run}/weights.npz",
        trace="results/{experiment}/train/{run}/trace.parquet",
    params:
        spec=train_spec,
        device=STUDY.device,
        code=code_hash("train"),
    log:
        "results/logs/{experiment}/train/{run}.log",
    benchmark:
        "results/benchmarks/{experiment}/train/{run}.tsv"
    threads: 1
    resources:
        mem_mb=stage_mem_mb("train"),
    conda:
        ENV
    shell:
        "htjob --threads {threads} train --spec {params.spec:q} --data {input.data}"
        " --weights {output.weights} --trace {output.trace} --device {params.device} > {log} 2>&1"
