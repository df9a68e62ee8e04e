"""PEP 517 backend: setuptools, with a fallback for setuptools releases that need the
separate `wheel` package for bdist_wheel (before 70.1) when it is not installed.

With `wheel` available (or a newer setuptools) every hook is setuptools' own. Without it,
build_wheel writes this pure-Python wheel itself with zipfile (the package directory,
METADATA from pyproject.toml, WHEEL, RECORD), so that
`python3 -m pip wheel --no-deps --no-build-isolation clients/python` works offline with
nothing but the standard library and setuptools."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zipfile

from setuptools.build_meta import *  # noqa: F401,F403


def _have_bdist_wheel() -> bool:
    try:
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1)
        return True
    except ImportError:
        pass
    try:
        import wheel.bdist_wheel  # noqa: F401
        return True
    except ImportError:
        return False


if not _have_bdist_wheel():
    del prepare_metadata_for_build_wheel  # noqa: F821  (the frontend then uses build_wheel)

    HERE = os.path.dirname(os.path.abspath(__file__))

    def _project() -> dict:
        with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
            text = f.read()
        proj = text.split("[project]", 1)[1].split("\n[", 1)[0]
        out = {}
        for key in ("name", "version", "description", "requires-python"):
            m = re.search(r'^%s\s*=\s*"([^"]*)"' % re.escape(key), proj, re.M)
            out[key] = m.group(1) if m else ""
        return out

    def get_requires_for_build_wheel(config_settings: object = None) -> list:  # noqa: F811
        return []

    def build_wheel(wheel_directory: str, config_settings: object = None,
                    metadata_directory: object = None) -> str:  # noqa: F811
        p = _project()
        name, version = p["name"], p["version"]
        dist = "%s-%s.dist-info" % (name, version)
        files = []
        for root, dirs, names in os.walk(os.path.join(HERE, name)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for n in sorted(names):
                if n.endswith((".py", ".typed")):
                    full = os.path.join(root, n)
                    with open(full, "rb") as f:
                        files.append((os.path.relpath(full, HERE), f.read()))
        with open(os.path.join(HERE, "README.md"), "rb") as f:
            readme = f.read().decode("utf-8")
        meta = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
                "Requires-Python: %s\nDescription-Content-Type: text/markdown\n\n%s"
                % (name, version, p["description"], p["requires-python"], readme))
        files.append(("%s/METADATA" % dist, meta.encode("utf-8")))
        files.append(("%s/WHEEL" % dist, b"Wheel-Version: 1.0\nGenerator: _build_backend\n"
                      b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
        record = []
        for path, data in files:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (path, digest.decode(), len(data)))
        record.append("%s/RECORD,," % dist)
        files.append(("%s/RECORD" % dist, ("\n".join(record) + "\n").encode()))
        fname = "%s-%s-py3-none-any.whl" % (name, version)
        with zipfile.ZipFile(os.path.join(wheel_directory, fname), "w",
                             zipfile.ZIP_DEFLATED) as z:
            for path, data in files:
                z.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data,
                           zipfile.ZIP_DEFLATED)
        return fname
