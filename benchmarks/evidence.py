"""The evidence run: baselines, BBKD and FS-BBT with its M sweep, several seeds, one report.

    python benchmarks/evidence.py --config fashion-mnist --seeds 1,2,3 --jobs 2

runs, in one run directory (one teacher, one ledger), for every seed:
student-alone, standard-kd, bbkd and fsbbt on LeNet5-half, fsbbt on LeNet5 (FS-BBT*),
and FS-BBT on LeNet5-half with M at 10, 25 and 50 % of the config's synthetic budget
(the 100 % point is fsbbt itself), so the query-efficiency figure has FS-BBT's curve
beside BBKD's rounds. ``--ablations`` adds the ablation variants of
``configs/<config>-ablations.yaml`` (MixUp only, CVAE only, sampling, τ).

Then it writes the report (report.md, report.html, figures/: no model weights) into
``benchmarks/results/evidence-<dataset>/`` with run.json (wall time, machine). The run
directory keeps stages, the ledger and the students: the same command after a kill
resumes, and ``--report-only`` rebuilds the report from it without training.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from fsbbt.experiment.config import PRESET_DIR, load_config
from fsbbt.experiment.runner import run_experiment
from fsbbt.report.build import build_report
from fsbbt.report.results import RESULTS_FILE

HERE = Path(__file__).resolve().parent
STUDENT = "lenet5-half"
BUDGET_FRACTIONS = (0.10, 0.25, 0.50)


def evidence_methods(synthetic_budget: int, ablations: list[str]) -> list[str]:
    """The methods of the evidence run, the M sweep written as FS-BBT variants."""
    methods = [
        f"student-alone/{STUDENT}",
        f"standard-kd/{STUDENT}",
        f"bbkd/{STUDENT}",
        f"fsbbt/{STUDENT}",
        "fsbbt/lenet5",
    ]
    methods += [
        f"fsbbt[synthesis.budget={round(fraction * synthetic_budget)}]/{STUDENT}"
        for fraction in BUDGET_FRACTIONS
    ]
    return methods + [entry for entry in ablations if entry not in methods]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="fashion-mnist", help="config YAML or preset name")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    parser.add_argument("--out", type=Path, help="run directory (default runs/evidence-<dataset>)")
    parser.add_argument(
        "--report-dir", type=Path, help="report directory (default benchmarks/results/evidence-<dataset>)"
    )
    parser.add_argument(
        "--ablations", action="store_true", help="add the ablation variants of <config>-ablations.yaml"
    )
    parser.add_argument(
        "--set", action="append", default=[], dest="overrides", help="config override KEY=VALUE (repeatable)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rebuild the report from --out/results.json, train nothing"
    )
    args = parser.parse_args()

    base = load_config(args.config, [*args.overrides, f"seeds=[{args.seeds}]"])
    ablations: list[str] = []
    if args.ablations:
        ablations = load_config(PRESET_DIR / f"{Path(args.config).stem}-ablations.yaml").methods
    methods = evidence_methods(base.synthesis.budget, ablations)
    config = load_config(
        args.config, [*args.overrides, f"seeds=[{args.seeds}]", f"methods={json.dumps(methods)}"]
    )
    out = args.out or Path("runs") / f"evidence-{config.dataset}"
    report_dir = args.report_dir or HERE / "results" / f"evidence-{config.dataset}"

    started = time.perf_counter()
    if args.report_only:
        results = json.loads((out / RESULTS_FILE).read_text())
    else:
        results = run_experiment(config, out, args.jobs)
    wall_seconds = round(time.perf_counter() - started, 1)
    markdown, page = build_report([out], report_dir)
    run_info = {
        "command": f"python benchmarks/evidence.py --config {args.config} --seeds "
        f"{args.seeds} --jobs {args.jobs}"
        + "".join(f" --set {o}" for o in args.overrides)
        + (" --ablations" if args.ablations else ""),
        "wall_seconds": None if args.report_only else wall_seconds,
        "methods": methods,
        "queries": results.get("queries"),
        "machine": results.get("machine", {"platform": platform.platform()}),
        "finished_at": results.get("finished_at"),
    }
    (report_dir / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")
    print(f"{wall_seconds:.0f} s; report: {markdown}, {page}")


if __name__ == "__main__":
    main()
