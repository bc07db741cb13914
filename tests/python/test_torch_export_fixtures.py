"""`.pt2` archives written by every supported torch release run through `ember run`.

The fixtures (`tests/fixtures/pt2/torch-<release>/`, made by `scripts/generate-pt2-fixtures.py`
with each release's own interpreter) hold small models exported with a symbolic batch, their
inputs at two batch sizes and that release's eager outputs. Each archive is compiled and run by the
`ember` command line (the whole optimizer pipeline, the default backend) at both batches, and must
agree with the recorded outputs within 1e-4 of the largest magnitude. Archives from releases that
are not supported must fail with an error naming the supported range.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from harness import DEFAULT_BACKEND, REPO, assert_close, ember, output_file_name

FIXTURES = REPO / "tests" / "fixtures" / "pt2"
RELEASES = ("2.6", "2.7", "2.11", "2.15")


def fixtures():
    for release in RELEASES:
        folder = FIXTURES / f"torch-{release}"
        manifest = json.loads((folder / "manifest.json").read_text())
        for model in manifest["models"]:
            yield pytest.param(folder, model, id=f"torch{release}-{model['name']}")


def describe(path):
    proc = ember("inspect", "--json", "-O0", path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_every_release_has_fixtures():
    for release in RELEASES:
        manifest = json.loads((FIXTURES / f"torch-{release}" / "manifest.json").read_text())
        assert manifest["torch"].startswith(release + "."), manifest["torch"]
        assert len(manifest["models"]) >= 3


@pytest.mark.parametrize("folder, model", fixtures())
def test_release_archive_matches_eager(folder, model, tmp_path):
    path = folder / model["archive"]
    report = describe(path)
    assert report["format"] == "pt2"
    assert report["symbols"], "the symbolic batch and its range are reported"
    names = [p["name"] for p in report["inputs"]]
    batches = {run["batch"] for run in model["runs"]}
    assert len(batches) >= 2, "the exported batch and another in the symbolic range"
    for run in model["runs"]:
        out = tmp_path / f"out{run['batch']}"
        args = ["run", path, "--backend", DEFAULT_BACKEND, "--output-dir", out]
        for name, file in zip(names, run["inputs"], strict=True):
            args += ["--input", f"{name}={folder / file}"]
        proc = ember(*args)
        assert proc.returncode == 0, proc.stderr
        for output, file in zip(report["outputs"], run["outputs"], strict=True):
            expected = np.load(folder / file)
            actual = np.load(out / output_file_name(output["name"]))
            assert_close(actual, expected, 1e-4, what=f"{model['name']} batch {run['batch']} {output['name']}")


@pytest.mark.parametrize("release", ["2.6", "2.15"])
@pytest.mark.parametrize("version", [(7, 3), (8, 1), (8, 99), (9, 0)])
def test_schema_outside_the_supported_range_is_refused(release, version, tmp_path):
    source = FIXTURES / f"torch-{release}" / "mlp.pt2"
    doctored = tmp_path / "doctored.pt2"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(doctored, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            name = Path(item.filename).name
            if name in ("serialized_exported_program.json", "model.json"):
                program = json.loads(data)
                program["schema_version"] = {"major": version[0], "minor": version[1]}
                data = json.dumps(program).encode()
            zout.writestr(item, data)
    proc = ember("inspect", doctored)
    assert proc.returncode == 1, proc.stdout
    assert proc.stderr.startswith("error:"), proc.stderr
    assert f"schema {version[0]}.{version[1]}" in proc.stderr
    assert "8.2 through 8.20 (torch 2.6 through 2.15)" in proc.stderr
