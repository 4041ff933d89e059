"""The ``qhw`` command line. Each sub-command lives in its own module and is added here."""
from __future__ import annotations

import errno
import os
import sys
import traceback

import click

from qhw._version import __version__
from qhw.errors import QhwError

EXIT_USAGE = 2
#: the environment variable that, set to 1, shows the traceback of any error (as ``--debug``)
DEBUG_ENV = "QHW_DEBUG"


def _debug(args: list[str]) -> bool:
    """``--debug`` before the sub-command, or QHW_DEBUG=1 in the environment."""
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    for a in args:
        if a == "--debug":
            return True
        if not a.startswith("-"):
            return False  # the sub-command: its own options follow
    return False


def _os_error(exc: OSError) -> str:
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    what = exc.strerror or str(exc)
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and paths and os.path.isfile(paths[0]):
        what = "is a file, not a folder"
    return f"{' -> '.join(repr(p) for p in paths)}: {what}" if paths else what


def error_line(exc: BaseException) -> str:
    """The one line (after ``qhw: error: ``) that says what failed and names the culprit."""
    if isinstance(exc, click.UsageError):
        cmd = exc.ctx.command_path if exc.ctx is not None else "qhw"
        return f"{exc.format_message()} (see '{cmd} --help')"
    if isinstance(exc, click.ClickException):
        return exc.format_message()
    if isinstance(exc, QhwError):
        return str(exc)
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, MemoryError):
        return ("out of memory: the model, data or options ask for more memory than this machine "
                "has (qhw's size limits are QHW_MAX_* environment variables; see the README)")
    if isinstance(exc, RecursionError):
        return "a model or document is nested too deeply to process (recursion limit reached)"
    return (f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            f" (a bug in qhw: rerun with --debug or {DEBUG_ENV}=1 for the traceback and report it)")


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Group(click.Group):
    """Every failure becomes one line ``qhw: error: ...`` on stderr and exit code 2 (exit code 1
    stays "ran, but found mismatches/failures"); the traceback only with --debug / QHW_DEBUG=1.
    click's own usage errors are one such line too."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:  # --help, --version
            sys.exit(exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `qhw` or `qhw GROUP`: the help
            click.echo(exc.ctx.get_help() if exc.ctx is not None else "")
            sys.exit(0)
        except click.Abort:
            click.echo("qhw: error: interrupted", err=True)
            sys.exit(130)
        except SystemExit:
            raise
        except (Exception, MemoryError, RecursionError) as exc:  # noqa: BLE001 - the one error path
            if _debug(argv):
                traceback.print_exc()
            click.echo(f"qhw: error: {_one_line(error_line(exc))}", err=True)
            sys.exit(EXIT_USAGE)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from qhw.tools.proc import handle_signals

        try:
            with handle_signals():  # SIGINT/SIGTERM: stop every child, clean up, then exit
                return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            click.echo("qhw: error: interrupted", err=True)
            sys.exit(128 + getattr(exc, "signum", 2))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qhw")
@click.option("--debug", is_flag=True, expose_value=False,
              help=f"Show the traceback of an error (also: {DEBUG_ENV}=1).")
def cli() -> None:
    """qhw — compile quantized neural networks into bit-exact FPGA hardware.

    \b
    Example (the bundled jet-tagging MLP):
      qhw inspect  examples/jet_mlp/model.yaml --data examples/jet_mlp/x_val.npy
      qhw compile  examples/jet_mlp/model.yaml -o build/jet_mlp
      qhw simulate build/jet_mlp
      qhw estimate build/jet_mlp
      qhw sweep    examples/jet_mlp/model.yaml --data examples/jet_mlp/x_val.npy \
                   --weights 3:10 --activations 6:14:2 -o build/sweep
    """


from qhw.cli.compile import compile_cmd  # noqa: E402
from qhw.cli.inspect import inspect  # noqa: E402
from qhw.cli.predict import predict  # noqa: E402
from qhw.cli.simulate import simulate  # noqa: E402
from qhw.cli.estimate import estimate  # noqa: E402
from qhw.cli.sweep import sweep  # noqa: E402

for _command in (compile_cmd, simulate, estimate, sweep, predict, inspect):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="qhw")


if __name__ == "__main__":  # pragma: no cover
    main()
