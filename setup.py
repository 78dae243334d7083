# A shim for tools that still call `setup.py`; all configuration lives in pyproject.toml.
from setuptools import setup
setup()
