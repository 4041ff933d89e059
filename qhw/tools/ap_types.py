"""The ap_types headers (ap_fixed.h, ap_int.h) for C simulation and for the numeric oracle.

They are Xilinx's open-source headers as shipped inside the ``hls4ml`` wheel on PyPI. qhw never
redistributes them: they are downloaded on first use with pip into qhw's cache.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from qhw.errors import MissingToolError
from qhw.tools.cache import cache_dir, locked
from qhw.tools.proc import run as run_process

HLS4ML_VERSION = "1.3.0"
_PREFIX = "hls4ml/templates/vivado/"


def hls4ml_templates_dir() -> Path:
    """The cached ``hls4ml/templates/vivado`` tree (ap_types/ and nnet_utils/)."""
    root = cache_dir("hls4ml") / HLS4ML_VERSION
    done = root / "vivado"
    if (done / "ap_types" / "ap_fixed.h").is_file():
        return done
    with locked(root.parent / f".{HLS4ML_VERSION}.lock"):  # one download, concurrent users wait
        if (done / "ap_types" / "ap_fixed.h").is_file():
            return done
        _download(root, done)
    return done


def _download(root: Path, done: Path) -> None:
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", tmp, f"hls4ml=={HLS4ML_VERSION}"]
        proc = run_process(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("hls4ml-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise MissingToolError(
                f"could not download hls4ml=={HLS4ML_VERSION} for the ap_types headers "
                f"({proc.stderr.strip()[-300:] or 'no wheel'}); check that PyPI is reachable"
            )
        staging = Path(tmp) / "vivado"
        with zipfile.ZipFile(wheels[0]) as whl:
            for name in whl.namelist():
                if name.startswith(_PREFIX + "ap_types/") or name.startswith(_PREFIX + "nnet_utils/"):
                    target = staging / name[len(_PREFIX):]
                    if name.endswith("/"):
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(whl.read(name))
        if not (staging / "ap_types" / "ap_fixed.h").is_file():
            raise MissingToolError(f"hls4ml=={HLS4ML_VERSION} wheel has no ap_types/ap_fixed.h")
        root.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staging, done)
        except OSError:  # another process won the race
            if not (done / "ap_types" / "ap_fixed.h").is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)


def ap_types_include_dir() -> Path:
    """Directory to pass to ``g++ -I`` for ``#include <ap_fixed.h>``."""
    return hls4ml_templates_dir() / "ap_types"
