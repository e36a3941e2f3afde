"""Dockerfiles, checked without a Docker engine: every COPY source exists, the runtime stage
installs the Debian package of every shared library the binary links (ldd), and the image runs
as a numeric non-root user."""
import pathlib
import re
import subprocess

import pytest

from ecotest import PLAIN_BIN, ROOT

IMAGES = {"root-gateway": "services/root-gateway", "api-gateway": "services/api-gateway",
          "ai-service": "services/ai-service", "engine-adapter": "services/engine-adapter",
          "index-service": "services/index-service", "job-poller": "services/job-poller", "qyaml": "tools/qyaml"}
BASE = {"libc6", "libgcc-s1", "libstdc++6"}


def dpkg_owners():
    """Path -> package, from dpkg's own file lists (one pass; `dpkg -S` per library is slow)."""
    owners = {}
    for lst in pathlib.Path("/var/lib/dpkg/info").glob("*.list"):
        pkg = lst.stem.split(":")[0]
        for line in lst.read_text(errors="replace").splitlines():
            if ".so" in line:
                owners[line] = pkg
    return owners


OWNERS = dpkg_owners()


def linked_packages(binary):
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30, check=True).stdout
    pkgs = set()
    for lib in re.findall(r"=> (/\S+)", out):
        real = str(pathlib.Path(lib).resolve())
        # merged /usr: dpkg may know a library under /lib or under /usr/lib
        candidates = [lib, real, real.replace("/usr/lib/", "/lib/", 1), lib.replace("/lib/", "/usr/lib/", 1)]
        found = [OWNERS[c] for c in candidates if c in OWNERS]
        assert found, f"no Debian package owns {lib}"
        pkgs.add(found[0])
    return pkgs - BASE


def stages(text):
    return re.split(r"^FROM ", text, flags=re.M)[1:]


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile(name):
    text = (ROOT / IMAGES[name] / "Dockerfile").read_text()
    build, runtime = stages(text)
    assert re.match(r"debian:12\.\d+ AS build", build) and re.match(r"debian:12\.\d+-slim", runtime)
    for m in re.finditer(r"^COPY (?!--from)(.+)$", text, flags=re.M):
        *sources, _dest = m.group(1).split()
        for src in sources:
            assert (ROOT / src).exists(), f"COPY source {src} does not exist"
    installed = set(re.search(r"apt-get install -y --no-install-recommends ([^\\\n]+)", runtime).group(1).split())
    missing = linked_packages(PLAIN_BIN / name) - installed
    assert not missing, f"runtime stage lacks {sorted(missing)}: run scripts/dockerfiles.sh"
    user = re.search(r"^USER (\S+)$", runtime, flags=re.M).group(1)
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert "HEALTHCHECK" in runtime
    assert f"COPY --from=build /src/build/bin/{name} " in runtime
