# Stage 3: read-out losses, KTA and sim(W, beta*) per probe step of one run.


rule evaluate:
    input:
        data=data_of_eval,
        weights=weights_of_eval,
    output:
        "results/{experiment}/eval/{run}.parquet",
    params:
        spec=eval_spec,
        code=code_hash("evaluate"),
    log:
        "results/logs/{experiment}/evaluate/{run}.log",
    benchmark:
        "results/benchmarks/{experiment}/evaluate/{run}.tsv"
    threads: 1
    resources:
        mem_mb=stage_mem_mb("evaluate"),
    conda:
        ENV
    shell:
        "htjob --threads {threads} evaluate --spec {params.spec:q} --data {input.data}"
        " --weights {input.weights} --out {output} > {log} 2>&1"
