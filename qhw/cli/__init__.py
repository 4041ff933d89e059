"""The ``qhw`` command line. Each sub-command lives in its own module and is added here."""
from __future__ import annotations

import sys

import click

from qhw._version import __version__
from qhw.errors import QhwError

EXIT_USAGE = 2


class _Group(click.Group):
    """Turns qhw's own errors into one line on stderr and exit code 2 (no traceback)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from qhw.tools.proc import handle_signals

        try:
            with handle_signals():  # SIGINT/SIGTERM: stop every child, clean up, then exit
                return super().invoke(ctx)
        except QhwError as exc:
            click.echo(f"qhw: error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt as exc:
            click.echo("qhw: error: interrupted", err=True)
            sys.exit(128 + getattr(exc, "signum", 2))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qhw")
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
