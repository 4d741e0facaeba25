# Stage 6: one tidy table per experiment (a row per run and probe step) + all ESDs.


rule collect:
    input:
        unpack(collect_inputs),
    output:
        table="results/{experiment}/table.parquet",
        esd="results/{experiment}/esd.parquet",
    params:
        code=code_hash("collect"),
    log:
        "results/logs/{experiment}/collect.log",
    benchmark:
        "results/benchmarks/{experiment}/collect.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    shell:
        "htjob collect --table {output.table} --esd-table {output.esd}"
        " --eval {input.eval} --summary {input.summary} --tails {input.tails}"
        " --trace {input.trace} --esd {input.esd} > {log} 2>&1"


# Per-experiment concatenations of the evolution stages' per-run tables.
rule collect_extra:
    input:
        extra_inputs,
    output:
        "results/{experiment}/{extra}.parquet",
    params:
        code=code_hash("collect"),
    log:
        "results/logs/{experiment}/collect_{extra}.log",
    benchmark:
        "results/benchmarks/{experiment}/collect_{extra}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    shell:
        "htjob concat --out {output} --inputs {input} > {log} 2>&1"
