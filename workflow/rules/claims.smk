# Stage claims: the study's claims judged on its own tables (htcore.claims): one
# verdict row per claim and case in results/claims.parquet, and the report's verdict
# page. htcore.stages.claims


rule claims:
    input:
        claims_files,
    output:
        out="results/claims.parquet",
        html=report(
            "results/claims.html",
            caption="../report/claims.rst",
            category="0. Claim verdicts",
            labels={"page": "verdicts"},
        ),
    params:
        spec="{}",
        tables=claims_inputs,
        code=code_hash("claims"),
    log:
        "results/logs/claims.log",
    threads: 1
    resources:
        mem_mb=STAGES["claims"].mem_mb(),
    shell:
        command("claims")
