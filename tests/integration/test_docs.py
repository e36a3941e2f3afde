"""The README's configuration table is the binaries' own: every ECO_* setting a service reads
(from `--config-help`) has its row, with the same default."""
import subprocess

from ecotest import PLAIN_BIN, ROOT


def test_readme_configuration_table_matches_the_binaries():
    r = subprocess.run(["bash", str(ROOT / "scripts/config-table.sh"), str(PLAIN_BIN)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in r.stdout.splitlines() if line.startswith("| `ECO_")]
    assert len(rows) > 15
    missing = [row for row in rows if row not in readme]
    assert not missing, "README configuration table is out of date; regenerate with scripts/config-table.sh:\n" + \
        "\n".join(missing)


def test_readme_has_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert (ROOT / ".ci/run").read_text().strip().endswith("make test")
