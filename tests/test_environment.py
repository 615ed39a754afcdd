"""The pinned versions live in requirements.txt; every other environment file must agree with it."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;#]+)\s*$")


def read_requirements(path: Path) -> dict[str, str]:
    """name -> version for each `name==version` line; options (lines starting with -) skipped."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = PIN.match(line)
        assert m, f"{path.name}: {line!r} is not an exact pin (name==version)"
        pins[m.group(1).lower()] = m.group(2)
    return pins


def read_conda_pip(path: Path) -> dict[str, str]:
    """name -> version from the `pip:` block of a conda environment file (no yaml dependency)."""
    pins, in_pip = {}, False
    for line in path.read_text().splitlines():
        if re.match(r"^\s*-\s*pip:\s*$", line):
            in_pip = True
            continue
        if in_pip:
            m = re.match(r"^\s*-\s*(\S+)\s*$", line)
            if not m:
                break
            name, _, version = m.group(1).partition("==")
            pins[name.lower()] = version
    return pins


PINS = read_requirements(ROOT / "requirements.txt")


def test_torch_is_pinned_to_the_cpu_wheel_version():
    assert PINS["torch"] == "2.13.0"


def test_every_pin_is_exact():
    assert PINS and all(re.fullmatch(r"\d+(\.\d+)*", v) for v in PINS.values()), PINS


def test_binder_requirements_match_the_pins():
    assert read_requirements(ROOT / "binder" / "requirements.txt") == PINS


def test_binder_installs_cpu_torch_the_data_and_the_package():
    req = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in req
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "requirements-nodeps.txt" in post and "-e ." in post
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"


def test_make_install_and_binder_turn_off_the_same_nbgrader_extensions():
    # learners should not meet nbgrader's menu and Validate button (tests/course/test_browser.py looks);
    # the server extensions are the ones nbgrader's wheel enables in its own config file
    shipped = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "nbgrader.json"
    modules = set(json.loads(shipped.read_text())["ServerApp"]["jpserver_extensions"])
    script = (ROOT / "binder" / "nbgrader-ui-off").read_text()
    assert "labextension disable --level=sys_prefix @jupyter/nbgrader" in script
    assert len(modules) == 4 and all(m in script for m in modules), modules
    assert "bash binder/nbgrader-ui-off" in (ROOT / "binder" / "postBuild").read_text()
    assert "bash binder/nbgrader-ui-off" in (ROOT / "Makefile").read_text()


def test_conda_environment_matches_the_pins():
    env = ROOT / "environment.yml"
    assert re.search(r"^\s*-\s*python=3\.11\s*$", env.read_text(), re.M)
    assert read_conda_pip(env) == PINS


def test_pyproject_ranges_admit_the_pins_and_cover_every_one():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert set(extras) == {"lm", "lab", "test", "serve", "scale"}
    declared = {}
    for line in project["dependencies"] + [r for group in extras.values() for r in group]:
        req = Requirement(line)
        assert str(req.specifier), f"pyproject.toml: {line!r} has no version range"
        declared[req.name.lower()] = req.specifier
    assert set(declared) == set(PINS), f"in pyproject only: {set(declared) - set(PINS)}, lock only: {set(PINS) - set(declared)}"
    for name, spec in declared.items():
        assert spec.contains(PINS[name]), f"pyproject.toml: {name}{spec} does not admit the pinned {PINS[name]}"
    torch = next(r for r in project["dependencies"] if r.startswith("torch"))
    assert Requirement(torch).specifier.contains("2.13.0") and not Requirement(torch).specifier.contains("2.14.0")


def test_data_carrier_is_pinned_and_installed_without_dependencies():
    assert read_requirements(ROOT / "requirements-nodeps.txt") == {"recbole": "1.2.1"}
    make = (ROOT / "Makefile").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in make


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    commands = [line.split("#")[0].strip() for b in blocks for line in b.splitlines() if "test" in line]
    assert commands == ["make test"]
    ci = [line.split("#")[0].split() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ["make", "test"] in ci


@pytest.mark.parametrize("name", sorted(PINS))
def test_installed_versions_are_the_pinned_ones(name):
    from importlib.metadata import version

    installed = version(name).split("+")[0]  # torch reports 2.13.0+cpu
    assert installed == PINS[name], f"{name}: installed {installed}, pinned {PINS[name]}; run `make install`"


def test_binder_pins_the_same_cpu_kernels_as_the_makefile():
    make = dict(re.findall(r"^export (\w+) \?= (.+)$", (ROOT / "Makefile").read_text(), re.M))
    start = (ROOT / "binder" / "start").read_text()
    binder = {k: v.strip('"') for k, v in re.findall(r"^export (\w+)=(.+)$", start, re.M)}
    assert make and make == binder
    assert "ATEN_CPU_CAPABILITY" in make and start.rstrip().endswith('exec "$@"')
