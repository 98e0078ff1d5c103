# Figures (greedybench.analysis) and the HTML report (greedybench.report).


rule figures:
    input:
        unpack(figure_extras),
        results="results/tables/results.csv",
    output:
        figures=directory("results/figures"),
    log:
        "results/logs/figures.log",
    params:
        config=CFG,
        training=training_panels,
    script:
        "../scripts/figures.py"


rule report:
    input:
        unpack(report_leaderboard),
        figures="results/figures",
    output:
        html="results/report/index.html",
    log:
        "results/logs/report.log",
    params:
        config=CFG,
        device=DEVICE,
        leaderboard=CFG["report"]["leaderboard"],
    script:
        "../scripts/report.py"
