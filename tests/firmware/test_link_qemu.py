"""The link's shared vectors (tests/vectors) pass in firmware/link.py on the emulated
Pyboard: compiled for armv7emsp as `mule flash` installs it, viper and plain, with the
32-bit board's small ints (CRC-32 values >= 2**30 are heap ints there), 100 KB heap.
test_link_mp.py's script and vector files, run in one QEMU."""

from __future__ import annotations

import json

import pytest

from host_tools.codegen.build import compile_mpy
from test_link_mp import FIRMWARE, SCRIPT, vectors_dir  # noqa: F401  (vectors_dir: the fixture)


@pytest.fixture(scope="module")
def board(qemu_session, vectors_dir, tmp_path_factory):  # noqa: F811
    directory = tmp_path_factory.mktemp("link-qemu")
    qemu_session.mkdir("/flash/link")
    # link_plain: the bytecode twins (the "plain" variant); changed: telemetry "changed"'s runs
    for name in ("link", "link_plain", "changed"):
        qemu_session.put(compile_mpy(FIRMWARE / f"{name}.py", "armv7emsp", directory / f"{name}.mpy"),
                         f"/flash/link/{name}.mpy")
    qemu_session.mkdir("/flash/vectors")
    qemu_session.mkdir("/flash/vectors/streams")
    for path in sorted(vectors_dir.rglob("*.json")):
        qemu_session.put(path, "/flash/vectors/" + path.relative_to(vectors_dir).as_posix())
    return qemu_session


@pytest.mark.parametrize("variant", ["viper", "plain"])
def test_vectors_pass_on_the_emulated_pyboard(board, variant):
    args = ["/flash/link", "vectors", "/flash/vectors"] + (["plain"] if variant == "plain" else [])
    result = json.loads(board.run(SCRIPT, args).splitlines()[-1])
    assert result["failures"] == []
    assert result["checks"] >= 300
