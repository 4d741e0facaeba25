# Stage 8: the study's claims judged on its own tables (htcore.claims): one verdict
# row per claim and case in results/claims.parquet, and the report's verdict page.


rule claims:
    input:
        unpack(claims_inputs),
    output:
        table="results/claims.parquet",
        html=report(
            "results/claims.html",
            caption="../report/claims.rst",
            category="0. Claim verdicts",
            labels={"page": "verdicts"},
        ),
    params:
        tables=claims_table_args,
        code=code_hash("claims"),
    log:
        "results/logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    shell:
        "htjob claims --out {output.table} --html {output.html} --tables {params.tables} > {log} 2>&1"
