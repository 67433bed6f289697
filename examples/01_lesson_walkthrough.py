"""The lesson on multi-input / multi-output channels, line by line (same as `jaxconv demo`).

The walkthrough is jaxconv.cli.demo (jaxconv/cli/_demo.py); the functions it calls are in
jaxconv/_multi_in.py (sum over channels), jaxconv/_multi_out.py (stack over kernels) and
jaxconv/_one_by_one.py (1x1 = matmul).

  python examples/01_lesson_walkthrough.py
"""

from jaxconv.cli import demo as main

if __name__ == "__main__":
    main()
