"""The shared libraries in gcr.io/distroless/cc-debian12, the Dockerfile's runtime image.

No Docker engine runs here, so the image's library set is data. Where it comes from:

- GoogleContainerTools/distroless, `base/config.bzl`: BASE_PACKAGES["debian12"] = libc6, libssl3
  (base-nossl has libc6 only); `cc/config.bzl`: CC_PACKAGES["debian12"] = libgomp1, libstdc++6,
  libgcc-s1, gcc-12-base, added on top of base (`cc/cc.bzl` builds cc from //base:base). The
  `:nonroot` tag is the same content with uid/gid 65532 (`common/variables.bzl`: NONROOT = 65532).
- The sonames are what those Debian 12 (bookworm) packages ship in /lib/x86_64-linux-gnu and
  /usr/lib/x86_64-linux-gnu, read with `dpkg -L` on Debian 12; test_image_libs.py re-reads them
  from dpkg where the packages are installed, so this list cannot drift from the packages.

Left out on purpose: libc6's NSS, debugging and legacy modules (libnss_*, libmemusage, libpcprofile,
libthread_db, libc_malloc_debug, libBrokenLocale), and libssl3's engine/provider modules: nothing
links those by DT_NEEDED.
"""

# Debian package -> sonames it ships that a program can link against.
PACKAGES = {
    "libc6": {
        "ld-linux-x86-64.so.2",
        "libc.so.6",
        "libm.so.6",
        "libmvec.so.1",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libresolv.so.2",
        "libanl.so.1",
        "libutil.so.1",
        "libnsl.so.1",
    },
    "libssl3": {"libssl.so.3", "libcrypto.so.3"},
    "libgcc-s1": {"libgcc_s.so.1"},
    "libstdc++6": {"libstdc++.so.6"},
    "libgomp1": {"libgomp.so.1"},
}

SONAMES = frozenset(name for names in PACKAGES.values() for name in names)

# Provided by the kernel to every process, not a file in any image.
VIRTUAL = frozenset({"linux-vdso.so.1", "linux-gate.so.1"})
