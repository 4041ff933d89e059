"""qhw inspect: the graph as a table (formats, shapes, overflow on given data), optional drawing."""
from __future__ import annotations

from pathlib import Path

import click

from qhw.cli.common import config_option, emit_json, input_format_option, json_option, load, load_array, model_argument


def _rows(graph, overflow):
    rows = []
    for node in graph.nodes():
        o = overflow.get(node.name)
        rows.append({
            "node": node.name, "op": node.op, "inputs": list(node.inputs), "shape": list(node.shape),
            "formats": {k: str(v) for k, v in node.formats.items()},
            "range": None if o is None or o.total == 0 else [o.min_value, o.max_value],
            "overflow": None if o is None else o.saturated + o.wrapped + o.zeroed,
        })
    return rows


def draw(graph, path: Path, inputs=()) -> None:
    """A layered drawing of the graph (matplotlib; the [plot] extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from qhw.errors import MissingToolError

        raise MissingToolError("drawing needs matplotlib: pip install 'qhw[plot]'") from None
    import networkx as nx

    g = graph.nx.copy()
    for layer, names in enumerate(nx.topological_generations(g)):
        for n in names:
            g.nodes[n]["layer"] = layer
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    pos = {k: (x, -y) for k, (x, y) in ((k, (v[1], v[0])) for k, v in pos.items())}
    labels = {n: f"{n}\n{graph.node(n).op}\n{graph.node(n).formats.get('result', '')}" for n in g}
    fig, ax = plt.subplots(figsize=(6, 1.3 * (len(set(nx.get_node_attributes(g, 'layer').values())) + 1)))
    nx.draw_networkx(g, pos, ax=ax, labels=labels, node_color="#dde8f5", node_size=2600,
                     font_size=7, arrows=True, node_shape="s")
    ax.set_axis_off()
    from qhw.io.atomic import atomic_file

    with atomic_file(path, "wb", inputs) as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".") or "png", bbox_inches="tight", dpi=120)
    plt.close(fig)


@click.command()
@model_argument
@config_option
@input_format_option
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path),
              help="A batch (.npy) to measure ranges and overflow counts on.")
@click.option("--draw", "draw_path", type=click.Path(path_type=Path),
              help="Write a drawing of the graph (.png or .svg); an existing file is replaced, "
                   "never a folder or an input.")
@json_option
def inspect(model, config, input_format, data, draw_path, as_json):
    """Show MODEL as a table: node, op, shape, formats, and overflow counts on --data.

    \b
    Example:
      qhw inspect examples/jet_mlp/model.yaml --data examples/jet_mlp/x_val.npy
    """
    from qhw import golden

    inputs = (model, config, data)
    if draw_path is not None:
        from qhw.io.atomic import check_output_file

        check_output_file(draw_path, inputs)  # before the work, not after
    graph = load(model, config, input_format)
    overflow = {}
    if data is not None:
        overflow = golden.run(graph, load_array(data, "data")).overflow
    rows = _rows(graph, overflow)
    if draw_path is not None:
        draw(graph, draw_path, inputs)
    from qhw.cli.common import import_options

    mapping = import_options().get("report")
    if as_json:
        emit_json({"model": str(model), "nodes": rows, "notes": list(getattr(graph, "notes", [])),
                   "mapping": [] if mapping is None else [vars(r) for r in mapping.rows],
                   "mapping_notes": [] if mapping is None else list(mapping.notes)})
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{graph.name} ({model})")
    for col in ("node", "op", "shape", "formats") + (("range", "overflow") if data is not None else ()):
        t.add_column(col)
    for r in rows:
        fmts = "\n".join(f"{k}: {v}" for k, v in r["formats"].items())
        cells = [r["node"], r["op"], "x".join(map(str, r["shape"])), fmts]
        if data is not None:
            cells += ["" if r["range"] is None else f"[{r['range'][0]:.4g}, {r['range'][1]:.4g}]",
                      "" if r["overflow"] is None else str(r["overflow"])]
        t.add_row(*cells)
    console = Console(width=140)
    console.print(t)
    mapped = mapping is not None and bool(mapping.rows)
    for note in getattr(graph, "notes", []):
        if not (mapped and note in mapping.notes):  # the mapping report below prints it
            console.print(f"note: {note}", markup=False)
    if mapped:  # an imported model: what each source node became
        click.echo("\nmapping report (source node -> qhw nodes, formats, rounding made):")
        click.echo(mapping.format_table())
