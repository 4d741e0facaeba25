# Stage surgery (surgery experiments only): each snapshot's spectral surgery (the tail
# shrunk to the MP edge, the spike alone, a random control) evaluated with the run's
# read-out on its test set; collect_surgery joins them per experiment.
# htcore.stages.surgery, htcore.surgery


rule surgery:
    input:
        unpack(eval_inputs),
    output:
        out="results/{experiment}/surgery/{run}/surgery.parquet",
    params:
        spec=spec_of("surgery"),
        code=code_of("surgery"),
    log:
        "results/logs/{experiment}/surgery/{run}.log",
    threads: 1
    resources:
        mem_mb=mem_of("surgery"),
    shell:
        command("surgery")


rule collect_surgery:
    input:
        surgeries=surgery_inputs,
    output:
        surgery_table="results/{experiment}/surgery.parquet",
    params:
        spec=collect_spec,
        code=code_hash("collect_surgery"),
    log:
        "results/logs/{experiment}/collect_surgery.log",
    threads: 1
    resources:
        mem_mb=STAGES["collect_surgery"].mem_mb(),
    script:
        "../scripts/stage.py"
