"""The ``fsbbt`` command: parses, calls the library, prints. No logic of its own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fsbbt.core import progress, threads
from fsbbt.core.errors import FsbbtError

# before torch loads: waiting OpenMP threads sleep instead of spinning (see fsbbt.core.threads)
threads.passive_openmp_waiting()

# Help without Python type tags: rich's panels print one (<bool>, <list[str]>) beside
# every option, so help is plain and each option has a metavar; an argument's tag
# (<str>) typer prints whatever its metavar, and it has no setting to turn that off.
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Black-box few-shot knowledge distillation (FS-BBT) and its baselines.",
)
teacher_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Train or serve a teacher.")
app.add_typer(teacher_app, name="teacher")

OutOption = Annotated[Path, typer.Option("--out", metavar="DIR", help="run directory (created if missing)")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="no progress bars or status lines; the result is still printed")
]
ConfigArgument = Annotated[str, typer.Argument(metavar="CONFIG", help="config YAML, or a preset name")]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="folder holding the dataset files (else $FSBBT_DATA, cache, system, download)",
    ),
]
DeviceOption = Annotated[
    str | None,
    typer.Option(
        "--device", metavar="DEVICE", help="cpu, cuda or cuda:N (default: this rank's GPU if any, else CPU)"
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="KEY=VALUE", help="override a config key, e.g. --set student.epochs=5 (repeatable)"
    ),
]
BudgetOption = Annotated[
    int | None,
    typer.Option(
        "--query-budget", min=0, metavar="N", help="most teacher answers the run's ledger may ever hold"
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        metavar="N",
        help="torch threads per training (default: 1 for small networks, the free cores for "
        "large ones; trainings run side by side on the rest); or set FSBBT_THREADS",
    ),
]
PrecisionOption = Annotated[
    str | None,
    typer.Option(
        "--precision",
        metavar="PRECISION",
        help="auto (bf16 on CPUs with native bf16, AMP on CUDA, else fp32), fp32, "
        "bf16 or fp16; overrides the config's precision",
    ),
]


def _overrides(
    seeds: str | None, data_dir: Path | None, assignments: list[str] | None, precision: str | None = None
) -> list[str]:
    overrides = list(assignments or [])
    if seeds:
        overrides.append(f"seeds=[{seeds}]")
    if data_dir is not None:
        overrides.append(f"data_dir={data_dir}")
    if precision is not None:
        overrides.append(f"precision={precision}")
    return overrides


def _run_and_report(
    config_name: str, out: Path, overrides: list[str], device: str | None, jobs: int = 1
) -> None:
    from fsbbt.core import distributed
    from fsbbt.experiment.config import load_config
    from fsbbt.experiment.runner import RESULTS_FILE, run_experiment
    from fsbbt.report.table import print_results

    config = load_config(config_name, overrides)
    distributed.init_distributed(device)
    try:
        results = run_experiment(config, out, jobs)
        if distributed.is_main_process():
            print_results(results)
            typer.echo(
                f"results: {out / RESULTS_FILE}; figures: {out / 'samples.png'}, "
                f"{out / 'curves.png'}, {out / 'query_efficiency.png'}"
            )
            typer.echo(_queries_line(results["queries"]))
    finally:
        distributed.shutdown_distributed()


@app.command()
def run(
    config: ConfigArgument,
    out: OutOption,
    seeds: Annotated[
        str | None, typer.Option(metavar="SEEDS", help="comma-separated seeds, e.g. 1,2,3")
    ] = None,
    data_dir: DataDirOption = None,
    set_: SetOption = None,
    query_budget: BudgetOption = None,
    device: DeviceOption = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, metavar="K", help="seeds run side by side in this many processes"
        ),
    ] = 1,
    precision: PrecisionOption = None,
    threads_: ThreadsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Train (or reuse) the teacher and run every method of CONFIG for each seed.

    Re-running with the same --out skips finished stages and resumes the unfinished one;
    under `torchrun --nproc_per_node=K -m fsbbt run ...` training is data-parallel;
    --jobs K runs K seeds at once in separate processes, sharing the teacher and ledger.
    """
    progress.set_quiet(quiet or progress.is_quiet())
    threads.configure(threads_)
    overrides = _overrides(seeds, data_dir, set_, precision)
    if query_budget is not None:
        overrides.append(f"query_budget={query_budget}")
    _run_and_report(config, out, overrides, device, jobs)


@app.command()
def report(
    runs: Annotated[
        list[Path], typer.Argument(metavar="RUN_DIR", help="run directories (OUT of `fsbbt run`)")
    ],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="report directory (created if missing)")],
    quiet: QuietOption = False,
) -> None:
    """Merge runs (seeds, datasets) into report.md and a self-contained report.html.

    Reads only each run's results.json and figures: no model, no retraining.
    """
    from fsbbt.report.build import build_report

    progress.set_quiet(quiet or progress.is_quiet())
    markdown, page = build_report(runs, out)
    typer.echo(f"report: {markdown}, {page}")


