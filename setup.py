"""Map the design card's top-level folders under one import root, ``lunar_hil``.

``pyproject.toml`` holds the metadata; this file only computes the package list,
so a new subpackage needs no edit here.
"""

from setuptools import find_packages, setup

FOLDERS = ("emulator", "drivers", "profiles", "firmware_stubs")

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder in FOLDERS:
    root = f"lunar_hil.{folder}"
    package_dir[root] = folder
    packages.append(root)
    packages += [f"{root}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
