"""Reports from the result store: ablation tables, leaderboards, plots and a self-contained HTML page.

Reads only the files under ``runs/`` (and model cards), never the engine, models or data packages.
"""
from rvosbench.report import formats, page  # noqa: F401  (register the md/tex/csv/html writers)
from rvosbench.report.study import write_study_report  # noqa: E402

__all__ = ["write_study_report"]
from rvosbench.report.leaderboard import write_leaderboard  # noqa: E402

__all__ += ["write_leaderboard"]
