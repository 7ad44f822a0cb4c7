"""Every shared library the binary loads exists in the runtime image (distroless cc-debian12).

The debug binary links the same libraries as the release one (the profile changes code, not
DT_NEEDED); the release binary is checked too when it has been built.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import distroless_cc_debian12 as image
from conftest import REPO, run

# `ldd` lines: "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2
# (0x...)", "linux-vdso.so.1 (0x...)", "libfoo.so.1 => not found".
LDD_LINE = re.compile(r"^\s*(\S+)(?:\s+=>\s+(not found|\S+))?")


def linked_libraries(ldd_output: str) -> dict[str, str]:
    """soname -> where ldd found it ("not found" when it did not)."""
    libs = {}
    for line in ldd_output.splitlines():
        m = LDD_LINE.match(line)
        if not m or line.strip().startswith("statically linked"):
            continue
        name, found = m[1], m[2] or m[1]
        libs[Path(name).name] = found
    return libs


def outside_image(ldd_output: str) -> list[str]:
    """The libraries the runtime image does not have."""
    return sorted(
        f"{name} ({where})"
        for name, where in linked_libraries(ldd_output).items()
        if name not in image.SONAMES and name not in image.VIRTUAL
    )


def ldd(binary: Path) -> str:
    r = run([shutil.which("ldd") or "ldd", str(binary)])
    assert r.returncode == 0, r.stderr
    return r.stdout


def binaries(sessionguard_bin: Path) -> list[Path]:
    release = REPO / "target" / "release" / "sessionguard"
    return [sessionguard_bin] + ([release] if release.is_file() else [])


def test_every_library_the_binary_links_is_in_the_runtime_image(sessionguard_bin):
    """ldd lists nothing outside distroless cc-debian12; a library outside it would make the
    container die at start with 'error while loading shared libraries'."""
    for binary in binaries(sessionguard_bin):
        out = ldd(binary)
        libs = linked_libraries(out)
        assert "libc.so.6" in libs, out  # a dynamically linked glibc binary, as the image expects
        assert outside_image(out) == [], f"{binary}:\n{out}"


def test_the_check_reports_a_library_the_image_lacks():
    """A binary that links zlib and a missing library is reported, the image's own are not."""
    sample = """\
\tlinux-vdso.so.1 (0x00007ffd5a3f2000)
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f0d1a000000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0d19e00000)
\tlibmissing.so.2 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0d19c00000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0d1a100000)
"""
    assert outside_image(sample) == [
        "libmissing.so.2 (not found)",
        "libz.so.1 (/lib/x86_64-linux-gnu/libz.so.1)",
    ]


def test_the_library_list_matches_the_debian_packages():
    """Each soname listed for a package is one that Debian's package really ships (checked with
    dpkg on this Debian 12 machine, where the packages are installed)."""
    if shutil.which("dpkg-query") is None:
        pytest.fail("dpkg-query missing: these tests run on Debian 12")
    release = Path("/etc/os-release").read_text()
    assert 'VERSION_ID="12"' in release, "the library list is for Debian 12 (bookworm)"
    for package, sonames in image.PACKAGES.items():
        r = run(["dpkg-query", "-L", f"{package}:amd64"])
        if r.returncode != 0:
            r = run(["dpkg-query", "-L", package])
        assert r.returncode == 0, f"{package} is not installed here: {r.stderr}"
        shipped = {Path(p).name for p in r.stdout.split()}
        assert sonames <= shipped, f"{package} does not ship {sorted(sonames - shipped)}"
