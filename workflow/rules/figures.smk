# Stage 7: the experiment's figures, PNG (in the report) and PDF.


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
        plot=plot_spec,
        tables=figure_table_args,
        caption=figure_caption,
        description=experiment_description,
        code=code_hash("figure"),
    log:
        "results/logs/{experiment}/figure/{figure}.log",
    benchmark:
        "results/benchmarks/{experiment}/figure/{figure}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    shell:
        "htjob figure --name {wildcards.figure} --plot {params.plot:q} --tables {params.tables}"
        " --png {output.png} --pdf {output.pdf} > {log} 2>&1"
