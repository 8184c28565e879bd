"""One module of rules per primitive family; `RULES` maps a primitive name to its rule.

A rule ``(program, eqn, position) -> Layout | None`` brings the use of a parameter as operand
`position` of `eqn` to the dot form of `ntk_nas._ntk.structured.forms`, or returns None when it
cannot (the parameter then falls back to its Jacobian).
"""

from __future__ import annotations

from collections.abc import Callable

from ntk_nas._ntk.structured.forms import Layout
from ntk_nas._ntk.structured.graph import Eqn, Program
from ntk_nas._ntk.structured.rules import conv, dot, elementwise

Rule = Callable[[Program, Eqn, int], Layout | None]

RULES: dict[str, Rule] = {
    "dot_general": dot.dot_general,
    "conv_general_dilated": conv.conv_general_dilated,
    "add": elementwise.add,
    "sub": elementwise.sub,
    "mul": elementwise.mul,
}
