"""A convolution is bilinear: ``d f(x, w) = f(dx, w) + f(x, dw)``, stated as a JVP rule."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

Conv = Callable[[jax.Array, jax.Array], jax.Array]


def bilinear(
    f: Conv, input_term: Conv, weight_term: Conv, weight_input: Conv | None = None
) -> Conv:
    """``f`` with the JVP rule ``df = input_term(dx, w) + weight_term(x, dw)``.

    The two terms must compute ``f`` itself, written so that JAX can transpose them
    (their transposes are the backward pass). The primal inside the rule is the wrapped
    function, so derivatives of every order reuse the rule; tangents that are symbolic
    zeros are skipped. ``weight_input(x, w)``, where given, returns ``x`` (a fence,
    say): where the weight has a tangent, the primal and the weight term both read its
    result, computed once.
    """
    g = jax.custom_jvp(f)

    @functools.partial(g.defjvp, symbolic_zeros=True)
    def _jvp(primals, tangents):
        x, w = primals
        dx, dw = tangents
        if weight_input is not None and not isinstance(dw, SymbolicZero):
            x = weight_input(x, w)
        y = g(x, w)
        terms = []
        if not isinstance(dx, SymbolicZero):
            terms.append(input_term(dx, w))
        if not isinstance(dw, SymbolicZero):
            terms.append(weight_term(x, dw))
        return y, functools.reduce(lax.add, terms) if terms else jnp.zeros_like(y)

    return g
