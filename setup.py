"""Maps the top-level code folders onto the one import package ``jejak``.

``schemas/`` is ``jejak.schemas``, ``producers/`` is ``jejak.producers`` and so
on; ``jejak/`` holds only what they all share. find_namespace_packages walks
each folder so nested packages, and the data folders (``schemas/avro``,
``lineage/policies/...``), are never left out of the wheel.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = {
    "jejak": "jejak",
    "jejak.schemas": "schemas",
    "jejak.producers": "producers",
    "jejak.consumers": "consumers",
    "jejak.lineage": "lineage",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for package, folder in FOLDERS.items():
    packages.append(package)
    package_dir[package] = folder
    for sub in find_namespace_packages(where=folder, exclude=["*__pycache__*"]):
        packages.append(f"{package}.{sub}")
        package_dir[f"{package}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
