"""Bad streaming choices through the real CLI (qhw compile --io, a node's io attribute): one
`qhw: error:` line naming the culprit and what is valid, exit code 2, nothing written, the
case's folder unchanged."""
from bad_input_harness import assert_error, edit_yaml, example_case, run_qhw, unchanged


def test_bad_io_option(tmp_path):
    model = example_case(tmp_path)
    with unchanged(model.parent):
        r = run_qhw(["compile", model, "--io", "sideways", "-o", tmp_path / "out"])
    assert_error(r, "--io", "sideways", "parallel", "stream", "auto")
    assert not (tmp_path / "out").exists()


def test_bad_io_attribute_names_the_node(tmp_path):
    model = example_case(tmp_path)

    def edit(doc):
        doc["nodes"][1].setdefault("attrs", {})["io"] = "sideways"

    edit_yaml(model, edit)
    with unchanged(model.parent):
        r = run_qhw(["compile", model, "-o", tmp_path / "out", "--vectors", "5"])
    assert_error(r, "node", "attribute io", "sideways", "parallel", "stream")
    assert not (tmp_path / "out").exists()
