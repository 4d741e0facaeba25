# Stage 5: power-law tail fits (Hill, CSN/KS), MP bulk fit and shape label per snapshot.


rule tails:
    input:
        esd=rules.spectra.output.esd,
        trace=rules.train.output.trace,
    output:
        "results/{experiment}/tails/{run}.parquet",
    params:
        spec=tails_spec,
        code=code_hash("tails"),
    log:
        "results/logs/{experiment}/tails/{run}.log",
    benchmark:
        "results/benchmarks/{experiment}/tails/{run}.tsv"
    threads: 1
    resources:
        mem_mb=stage_mem_mb("tails"),
    conda:
        ENV
    shell:
        "htjob --threads {threads} tails --spec {params.spec:q} --esd {input.esd} --trace {input.trace}"
        " --out {output} > {log} 2>&1"
