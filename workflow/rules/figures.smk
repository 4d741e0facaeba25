# Stage figure: one figure of an experiment, PNG (in the report) and PDF.
# htcore.stages.figure, htcore.figures


rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(
            "results/{experiment}/figures/{figure}.png",
            caption="../report/figure.rst",
            category="{experiment}",
            subcategory="figures",
            labels={"experiment": "{experiment}", "figure": "{figure}"},
        ),
        pdf="results/{experiment}/figures/{figure}.pdf",
    params:
        spec=figure_spec,
        tables=figure_table_args,
        caption=figure_caption,
        description=experiment_description,
        code=code_hash("figure"),
    log:
        "results/logs/{experiment}/figure/{figure}.log",
    threads: 1
    resources:
        mem_mb=STAGES["figure"].mem_mb(),
    shell:
        command("figure")
