"""The jinja2 environment for ``templates/verilog`` and helpers shared by the block generators."""
from __future__ import annotations

import functools

import jinja2

from qhw._resources import templates_dir
from qhw._version import __version__
from qhw.backends.jinja import configure
from qhw.backends.verilog.signal import literal
from qhw.fixed import FixedFormat

GENERATOR = f"qhw {__version__} (qhw.backends.verilog)"


def fmt_text(fmt: FixedFormat) -> str:
    """The format as written in generated headers, e.g. ``ap_fixed<8,3,AP_RND,AP_SAT>``."""
    return str(fmt)


def signed_literal(value: int, width: int) -> str:
    """A ``width``-bit signed sized hex literal for a Python int (never a negative decimal)."""
    return literal(value, width).expr


def unsigned_literal(value: int, width: int) -> str:
    return literal(value, width, signed=False).expr


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "verilog")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["GENERATOR"] = GENERATOR
    env.filters["slit"] = lambda v, w: signed_literal(int(v), int(w))
    env.filters["ulit"] = lambda v, w: unsigned_literal(int(v), int(w))
    env.filters["fmt"] = fmt_text
    return configure(env)


def render(template: str, **ctx) -> str:
    """Render ``templates/verilog/<template>`` with ``ctx`` (missing values are errors)."""
    return environment().get_template(template).render(**ctx)
