"""Only what pyproject.toml cannot say: the firmware and the project DBC live beside
host_tools/ in the source tree, and a wheel must carry them (`mule flash`, `demo` and
`replay` read them at run time), so the build copies them into host_tools/_data/, where
an installed host_tools looks for them (host_tools/__init__.py)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = (("firmware", "*.py"), ("dbc", "kia_ev_pickup.dbc"))


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # `pip install -e .` reads them in place
            return
        for folder, pattern in DATA:
            target = Path(self.build_lib) / "host_tools" / "_data" / folder
            self.mkpath(str(target))
            for path in sorted(Path(folder).glob(pattern)):
                self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": BuildPyWithData})
