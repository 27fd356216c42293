"""The Typer application, shared option types, and how a command runs a flow."""

from __future__ import annotations

import importlib
import os
from typing import Annotated, Any, Literal

import typer

from flows.console import OneLineErrors, console, friendly
from genesis_core.target_tasks import TaskName  # noqa: F401 - the CLI's task choices

app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    help="Models Genesis pipeline: synthesise, ingest, preprocess, pre-train, fine-tune, evaluate.",
)
synth_app = typer.Typer(no_args_is_help=True, help="Write synthetic CT datasets in real layouts.")
app.add_typer(synth_app, name="synth")
store_app = typer.Typer(no_args_is_help=True, help="Check and tidy cube and target stores.")
app.add_typer(store_app, name="store")
server_app = typer.Typer(no_args_is_help=True, help="The local Prefect server of a data root.")
app.add_typer(server_app, name="server")
catalog_app = typer.Typer(no_args_is_help=True, help="Look up scans in a dataset's catalog.")
app.add_typer(catalog_app, name="catalog")

RootOpt = Annotated[
    str | None,
    typer.Option(
        "--root", help="Data root (path or s3://); default GENESIS_ROOT or ./genesis_data"
    ),
]
Sampling = Literal["auto", "random", "blocks"]
Profile = Literal["tiny", "paper"]
# The cube options of every command that builds a cube store (preprocess, nightly)
StoreOpt = Annotated[
    str | None, typer.Option(help="cube store URI (default ROOT/stores/DATASET.zarr)")
]
SpacingOpt = Annotated[str, typer.Option(help="X,Y,Z mm, one value, or 'native'")]
CubeOpt = Annotated[str, typer.Option(help="cube size X,Y,Z voxels (each divisible by 8)")]
CubesPerScanOpt = Annotated[int, typer.Option(min=1, help="cubes per scan at most")]


def command(name: str | None = None, group: typer.Typer = app):
    """Register a command of ``group`` with the one error style (:func:`flows.console.friendly`)."""

    def register(fn):
        return group.command(name)(friendly(fn))

    return register


def quiet_defaults() -> None:
    """Nothing phones home; Prefect's own chatter stays quiet unless asked for."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Prefect's own logs (a failed run's traceback among them) only with --verbose: the
    # commands print their own one-line errors and results.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("genesis-pipeline")
        except PackageNotFoundError:  # run from a checkout that was not installed
            v = "unknown (not installed)"
        console.print(f"genesis {v}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Prefect's logs and full tracebacks")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    if verbose:
        os.environ["GENESIS_VERBOSE"] = "1"
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    quiet_defaults()


def say(text: str) -> None:
    """A status line (what is about to happen), printed at once."""
    console.print(f"[dim]{text}[/]", highlight=False, soft_wrap=True)


def settings(root: str | None):
    from tasks.settings import get_settings

    return get_settings(root)


def run_flow(ref: str, **kw: Any) -> Any:
    """Run the flow ``module:function`` in this process against the data root's Prefect
    API (:mod:`flows.local_api`) and return its result (a contract of :mod:`tasks.contracts`);
    its failures become one line (:func:`friendly`)."""
    from flows.local_api import prefect_api

    module, name = ref.split(":")
    with prefect_api(settings(kw.get("root")).local_root, say):
        return getattr(importlib.import_module(module), name)(**kw)


def checked(option: str, parse, *args: Any) -> Any:
    """``parse(*args)``, its ValueError reported as a bad value of ``option`` (exit 2)."""
    try:
        return parse(*args)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=option) from None
