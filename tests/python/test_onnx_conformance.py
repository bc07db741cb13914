"""ONNX's own node conformance suite on the reference backend.

Each case from `onnx.backend.test.case.node.collect_testcases()` whose inputs and outputs are plain
tensors is run through `ember run`, and the graph it imports must print as text IR that parses
back and prints identically. A case either passes (outputs equal to ONNX's expected outputs
within the case's tolerances, dtypes and shapes exact), or is refused with exit code 1 and a
message. A wrong answer or a crash fails the suite.
"""
from __future__ import annotations

import collections
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from harness import ember, output_file_name

# Cases that pass today; the suite fails if fewer pass, so a regression cannot hide.
MINIMUM_PASSING = int(os.environ.get("EMBER_CONFORMANCE_MINIMUM", "0"))


def tensor_only_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    selected = []
    for case in cases:
        if case.model is None:
            continue
        sets = case.data_sets or []
        plain = all(
            isinstance(v, np.ndarray) and v.dtype != object
            for inputs, outputs in sets for v in list(inputs) + list(outputs)
        )
        if sets and plain:
            selected.append(case)
    return selected


def outputs_match(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype}, expected {expected.dtype}"
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    if np.issubdtype(expected.dtype, np.floating):
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
            return f"values differ (max abs diff {np.nanmax(np.abs(a - e)):.3g})"
        return None
    return None if np.array_equal(actual, expected) else "values differ"


def run_case(case) -> tuple[str, str, str]:
    """(case name, outcome, detail) where outcome is passed, refused, wrong or crashed."""
    model = case.model
    initialized = {i.name for i in model.graph.initializer}
    input_names = [i.name for i in model.graph.input if i.name not in initialized]
    output_names = [o.name for o in model.graph.output]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "model.onnx"
        onnx.save(model, str(path))
        for index, (inputs, expected) in enumerate(case.data_sets):
            args = ["run", path, "--backend", "reference", "--output-dir", tmp / f"out{index}"]
            for i, (name, value) in enumerate(zip(input_names, inputs)):
                np.save(tmp / f"in{index}_{i}.npy", value)
                args += ["--input", f"{name}={tmp / f'in{index}_{i}.npy'}"]
            proc = ember(*args, timeout=300)
            if proc.returncode == 1 and proc.stderr.startswith("error: "):
                return case.name, "refused", proc.stderr.strip().splitlines()[0]
            if proc.returncode != 0:
                return case.name, "crashed", f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"
            for name, value in zip(output_names, expected):
                out = tmp / f"out{index}" / output_file_name(name)
                if not out.exists():
                    return case.name, "wrong", f"output '{name}' was not written"
                problem = outputs_match(np.load(out), value, case.rtol, case.atol)
                if problem:
                    return case.name, "wrong", f"output '{name}': {problem}"
        problem = text_form_round_trip(path, tmp)
        if problem:
            return case.name, "wrong", problem
    return case.name, "passed", ""


def text_form_round_trip(path: Path, tmp: Path) -> str | None:
    """The imported graph printed as text IR parses back and prints identically."""
    first = ember("inspect", path, "--print-ir")
    if first.returncode != 0:
        return f"--print-ir failed: {first.stderr.strip()}"
    (tmp / "model.emberir").write_text(first.stdout)
    second = ember("inspect", tmp / "model.emberir", "--print-ir")
    if second.returncode != 0:
        return f"printed IR does not parse: {second.stderr.strip()}"
    if second.stdout != first.stdout:
        return "printed IR does not print back identically"
    return None


def test_onnx_node_conformance():
    cases = tensor_only_cases()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(run_case, cases))
    by_outcome = collections.defaultdict(list)
    for name, outcome, detail in results:
        by_outcome[outcome].append((name, detail))
    summary = ", ".join(f"{len(by_outcome[k])} {k}" for k in ("passed", "refused", "wrong", "crashed"))
    print(f"\nONNX node conformance, {len(cases)} tensor-only cases: {summary}")
    for outcome in ("wrong", "crashed"):
        for name, detail in by_outcome[outcome]:
            print(f"  {outcome}: {name}: {detail}")
    assert not by_outcome["crashed"], f"{len(by_outcome['crashed'])} cases crashed"
    assert not by_outcome["wrong"], f"{len(by_outcome['wrong'])} cases gave wrong answers"
    assert len(by_outcome["passed"]) >= MINIMUM_PASSING, summary
