"""Build pyasync._core from csrc/ against libuv found with pkg-config."""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup

LIBUV_HINT = (
    "pyasync needs libuv's headers: install libuv1-dev (Debian/Ubuntu), "
    "libuv-devel (Fedora) or libuv (Homebrew), then build again."
)


def pkg_config(*args):
    if shutil.which("pkg-config") is None:
        return None
    try:
        out = subprocess.run(["pkg-config", *args, "libuv"], check=True,
                             capture_output=True, text=True).stdout
    except subprocess.CalledProcessError:
        return None
    return out.split()


def libuv_flags():
    cflags = pkg_config("--cflags")
    libs = pkg_config("--libs")
    if cflags is None or libs is None:
        sys.exit(LIBUV_HINT)
    return cflags, libs


def extension():
    cflags, libs = libuv_flags()
    extra = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-std=c11"]
    extra += os.environ.get("PYASYNC_CFLAGS", "").split()
    link_extra = os.environ.get("PYASYNC_LDFLAGS", "").split()
    return Extension(
        "pyasync._core",
        sources=sorted(glob.glob("csrc/**/*.c", recursive=True)),
        include_dirs=["csrc"] + [f[2:] for f in cflags if f.startswith("-I")],
        libraries=[f[2:] for f in libs if f.startswith("-l")],
        library_dirs=[f[2:] for f in libs if f.startswith("-L")],
        extra_compile_args=extra,
        extra_link_args=link_extra,
        depends=sorted(glob.glob("csrc/**/*.h", recursive=True)),
    )


setup(ext_modules=[extension()])
