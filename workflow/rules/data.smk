# Stage 1: teacher, data sets and initial weights, one file per (data parameters, seed).


rule generate_data:
    output:
        "results/{experiment}/data/{run}.npz",
    params:
        spec=data_spec,
        code=code_hash("data"),
    log:
        "results/logs/{experiment}/generate_data/{run}.log",
    benchmark:
        "results/benchmarks/{experiment}/generate_data/{run}.tsv"
    threads: 1
    resources:
        mem_mb=stage_mem_mb("data"),
    conda:
        ENV
    shell:
        "htjob --threads {threads} data --spec {params.spec:q} --out {output} > {log} 2>&1"
