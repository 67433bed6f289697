"""A convolution is bilinear: ``d f(x, w) = f(dx, w) + f(x, dw)``, stated as a JVP rule."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

Conv = Callable[[jax.Array, jax.Array], jax.Array]


def bilinear(f: Conv, input_term: Conv, weight_term: Conv) -> Conv:
    """``f`` with the JVP rule ``df = input_term(dx, w) + weight_term(x, dw)``.

    The two terms must compute ``f`` itself, written so that JAX can transpose them
    (their transposes are the backward pass). The primal inside the rule is the wrapped
    function, so derivatives of every order reuse the rule; tangents that are symbolic
    zeros are skipped.
    """
    g = jax.custom_jvp(f)

    @functools.partial(g.defjvp, symbolic_zeros=True)
    def _jvp(primals, tangents):
        x, w = primals
        dx, dw = tangents
        y = g(x, w)
        terms = []
        if not isinstance(dx, SymbolicZero):
            terms.append(input_term(dx, w))
        if not isinstance(dw, SymbolicZero):
            terms.append(weight_term(x, dw))
        return y, functools.reduce(lax.add, terms) if terms else jnp.zeros_like(y)

    return g