@app.command()
def distill(
    teacher: Annotated[
        str,
        typer.Option(
            "--teacher", metavar="TEACHER", help="URL, KIND:VALUE, teacher YAML, .onnx or saved teacher dir"
        ),
    ],
    images: Annotated[Path, typer.Option("--images", metavar="DIR", help="folder of unlabeled images")],
    out: OutOption,
    student: Annotated[str, typer.Option(metavar="ARCH", help="student architecture")] = "lenet5-half",
    method: Annotated[
        str,
        typer.Option(
            metavar="METHOD",
            help="fsbbt, or fsbbt-active (ours: answers bought where the student is least sure), bbkd",
        ),
    ] = "fsbbt",
    test_images: Annotated[
        Path | None,
        typer.Option("--test-images", metavar="DIR", help="labelled test folder: one sub-folder per class"),
    ] = None,
    seed: Annotated[int, typer.Option(metavar="SEED", help="seed for synthesis and training")] = 1,
    skip_unreadable: Annotated[
        bool,
        typer.Option(
            "--skip-unreadable", help="leave out image files that do not decode (listed) instead of stopping"
        ),
    ] = False,
    query_budget: BudgetOption = None,
    set_: SetOption = None,
    precision: PrecisionOption = None,
    device: DeviceOption = None,
    threads_: ThreadsOption = None,
    quiet: QuietOption = False,
) -> None:
    """FS-BBT (or --method) on your own images: query TEACHER, train and save a student.

    One seed of the same pipeline as `fsbbt run`, into the same kind of run directory;
    re-running it with the same --out trains nothing and pays for no answer twice.
    """
    from fsbbt.core import distributed
    from fsbbt.experiment.distill import distill as run_distill
    from fsbbt.report.table import print_results

    progress.set_quiet(quiet or progress.is_quiet())
    threads.configure(threads_)
    distributed.init_distributed(device)
    try:
        results = run_distill(
            teacher,
            images,
            out,
            student,
            test_images,
            seed,
            query_budget,
            _overrides(None, None, set_, precision),
            skip_unreadable,
            method,
        )
        if distributed.is_main_process():
            print_results(results)
            typer.echo(f"student: {out / 'students'}; results: {out / 'results.json'}")
            if results["skipped_images"]:
                typer.echo(
                    f"skipped {len(results['skipped_images'])} unreadable images: "
                    + "; ".join(results["skipped_images"])
                )
            typer.echo(_queries_line(results["queries"]))
    finally:
        distributed.shutdown_distributed()


# how the transport counts of a query account read in words
_TRANSPORT_WORDS = {
    "retries": "retries",
    "timeouts": "timeouts",
    "replayed": "answers replayed by the server",
    "paid_twice": "images paid twice",
}


def _queries_line(queries: dict) -> str:
    """The query account in words: this invocation, then the run directory's lifetime,
    then how sending went (only where anything went wrong or was replayed)."""
    line = (
        f"teacher queries: {queries['sent']:,} paid now, {queries['from_ledger']:,} answered by "
        f"the ledger, {queries.get('paid_in_all', 0):,} paid in all in this run directory"
    )
    transport = [name for name in queries if f"{name}_in_all" in queries]
    if any(queries[f"{name}_in_all"] for name in transport):
        now = ", ".join(f"{queries[n]:,} {_TRANSPORT_WORDS.get(n, n.replace('_', ' '))}" for n in transport)
        in_all = ", ".join(f"{queries[f'{n}_in_all']:,}" for n in transport)
        line += f"; sending: {now} now ({in_all} in all)"
    return line


