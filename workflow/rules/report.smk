# Figures (greedybench.analysis) and the HTML report (greedybench.report).


rule figures:
    input:
        unpack(figure_extras),
        results="results/tables/results.csv",
    output:
        figures=directory("results/figures"),
    log:
        "results/logs/figures.log",
    conda:
        "../envs/greedybench.yaml"
    params:
        config=CFG,
        training=training_panels,
        studies=learned_study_outputs,
    script:
        "../scripts/figures.py"


rule report:
    input:
        figures="results/figures",
    output:
        html="results/report/index.html",
    log:
        "results/logs/report.log",
    conda:
        "../envs/greedybench.yaml"
    params:
        config=CFG,
        device=DEVICE,
        leaderboard=report_leaderboard,
    script:
        "../scripts/report.py"
