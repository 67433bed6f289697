"""The public surface is explicit, importable and documented with runnable examples."""

import inspect

import jaxconv

FUNCTIONS = [
    "corr2d",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "corr2d_multi_in_out_1x1",
    "conv2d",
    "conv_general_dilated",
    "output_shape",
    "flops",
    "channel_contributions",
    "choose_plan",
    "channels_last",
]


def test_all_names_exist_and_are_the_intended_surface():
    assert sorted(jaxconv.__all__) == sorted(
        FUNCTIONS
        + [
            "impls",
            "lowerings",
            "register_lowering",
            "PADDING_MODES",
            "ConvCost",
            "ConvParams",
            "Lowering",
            "Plan",
        ]
    )
    for name in jaxconv.__all__:
        assert getattr(jaxconv, name) is not None
    assert not any(
        m
        for m in dir(jaxconv)
        if not m.startswith("_")
        and m not in jaxconv.__all__
        and not inspect.ismodule(getattr(jaxconv, m))
    )


def test_every_public_function_documents_shapes_and_has_a_doctest():
    for name in FUNCTIONS:
        doc = inspect.getdoc(getattr(jaxconv, name))
        assert ">>>" in doc, name
        assert (
            name == "flops" or "shape" in doc.lower() or "(N, C, H, W)" in doc or "NHWC" in doc
        ), name


def test_lax_dropin_has_lax_signature():
    import jax

    ours = inspect.signature(jaxconv.conv_general_dilated).parameters
    theirs = inspect.signature(jax.lax.conv_general_dilated).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    for name, p in theirs.items():
        assert ours[name].default == p.default or p.default is inspect.Parameter.empty


def test_the_lowering_face_is_explicit_and_documented():
    import jaxconv.lowering

    assert sorted(jaxconv.lowering.__all__) == sorted(
        [
            "PASSES",
            "ConvParams",
            "Lowering",
            "Plan",
            "choose_plan",
            "clear_autotune_cache",
            "impls",
            "lowerings",
            "register_lowering",
            "unregister_lowering",
        ]
    )
    for name in ("register_lowering", "impls", "lowerings"):
        assert ">>>" in inspect.getdoc(getattr(jaxconv.lowering, name)), name
        assert getattr(jaxconv.lowering, name) is getattr(jaxconv, name)
    params = inspect.signature(jaxconv.conv2d).parameters
    assert all(p.annotation is not inspect.Parameter.empty for p in params.values())
