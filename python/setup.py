"""Bundles the C library this package was built with, so that an installed
package needs neither a compiler nor a search path.

The library comes from $LAYERGEOM_LIBRARY (a path to liblayergeom.so), else
from the project's CMake build next to this directory (../build).  Build
that first (README); nothing here compiles C.
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def find_library():
    env = os.environ.get("LAYERGEOM_LIBRARY")
    if env:
        return env
    build = os.environ.get("LAYERGEOM_BUILD_DIR", os.path.join(HERE, "..", "build"))
    path = os.path.join(build, "liblayergeom.so")
    if os.path.exists(path):
        return path
    raise SystemExit("layergeom: no liblayergeom.so in %s: build the project first "
                     "(cmake -S . -B build && cmake --build build), or set LAYERGEOM_LIBRARY"
                     % os.path.abspath(build))


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        src = os.path.realpath(find_library())
        dst = os.path.join(self.build_lib, "layergeom", "_lib")
        os.makedirs(dst, exist_ok=True)
        shutil.copy2(src, os.path.join(dst, "liblayergeom.so.0"))


setup(cmdclass={"build_py": BuildWithLibrary})
