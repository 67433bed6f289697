"""Which padded convolutions' input gradients make XLA abort, against jaxconv's prediction.

  python benchmarks/xla_swap_crash.py [--crashing 80] [--safe 400] [--seed 1]

Draws 2-D convolutions of one image and one channel (input 1-9 pixels a side, kernels
1-4, strides 1-3, paddings 0-3 a side, dilations 1-3; most draws with one axis of kernel 2,
stride 2, undilated, low padding 1), until it has ``--crashing`` calls that
``jaxconv.lowering._xla.swap_breaks_input_grad`` says XLA would abort on and ``--safe``
that it says compile. Each call's input gradient, as ``jax.vjp`` of
``lax.conv_general_dilated`` derives it, is compiled in a worker process, which a crash
takes down (it is started again for the next call). Prints every disagreement and the
counts. The child process is this file run with ``--worker``: a line of JSON per call on
its input, ``ok`` or the error on its output.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys


def _worker() -> None:
    import jax
    import jax.numpy as jnp
    from jax import lax

    for line in sys.stdin:
        call = json.loads(line)
        x = jnp.ones((1, 1, *call["in_size"]))
        w = jnp.ones((1, 1, *call["kernel"]))
        pads = [tuple(p) for p in call["padding"]]

        def f(x, w=w, call=call, pads=pads):
            return lax.conv_general_dilated(
                x, w, call["stride"], pads, rhs_dilation=call["dilation"]
            )

        try:
            ct = jnp.ones(jax.eval_shape(f, x).shape)
            jax.jit(lambda x, ct: jax.vjp(f, x)[1](ct)[0]).lower(x, ct).compile()
            print("ok", flush=True)
        except Exception as err:  # an error XLA reports (not an abort) is printed too
            print(f"error {type(err).__name__}: {str(err).splitlines()[0][:100]}", flush=True)


def _draw(rng: random.Random):
    axes = []
    near = rng.random() < 0.7
    special = rng.randrange(2)
    for axis in range(2):
        if near and axis == special:
            k, s, d, p = 2, 2, 1, (1, rng.choice([0, 1, 2]))
        else:
            k, s, d = rng.randint(1, 4), rng.randint(1, 3), rng.choice([1, 1, 2, 3])
            p = (rng.randint(0, 3), rng.randint(0, 3))
        n = rng.randint(1, 9)
        if n + sum(p) < d * (k - 1) + 1:
            return None
        axes.append((n, k, s, p, d))
    names = ("in_size", "kernel", "stride", "padding", "dilation")
    return {name: [a[i] for a in axes] for i, name in enumerate(names)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crashing", type=int, default=80)
    parser.add_argument("--safe", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker()

    from jaxconv._checks import ConvParams
    from jaxconv.lowering._xla import swap_breaks_input_grad

    def predicted(call) -> bool:
        params = ConvParams(
            tuple(call["stride"]),
            tuple(tuple(p) for p in call["padding"]),
            tuple(call["dilation"]),
        )
        return swap_breaks_input_grad(call["in_size"], call["kernel"], params)

    rng = random.Random(args.seed)
    wanted = {True: args.crashing, False: args.safe}
    calls: dict[bool, list] = {True: [], False: []}
    while any(len(calls[k]) < wanted[k] for k in calls):
        call = _draw(rng)
        if call is not None:
            calls[predicted(call)].append(call)
    drawn = calls[True][: args.crashing] + calls[False][: args.safe]
    rng.shuffle(drawn)

    def start():
        return subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    worker, counts = start(), {}
    for call in drawn:
        worker.stdin.write(json.dumps(call) + "\n")
        worker.stdin.flush()
        answer = worker.stdout.readline().strip() or "abort"
        if answer == "abort":
            worker = start()
        key = (predicted(call), answer)
        counts[key] = counts.get(key, 0) + 1
        if predicted(call) != (answer == "abort"):
            print("disagree:", json.dumps(call), "predicted", predicted(call), "got", answer)
    for (pred, answer), count in sorted(counts.items()):
        print(f"predicted {'abort' if pred else 'compiles'}: {answer} x{count}")
    worker.stdin.close()


if __name__ == "__main__":
    main()
