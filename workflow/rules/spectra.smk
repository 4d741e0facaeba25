# Stage 4: the whole ESD of W per probe step, plus lambda_max, ||W||_F^2, stable rank.


rule spectra:
    input:
        weights=rules.train.output.weights,
    output:
        esd="results/{experiment}/spectra/{run}/esd.parquet",
        summary="results/{experiment}/spectra/{run}/summary.parquet",
    params:
        spec=train_spec,
        code=code_hash("spectra"),
    log:
        "results/logs/{experiment}/spectra/{run}.log",
    benchmark:
        "results/benchmarks/{experiment}/spectra/{run}.tsv"
    threads: 1
    resources:
        mem_mb=stage_mem_mb("spectra"),
    conda:
        ENV
    shell:
        "htjob --threads {threads} spectra --spec {params.spec:q} --weights {input.weights}"
        " --esd {output.esd} --summary {output.summary} > {log} 2>&1"
