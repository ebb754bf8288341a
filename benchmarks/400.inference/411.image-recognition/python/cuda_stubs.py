"""Stub libraries for the CUDA libraries that torch's PyPI wheel links to but does not ship.

    python3 cuda_stubs.py SITE_PACKAGES

For every shared library that a library under SITE_PACKAGES needs (ELF `NEEDED`) and that
neither SITE_PACKAGES nor the system has, this builds a stub of that name into torch/lib/ (on
the wheel's RPATH): it defines every symbol the wheel imports from it, each a function that
returns CUDA's "no device" error (100), or for `*GetErrorString`/`*GetErrorName` a message.
Symbol versions are kept (CUDA's libraries version their symbols by soname). Needs gcc, readelf
and nm (binutils).
"""

import collections
import os
import re
import subprocess
import sys
import tempfile

NO_DEVICE = 100  # cudaErrorNoDevice
# Symbols a CUDA library exports without a version, by prefix.
CUDA_PREFIXES = ("cu", "nccl", "nvshmem", "nvjpeg", "nvrtc")


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def shared_libraries(root):
    for directory, _, files in os.walk(root):
        for name in files:
            if re.search(r"\.so(\.\d+)*$", name):
                yield os.path.join(directory, name)


def main(site):
    libraries = list(shared_libraries(site))
    present = {os.path.basename(p) for p in libraries}
    system = run("/sbin/ldconfig", "-p")
    needed = set()
    versioned = collections.defaultdict(set)  # version (a soname) -> symbols
    unversioned, defined = set(), set()
    for path in libraries:
        needed.update(re.findall(r"\(NEEDED\).*\[(.+)\]", run("readelf", "-d", path)))
        for line in run("nm", "-D", path).splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                symbol, _, version = parts[1].partition("@")
                if version:
                    versioned[version.lstrip("@")].add(symbol)
                else:
                    unversioned.add(symbol)
            elif len(parts) == 3 and parts[1] not in "Uvw":
                defined.add(parts[2].split("@")[0])
    missing = sorted(n for n in needed if n not in present and n not in system)
    loose = sorted(s for s in unversioned - defined if s.startswith(CUDA_PREFIXES))
    target = os.path.join(site, "torch", "lib")
    for soname in missing:
        nodes = {v: s for v, s in versioned.items() if v == soname or (v == "NVSHMEM" and "nvshmem" in soname)}
        build(target, soname, nodes, loose)
    print(f"cuda_stubs: {len(missing)} stub libraries: {' '.join(missing)}")


def build(target, soname, nodes, loose):
    symbols = set(loose).union(*nodes.values())
    lines = ['static const char message[] = "CUDA is not available (sebs CPU-only stub)";']
    for symbol in sorted(symbols):
        if symbol.endswith(("GetErrorString", "GetErrorName")) and symbol.startswith("cuda"):
            lines.append(f"const char *{symbol}(void) {{ return message; }}")
        else:
            lines.append(f"long {symbol}(void) {{ return {NO_DEVICE}; }}")
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "stub.c")
        with open(source, "w") as f:
            f.write("\n".join(lines) + "\n")
        command = ["gcc", "-shared", "-fPIC", "-O1", "-w", f"-Wl,-soname,{soname}",
                   "-o", os.path.join(target, soname), source]
        if nodes:
            script = os.path.join(tmp, "versions.map")
            unversioned = sorted(set(loose) - set().union(*nodes.values()))
            with open(script, "w") as f:
                for i, (version, names) in enumerate(sorted(nodes.items())):
                    exported = sorted(names) + (unversioned if i == 0 else [])
                    f.write(f"{version} {{ global: {'; '.join(exported)}; {'local: *;' if i == 0 else ''} }};\n")
            command.insert(-1, f"-Wl,--version-script={script}")
        subprocess.run(command, check=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
