"""Build hook only: compiles ``townlet._core`` (cffi, API mode) during ``pip install``.

Metadata lives in pyproject.toml.
"""

from setuptools import setup

setup(cffi_modules=["bindings/build_core.py:ffibuilder"])
