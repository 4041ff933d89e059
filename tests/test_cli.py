import subprocess
import sys

from qhw import __version__


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "qhw", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
    out = subprocess.run([sys.executable, "-m", "qhw", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "Usage" in out.stdout
