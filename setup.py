"""The one compiled part of structrob; everything else is declared in pyproject.toml.

``structrob._native`` (``src/structrob/_native.c``) holds One-Pixel's inner loops and the
training kernels' products (the sparse input layer, the hidden layers and the output). It is
optional: without a C compiler the install still succeeds, One-Pixel's computation runs in
torch, bit for bit the same, and training's products as torch's dense and CSR products, the
same to float rounding; both more slowly (``structrob._compiled``). ``-ffp-contract=off`` keeps
the compiler from fusing a * b + c into one rounding, so the C code rounds as the torch code
does, and its training products the same on every CPU.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "structrob._native",
            sources=["src/structrob/_native.c"],
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math"],
            optional=True,
        )
    ]
)
