"""Flax layers (NNX and Linen) with torch's parameterisation, and torch import.

Private: the public faces are :mod:`jaxconv.nn` and :mod:`jaxconv.linen`.
"""
