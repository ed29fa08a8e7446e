"""Run a script in a fresh interpreter where torch cannot be imported."""

import subprocess
import sys

_HIDE_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError(f"{name} is not installed here")

sys.meta_path.insert(0, NoTorch())
"""
_CHECK = """
assert not any(name.split(".")[0] == "torch" for name in sys.modules)
"""


def run_without_torch(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``script`` with torch hidden, then check it never got torch; ``args`` are its argv."""
    source = _HIDE_TORCH + script + _CHECK
    return subprocess.run([sys.executable, "-c", source, *args], capture_output=True, text=True)
