# SPDX-License-Identifier: BSL-1.0
"""Builds the venom Python module with setuptools and pybind11 (Debian's python3-setuptools and
python3-pybind11: pip install --no-build-isolation ./python). The C++ headers are the ones of
this clone (../venom); Boost's come from the system (libboost-dev)."""
import os
import re

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)  # the clone: venom/*.hpp


def venom_version():
    text = open(os.path.join(root, "venom", "version.hpp")).read()
    parts = [re.search(r"#define VENOM_VERSION_%s (\d+)" % p, text).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


ext = Pybind11Extension(
    "venom._venom",
    ["venom_python.cpp"],
    include_dirs=[root],
    cxx_std=17,
    extra_compile_args=["-pthread"],
    extra_link_args=["-pthread"],
    libraries=["rt"],
)

setup(
    name="venom",
    version=venom_version(),
    description="Shared-memory IPC between processes of one machine (venom's Python module)",
    license="BSL-1.0",
    packages=["venom"],
    package_data={"venom": ["__init__.pyi", "py.typed"]},
    ext_modules=[ext],
    cmdclass={"build_ext": build_ext},
    python_requires=">=3.7",
    zip_safe=False,
)