@app.command()
def demo(
    out: OutOption = Path("runs/demo"),
    device: DeviceOption = None,
    threads_: ThreadsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Teacher, Student-Alone, Standard-KD and FS-BBT on scikit-learn's digits (under a minute)."""
    progress.set_quiet(quiet or progress.is_quiet())
    threads.configure(threads_)
    _run_and_report("digits", out, [], device)


@teacher_app.command("train")
def teacher_train(
    config: ConfigArgument,
    out: OutOption,
    data_dir: DataDirOption = None,
    set_: SetOption = None,
    device: DeviceOption = None,
    precision: PrecisionOption = None,
    threads_: ThreadsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Train the config's teacher on the full training split; save weights + teacher.json.

    Checkpointed every epoch in OUT: the same command after a kill resumes.
    """
    from fsbbt.core import distributed
    from fsbbt.core import precision as compute_precision
    from fsbbt.data import load_dataset
    from fsbbt.experiment.config import load_config
    from fsbbt.teacher.train_local import train_teacher

    progress.set_quiet(quiet or progress.is_quiet())
    threads.configure(threads_)
    settings = load_config(config, _overrides(None, data_dir, set_, precision))
    compute_precision.configure(settings.precision)
    dataset = load_dataset(settings.dataset, settings.data_dir)
    is_main_process = distributed.init_distributed(device).rank == 0
    try:
        metadata = train_teacher(settings.teacher, dataset, out)
    finally:
        distributed.shutdown_distributed()
    if is_main_process:
        typer.echo(
            f"teacher {metadata.arch} on {metadata.dataset}: test accuracy "
            f"{metadata.test_accuracy:.4f}; saved in {out}"
        )


@app.command()
def export(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SOURCE", help="run directory (OUT of `fsbbt run` or `distill`) or a students/*.pt file"
        ),
    ],
    format_: Annotated[str, typer.Option("--format", metavar="FORMAT", help="onnx or torchscript")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="file to write")],
    method: Annotated[
        str | None,
        typer.Option(metavar="METHOD/ARCH", help="in a run directory: which student, e.g. fsbbt/lenet5-half"),
    ] = None,
    seed: Annotated[int | None, typer.Option(metavar="SEED", help="in a run directory: which seed")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            metavar="DIR",
            help="where the parity check's images are: the dataset's folder, "
            "or for a distilled student a folder of images like its own",
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Export a student (probabilities out) and check it against PyTorch on real images."""
    from fsbbt.ship.export import PARITY_BOUND, export_student

    progress.set_quiet(quiet or progress.is_quiet())
    report = export_student(source, format_, out, method, seed, data_dir)  # type: ignore[arg-type]
    typer.echo(f"exported {report.student} as {report.format} to {report.path}")
    typer.echo(
        f"parity: max |p_{report.format} - p_pytorch| = {report.max_abs_difference:.2e} "
        f"on {report.images_checked} {report.checked_on} "
        f"(bound {PARITY_BOUND:.0e})"
    )


@app.command()
def predict(
    model: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL", help="run directory, student .pt (with its .json), .onnx or TorchScript file"
        ),
    ],
    images: Annotated[list[Path], typer.Argument(metavar="IMAGE", help="image files or folders")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, metavar="K", help="classes shown per image")] = 3,
    quiet: QuietOption = False,
) -> None:
    """Classify images with a shipped student; print the top classes and probabilities."""
    from fsbbt.ship.predict import predict as predict_images

    progress.set_quiet(quiet or progress.is_quiet())
    for prediction in predict_images(model, images, top_k):
        ranked = ", ".join(
            f"{label} {probability:.4f}"
            for label, probability in zip(prediction.labels, prediction.probabilities, strict=True)
        )
        typer.echo(f"{prediction.image}: {ranked}")


@teacher_app.command("serve")
def teacher_serve(
    model: Annotated[
        str,
        typer.Argument(
            metavar="TEACHER", help="teacher to serve: saved teacher dir, .onnx, KIND:VALUE or YAML"
        ),
    ],
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="TCP port (0: any free port)")] = 8000,
    token_env: Annotated[
        str | None,
        typer.Option("--token-env", metavar="VAR", help="env var holding the bearer token clients must send"),
    ] = None,
    max_request_mb: Annotated[
        float, typer.Option("--max-request-mb", metavar="MB", help="largest request body accepted")
    ] = 64.0,
    max_image_pixels: Annotated[
        int,
        typer.Option(
            "--max-image-pixels",
            min=1,
            metavar="N",
            help="largest image (width × height) a request may declare; checked before decoding",
        ),
    ] = 4096 * 4096,
    answer_cache_mb: Annotated[
        float,
        typer.Option(
            "--answer-cache-mb",
            min=0,
            metavar="MB",
            help="memory for recent answers, replayed to a retried request (Idempotency-Key)",
        ),
    ] = 64.0,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="override a teacher key, e.g. --set input_shape=[1,28,28] for an ONNX file (repeatable)",
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Serve a teacher over HTTP (GET /v1/info, POST /v1/predict); see docs/teachers.md."""
    from fsbbt.teacher.factory import build_teacher, teacher_config_from_spec
    from fsbbt.teacher.server import check_bind, serve

    progress.set_quiet(quiet or progress.is_quiet())
    check_bind(host, token_env)
    settings = teacher_config_from_spec(model, [a.removeprefix("teacher.") for a in set_ or []])
    served = build_teacher(settings)
    serve(
        served,
        host,
        port,
        token_env,
        int(max_request_mb * 1024 * 1024),
        announce=lambda url: typer.echo(
            f"serving {len(served.class_names)}-class teacher for {served.input_shape} inputs on {url}",
            err=True,
        ),
        max_image_pixels=max_image_pixels,
        answer_cache_bytes=int(answer_cache_mb * 1024 * 1024),
    )


def main() -> None:
    """Console entry point: expected problems become one line on stderr and exit code 2."""
    try:
        app(prog_name="fsbbt")
    except FsbbtError as exc:
        print(f"fsbbt: error: {exc}", file=sys.stderr)
        sys.exit(2)
