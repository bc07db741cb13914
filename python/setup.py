"""Builds libEmberC (release, Swift runtime linked in statically) and puts it inside the package.

`pip install ./python` runs this from the repository. Set EMBER_LIBRARY_PREBUILT to a built
libEmberC.so to package that file instead of building one; SWIFT names the swift driver.
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def swift_static_dir(swift: str) -> Path:
    """The toolchain's folder of static Swift libraries (usr/lib/swift_static/linux)."""
    driver = Path(shutil.which(swift) or swift).resolve()
    folder = driver.parent.parent / "lib" / "swift_static" / "linux"
    if not folder.is_dir():
        raise RuntimeError(f"no static Swift runtime at {folder}; Ember's Python package links it in")
    return folder


def build_library() -> Path:
    prebuilt = os.environ.get("EMBER_LIBRARY_PREBUILT")
    if prebuilt:
        return Path(prebuilt)
    if not (REPO / "Package.swift").exists():
        raise RuntimeError(f"{REPO} is not the Ember repository: build from a checkout (pip install ./python)")
    swift = os.environ.get("SWIFT", "swift")
    static = swift_static_dir(swift)
    subprocess.run([swift, "build", "-c", "release", "--product", "EmberC", "-Xswiftc", "-static-stdlib",
                    "-Xlinker", f"-L{static}"], cwd=REPO, check=True)
    return REPO / ".build" / "release" / "libEmberC.so"


class BuildWithLibrary(build_py):
    """Copies the freshly built libEmberC.so into ember/lib/ next to the Python modules."""

    def run(self):
        super().run()
        library = build_library()
        target = Path(self.build_lib) / "ember" / "lib"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library, target / "libEmberC.so")


class BinaryDistribution(Distribution):
    """The wheel holds a native library, so it is tagged for this platform."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
