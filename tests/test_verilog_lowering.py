"""The Verilog lowering registry and the typed signal helper.

Oracles: the op registry's own traits (every op a lowering claims is one the backend builds),
the Verilog standard's literal syntax (IEEE 1364 sized hex, two's complement bits written by
hand below), and the generated RTL of a graph whose ops are all served (it must build)."""
from __future__ import annotations

import pytest

from qhw import ops
from qhw.backends.verilog import lowering, supported_ops
from qhw.backends.verilog.lowering import FEATURES, Lowering
from qhw.backends.verilog.signal import Signal, literal
from qhw.errors import ModelError
from qhw.ops.traits import Trait


def test_every_served_op_has_exactly_one_lowering_with_a_cost():
    served = [n for n in ops.names() if lowering.find(n) is not None]
    assert set(supported_ops()) == set(served) | ops.group(Trait.IO)
    for n in served:
        low = lowering.find(n)
        assert isinstance(low, Lowering) and type(low).lower is not Lowering.lower, n
    # the MAC, pool and merge families are found through their traits, not listed by name
    for trait in (Trait.MAC, Trait.POOL, Trait.MERGE, Trait.CLAMP, Trait.GATHER):
        assert ops.group(trait) <= set(served), trait


def test_an_op_without_a_lowering_names_the_node_and_the_supported_ops():
    unserved = [n for n in ops.names() if lowering.find(n) is None and not ops.has(n, Trait.IO)]
    assert unserved, "every op has a lowering: pick another negative case"

    class Node:
        name, op = "bn0", unserved[0]
    with pytest.raises(ModelError, match=rf"node 'bn0': op '{unserved[0]}' has no Verilog lowering.*dense"):
        lowering.get(Node())


def test_a_named_op_class_wins_over_a_trait_and_equal_matches_are_an_error(monkeypatch):
    from qhw.ops.activation import Relu

    monkeypatch.setattr(lowering, "_REGISTRY", list(lowering._REGISTRY))

    @lowering.lowering(Relu)
    class Special(Lowering):
        pass
    assert isinstance(lowering.find("relu"), Special)
    assert not isinstance(lowering.find("relu6"), Special)  # relu6: still the clamp family

    @lowering.lowering(Relu)
    class Twin(Lowering):
        pass
    with pytest.raises(ModelError, match="matches 2 Verilog lowerings"):
        lowering.find("relu")
    with pytest.raises(TypeError):
        lowering.lowering("relu")


def test_counts_cover_the_estimator_features():
    c = lowering.counts({"add_bits": 3}, add_bits=2, dsp=1)
    assert set(FEATURES) <= set(c) and c["add_bits"] == 5 and c["dsp"] == 1 and c["rom_bits"] == 0


@pytest.mark.parametrize("value,width,signed,text", [
    (-128, 8, True, "8'sh80"), (-1, 8, True, "8'shff"), (5, 4, True, "4'sh5"), (-3, 3, True, "3'sh5"),
    (200, 8, False, "8'hc8"), (0, 1, False, "1'h0"),
])
def test_literals_are_sized_hex_never_negative_decimals(value, width, signed, text):
    lit = literal(value, width, signed)
    assert (lit.expr, lit.width, lit.signed) == (text, width, signed)


@pytest.mark.parametrize("value,width,signed", [(128, 8, True), (-129, 8, True), (256, 8, False), (-1, 8, False)])
def test_literals_that_do_not_fit_are_refused(value, width, signed):
    with pytest.raises(ValueError, match="does not fit"):
        literal(value, width, signed)


def test_signal_slices_and_extensions():
    x = Signal("x", 32)
    e = x.element(3, 8, signed=True)
    assert (e.expr, e.width, e.signed) == ("x[31:24]", 8, True)
    assert e.sext(12).expr == "{{4{x[31]}}, x[31:24]}" and e.sext(8).expr == "x[31:24]"
    assert x.element(1, 4, offset=8).zext(6).expr == "{2'd0, x[15:12]}"
    assert Signal("a", 5, True).extend(7).as_signed().expr == "$signed({{2{a[4]}}, a})"
    assert Signal("a", 5).extend(7).expr == "{2'd0, a}"
    assert Signal("a", 5).shl(2).expr == "{a, 2'd0}" and Signal("a", 5).shl(2).width == 7
    assert Signal("a", 5, True).ashift(2).expr == "(a >>> 2)" and Signal("a", 5, True).ashift(-1).expr == "(a <<< 1)"
    with pytest.raises(ValueError, match="outside its 32 bits"):
        x.slice(32, 0)
    with pytest.raises(ValueError, match="name it first"):
        Signal("a + b", 4).slice(1, 0)
    with pytest.raises(ValueError, match="cannot sign-extend"):
        e.sext(7)
    with pytest.raises(ValueError, match="width must be"):
        Signal("a", 0)
