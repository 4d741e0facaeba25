# Stage data: teacher, training and probe sets, initial weights, one file per
# (data parameters, seed). htcore.stages.data


rule data:
    output:
        out="results/{experiment}/data/{run}.npz",
    params:
        spec=spec_of("data"),
        code=code_of("data"),
    log:
        "results/logs/{experiment}/data/{run}.log",
    threads: 1
    priority: data_priority
    resources:
        mem_mb=mem_of("data"),
    shell:
        command("data")
