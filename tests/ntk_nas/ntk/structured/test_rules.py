"""Each structured-derivative rule on the primitive configurations it claims, one parameter use
at a time: the leaf takes the rule (no silent fallback) and the kernel matches the dense float64
reference; configurations without a rule fall back to the leaf's Jacobian and stay exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import ntk_nas
from tests.ntk_nas.ntk import models

TOLERANCE = 1e-4


def _normal(seed: int, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), shape)


def _conv(
    dimension_numbers: tuple[str, str, str], **options: Any
) -> Callable[[dict[str, jax.Array], jax.Array], jax.Array]:
    """``f(params, x)``: one convolution by ``params["w"]`` then a tanh, flattened."""

    def f(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        y = lax.conv_general_dilated(x, params["w"], dimension_numbers=dimension_numbers, **options)
        return jnp.tanh(y).reshape(x.shape[0], -1)

    return f


def _grouped_conv(z: jax.Array, w: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(
        z,
        w,
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=3,
    )


def _grouped_conv_twice(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """One grouped kernel ``(2, 2, 2, 6)`` applied twice, the second time with each group's two
    output channels swapped (through reshapes and a transpose), a tanh after each; flattened.

    The views differ so that a rule that misplaces the kernel's entries shows: the same
    permutation in both uses would cancel in ``J J^T``."""
    w = params["w"]
    swapped = w.reshape(2, 2, 2, 3, 2).transpose(0, 1, 2, 4, 3).reshape(w.shape)
    return jnp.tanh(_grouped_conv(jnp.tanh(_grouped_conv(x, w)), swapped)).reshape(x.shape[0], -1)


#: name -> (f, params, input shape per sample, the rule each leaf must take).
CASES: dict[str, tuple[Callable, dict[str, jax.Array], tuple[int, ...], dict[str, str]]] = {
    "conv 1-d, stride 2, SAME": (
        _conv(("NWC", "WIO", "NWC"), window_strides=(2,), padding="SAME"),
        {"w": _normal(0, (3, 2, 4))},
        (7, 2),
        {"w": "conv_general_dilated"},
    ),
    "conv 3-d": (
        _conv(("NDHWC", "DHWIO", "NDHWC"), window_strides=(1, 1, 1), padding="VALID"),
        {"w": _normal(1, (2, 2, 2, 2, 3))},
        (3, 4, 3, 2),
        {"w": "conv_general_dilated"},
    ),
    "conv kernel dilation": (
        _conv(("NHWC", "HWIO", "NHWC"), window_strides=(1, 1), padding="SAME", rhs_dilation=(2, 2)),
        {"w": _normal(2, (3, 3, 2, 3))},
        (6, 6, 2),
        {"w": "conv_general_dilated"},
    ),
    "conv input dilation (transposed)": (
        _conv(
            ("NHWC", "HWIO", "NHWC"),
            window_strides=(1, 1),
            padding=((1, 1), (1, 1)),
            lhs_dilation=(2, 2),
        ),
        {"w": _normal(3, (3, 3, 2, 2))},
        (4, 4, 2),
        {"w": "conv_general_dilated"},
    ),
    "conv NCHW, OIHW, asymmetric padding, stride (2, 1)": (
        _conv(("NCHW", "OIHW", "NCHW"), window_strides=(2, 1), padding=((1, 0), (0, 2))),
        {"w": _normal(4, (3, 2, 2, 3))},
        (2, 5, 5),
        {"w": "conv_general_dilated"},
    ),
    "conv 3 feature groups of 2 -> 3 channels": (
        _conv(
            ("NHWC", "HWIO", "NHWC"), window_strides=(1, 1), padding="SAME", feature_group_count=3
        ),
        {"w": _normal(5, (2, 2, 2, 9))},
        (4, 4, 6),
        {"w": "conv_general_dilated"},
    ),
    "one grouped conv kernel used twice, through different views": (
        _grouped_conv_twice,
        {"w": _normal(6, (2, 2, 2, 6))},
        (4, 4, 6),
        {"w": "shared(conv_general_dilated+conv_general_dilated)"},
    ),
    "conv with the parameter as its input (no rule)": (
        lambda p, x: jnp.tanh(
            lax.conv_general_dilated(
                p["image"],
                jnp.ones((2, 2, 1, 2)),
                window_strides=(1, 1),
                padding="VALID",
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            ).reshape(1, -1)
            * x
        ),
        {"image": _normal(7, (1, 3, 3, 1))},
        (8,),
        {"image": "fallback"},
    ),
    "a leaf that f never reads": (
        lambda p, x: jnp.tanh(x @ p["w"]),
        {"w": _normal(20, (4, 3)), "spare": _normal(21, (5,))},
        (4,),
        {"w": "dot_general", "spare": "unused"},
    ),
    "a leaf that is itself the output": (
        lambda p, x: jnp.broadcast_to(p["b"].reshape(1, -1), (x.shape[0], 6)),
        {"b": _normal(23, (2, 3))},
        (4,),
        {"b": "fallback: a view of it is an output of f"},
    ),
    "dot with the parameter first (w @ x)": (
        lambda p, x: jnp.tanh(jnp.einsum("fd,nd->nf", p["w"], x)),
        {"w": _normal(8, (3, 4))},
        (4,),
        {"w": "dot_general"},
    ),
    "dot over two contracted axes": (
        lambda p, x: jnp.sin(jnp.einsum("nij,ijk->nk", x, p["w"])),
        {"w": _normal(9, (2, 3, 2))},
        (2, 3),
        {"w": "dot_general"},
    ),
    "dot with extra parameter output axes": (
        lambda p, x: jnp.tanh(jnp.einsum("nsd,dhf->nshf", x, p["w"])).reshape(x.shape[0], -1),
        {"w": _normal(10, (3, 2, 2))},
        (2, 3),
        {"w": "dot_general"},
    ),
    "dot with a batch axis shared by input and parameter (per-head weights)": (
        lambda p, x: jnp.tanh(jnp.einsum("nhd,hdf->nhf", x, p["w"])).reshape(x.shape[0], -1),
        {"w": _normal(11, (2, 3, 2))},
        (2, 3),
        {"w": "dot_general"},
    ),
    "one per-head weight (output, head, contracted axes) used twice": (
        lambda p, x: jnp.tanh(
            jnp.einsum("nhd,fhd->nhf", jnp.tanh(jnp.einsum("nhd,fhd->nhf", x, p["w"])), p["w"])
        ).reshape(x.shape[0], -1),
        {"w": _normal(20, (4, 3, 4))},
        (3, 4),
        {"w": "shared(dot_general+dot_general)"},
    ),
    "bias broadcast over pixels, subtracted from either side": (
        lambda p, x: jnp.tanh((x - p["b"][None]) * (p["c"][None, None, None] - x)).reshape(
            x.shape[0], -1
        ),
        {"b": _normal(12, (1, 1, 3)), "c": _normal(13, (3,))},
        (2, 2, 3),
        {"b": "sub", "c": "sub"},
    ),
    "one bias subtracted on both sides (the signs meet in the kernel)": (
        lambda p, x: jnp.tanh((x - p["b"][None]) * (p["b"][None] - 0.5 * x)),
        {"b": _normal(16, (4,))},
        (4,),
        {"b": "shared(sub+sub)"},
    ),
    "scalar scale and scalar bias": (
        lambda p, x: jnp.tanh(p["a"] * x + p["b"]),
        {"a": _normal(17, ()), "b": _normal(18, ())},
        (4,),
        {"a": "mul", "b": "add"},
    ),
    "one scale used twice, once transposed": (
        lambda p, x: jnp.concatenate(
            [
                jnp.tanh(p["g"][None] * x).reshape(x.shape[0], -1),
                jnp.sin(x.transpose(0, 2, 1) * p["g"].T[None]).reshape(x.shape[0], -1),
            ],
            axis=1,
        ),
        {"g": _normal(19, (2, 3))},
        (2, 3),
        {"g": "shared(mul+mul)"},
    ),
    "scale on either side, per channel and per pixel": (
        lambda p, x: jnp.sin(p["g"][None, None, None] * x * p["h"][None] + x).reshape(
            x.shape[0], -1
        ),
        {"g": _normal(14, (3,)), "h": _normal(15, (2, 2, 1))},
        (2, 2, 3),
        {"g": "mul", "h": "mul"},
    ),
}


def _inputs(shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    return _normal(100, (3, *shape)), _normal(101, (2, *shape))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_leaf_takes_its_rule(name):
    f, params, shape, expected = CASES[name]
    rules = ntk_nas.empirical_ntk_fn(f).structured_rules(params, _inputs(shape)[0])
    for leaf, rule in expected.items():
        assert rules[leaf].startswith(rule), (leaf, rules[leaf])


@pytest.mark.parametrize("output", ["full", "trace"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_structured_derivatives_match_float64_reference(name, output):
    f, params, shape, _ = CASES[name]
    x1, x2 = _inputs(shape)
    full = models.reference_ntk(f, params, lambda p: p, x1, x2, "full")
    fn = ntk_nas.empirical_ntk_fn(f, output=output, implementation="structured_derivatives")
    kernel = fn(params, x1, x2)
    assert models.relative_error(kernel, models.reduce_reference(full, output)) < TOLERANCE
    assert np.isfinite(np.asarray(kernel)).all()
