"""The installed neurocohort works on its own: `cmake --install` into a temporary prefix, the
prefix moved elsewhere (nothing may point back into the build or the source tree), then
synth + run (the default model, found relative to the executable) + norms build from there;
and `cpack -G DEB` builds a .deb holding the executable, the model and the docs.

usage: check_install.py BUILD_DIR SOURCE_DIR WORK
"""
import os
import shutil
import subprocess
import sys


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def run(*command, cwd=None):
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        fail(f"exit {result.returncode}: {' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def main():
    build, source, work = (os.path.abspath(p) for p in sys.argv[1:4])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    staged = os.path.join(work, "staged")
    run("cmake", "--install", build, "--prefix", staged)
    prefix = os.path.join(work, "moved", "opt")
    os.makedirs(os.path.dirname(prefix))
    os.rename(staged, prefix)  # relocated: the install must not depend on where it was put
    binary = os.path.join(prefix, "bin", "neurocohort")
    for path in (binary, os.path.join(prefix, "share", "neurocohort", "models", "resunet333.pt"),
                 os.path.join(prefix, "share", "doc", "neurocohort", "docs", "qc.md")):
        if not os.path.isfile(path):
            fail(f"not installed: {path}")
    strings = run("strings", binary).stdout
    for tree in (source, build):
        if tree in strings:
            fail(f"the installed executable names {tree}: {[l for l in strings.splitlines() if tree in l][:3]}")

    cohort = os.path.join(work, "cohort")
    run(binary, "synth", "--out", cohort, "--n", "2", "--seed", "8", "--modality", "mr", cwd=work)
    run(binary, "run", os.path.join(cohort, "manifest.tsv"), "--out", "results.h5", cwd=work)
    run(binary, "norms", "build", "results.h5", "--out", "norms.h5", cwd=work)
    info = run(binary, "run", "--help").stdout
    if os.path.join(prefix, "share", "neurocohort", "models") not in info:
        fail("run --help does not name the installed default model")

    packages = os.path.join(work, "packages")
    run("cpack", "-G", "DEB", "-B", packages, "--config", os.path.join(build, "CPackConfig.cmake"))
    debs = [f for f in os.listdir(packages) if f.endswith(".deb")]
    if len(debs) != 1:
        fail(f"cpack made {debs}")
    contents = run("dpkg-deb", "--contents", os.path.join(packages, debs[0])).stdout
    for wanted in ("./usr/bin/neurocohort", "./usr/share/neurocohort/models/resunet333.pt"):
        if wanted not in contents:
            fail(f"{debs[0]} lacks {wanted}")
    depends = run("dpkg-deb", "--field", os.path.join(packages, debs[0]), "Depends").stdout.strip()
    if "mricron-data" not in depends or "libhdf5" not in depends:
        fail(f"{debs[0]} depends on: {depends}")
    print(f"installed, moved and run from {prefix}; {debs[0]} depends on {depends[:160]}...")


if __name__ == "__main__":
    main()
