# Stage 4b (evolution experiments): singular values of the updates M_t = W_t' - W_t
# and the overlaps of their top-k singular vectors with those of W_t and W_t'.


rule updates:
    input:
        weights=rules.train.output.weights,
    output:
        sv="results/{experiment}/updates/{run}/singular_values.parquet",
        overlaps="results/{experiment}/updates/{run}/overlaps.parquet",
    params:
        spec=updates_spec,
        code=code_hash("updates"),
    log:
        "results/logs/{experiment}/updates/{run}.log",
    benchmark:
        "results/benchmarks/{experiment}/updates/{run}.tsv"
    threads: 1
    resources:
        mem_mb=stage_mem_mb("updates"),
    conda:
        ENV
    shell:
        "htjob --threads {threads} updates --spec {params.spec:q} --weights {input.weights}"
        " --sv {output.sv} --overlaps {output.overlaps} > {log} 2>&1"


# Beyond the paper: the ESD of the feature matrix Z per probe step.
rule feature_spectra:
    input:
        data=data_of_eval,
        weights=weights_of_eval,
    output:
        esd="results/{experiment}/feature_spectra/{run}.parquet",
    params:
        spec=eval_spec,
        code=code_hash("feature_spectra"),
    log:
        "results/logs/{experiment}/feature_spectra/{run}.log",
    benchmark:
        "results/benchmarks/{experiment}/feature_spectra/{run}.tsv"
    threads: 1
    resources:
        mem_mb=stage_mem_mb("evaluate"),
    conda:
        ENV
    shell:
        "htjob --threads {threads} feature_spectra --spec {params.spec:q} --data {input.data}"
        " --weights {input.weights} --out {output.esd} > {log} 2>&1"
