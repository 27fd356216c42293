"""One output style for every ``genesis`` command: results on stdout, one-line errors, exit 2.

Problems a user can fix (a bad argument, a missing input, a damaged or locked store, a
service that does not answer) are one red line naming the thing and the way out, and
exit code 2.  An I/O fault that survived the retries says so.  Anything else is a bug:
one line too, exit 1, and the traceback only with ``--verbose``.  Nothing here imports
Prefect, so a command can print its first line before the orchestration starts.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from typer import _click as click  # typer 0.29 ships its own click (pinned in pyproject)
from typer.core import TyperGroup

# Wide enough for tables of scan ids and reasons; a terminal's own width wins when larger.
console = Console(width=max(120, Console().width))
errors = Console(stderr=True, width=max(120, Console().width))
F = TypeVar("F", bound=Callable[..., Any])


def verbose() -> bool:
    return os.environ.get("GENESIS_VERBOSE") == "1"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` and return the exit to raise."""
    errors.print(f"[red]error:[/] {message}", soft_wrap=True, highlight=False, markup=True)
    return typer.Exit(code)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "fix the input or the service", not "a bug"."""
    from genesis_core.catalog import CatalogDamaged
    from genesis_core.store.integrity import StoreCorruption
    from genesis_core.store.manifest import StoreConflict
    from tasks.services import ServiceUnavailable

    return (
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
        ValueError,
        KeyError,
        StoreCorruption,
        StoreConflict,
        CatalogDamaged,
        ServiceUnavailable,
    )


def friendly(fn: F) -> F:
    """Run a command; map its failures to one line and an exit code (see the module doc)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit, click.exceptions.ClickException):
            raise  # already an exit, or a usage error click prints with the option's name
        except KeyboardInterrupt:
            raise fail("interrupted; nothing committed was changed", 130) from None
        except BaseException as e:  # noqa: BLE001 - every failure gets the same style
            if verbose():
                console.print_exception()
            raise _exit_for(e) from e

    return wrapper  # type: ignore[return-value]


def _exit_for(e: BaseException) -> typer.Exit:
    text = _text(e)
    if isinstance(e, user_errors()):
        return fail(text)
    if isinstance(e, OSError):  # retried already: the disk, the network or a server is at fault
        return fail(
            f"I/O failure after retries: {text}; nothing committed was changed, rerun once it is fixed"
        )
    hint = "" if verbose() else " (rerun with --verbose for the traceback)"
    return fail(f"unexpected {type(e).__name__}: {text}{hint}", 1)


def _text(e: BaseException) -> str:
    # KeyError's str() is the repr of its key; say what it was
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return str(text).strip() or type(e).__name__


class OneLineErrors(TyperGroup):
    """Usage errors (a bad value, a missing option) in the same one-line style, exit 2."""

    def main(
        self, args: Sequence[str] | None = None, *a: Any, standalone_mode: bool = True, **kw: Any
    ) -> Any:
        if not standalone_mode:
            return super().main(args, *a, standalone_mode=False, **kw)
        try:
            rv = super().main(args, *a, standalone_mode=False, **kw)
        except click.exceptions.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                e.show()  # prints the help
                sys.exit(0)
            where = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
            fail(f"{e.format_message()}{where}")
            sys.exit(2)
        except click.exceptions.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except typer.Abort:
            fail("aborted", 1)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)
