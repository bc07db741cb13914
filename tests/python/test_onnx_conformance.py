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
MINIMUM_PASSING = int(os.environ.get("EMBER_CONFORMANCE_MINIMUM", "1200"))

# Cases whose expected outputs come from ONNX's NumPy reference where it departs from the
# specification's text, ONNX Runtime and PyTorch. Ember follows the runtimes; these may differ.
KNOWN_DIFFERENCES = {
    "test_resize_downsample_scales_linear_align_corners":
        "the reference divides by the fractional scaled length; the spec, ONNX Runtime and PyTorch use the output size",
    "test_resize_downsample_scales_cubic_align_corners":
        "the reference divides by the fractional scaled length; the spec, ONNX Runtime and PyTorch use the output size",
}


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


# Mantissa bits of the 16-bit float types. The reference computes them step by step in NumPy,
# rounding every intermediate to 16 bits; Ember rounds each op's result once. Each reference step
# can add half a unit in the last place, so its result and a correctly rounded one may be two units
# apart, which the cases' rtol (1e-3) is finer than. Such outputs also pass within 2 ulps.
HALF_MANTISSA_BITS = {"float16": 10, "bfloat16": 7}


def within_ulps(actual: np.ndarray, expected: np.ndarray, mantissa_bits: int, ulps: int = 2) -> bool:
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    finite = np.isfinite(e)
    if not np.array_equal(np.isnan(a), np.isnan(e)) or not np.array_equal(a[~finite & ~np.isnan(e)], e[~finite & ~np.isnan(e)]):
        return False
    magnitude = np.maximum(np.abs(e[finite]), np.finfo(np.float16).tiny)
    ulp = np.exp2(np.floor(np.log2(magnitude)) - mantissa_bits)
    return bool(np.all(np.abs(a[finite] - e[finite]) <= ulps * ulp))


def outputs_match(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    mantissa_bits = HALF_MANTISSA_BITS.get(expected.dtype.name)
    if expected.dtype.name == "bfloat16" and actual.dtype == np.float32:
        expected = expected.astype(np.float32)  # ember writes bf16 outputs as f32, which NumPy reads
        actual = actual.astype(np.float32)
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype}, expected {expected.dtype}"
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    if np.issubdtype(expected.dtype, np.floating):
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        close = np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        if not close and not (mantissa_bits and within_ulps(actual, expected, mantissa_bits)):
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
        if outcome == "wrong" and name in KNOWN_DIFFERENCES:
            outcome, detail = "known difference", KNOWN_DIFFERENCES[name]
        by_outcome[outcome].append((name, detail))
    summary = ", ".join(f"{len(by_outcome[k])} {k}" for k in ("passed", "refused", "wrong", "crashed", "known difference"))
    print(f"\nONNX node conformance, {len(cases)} tensor-only cases: {summary}")
    refusals = collections.Counter(detail.split(":")[-1].strip()[:90] for _, detail in by_outcome["refused"])
    for reason, count in refusals.most_common():
        print(f"  refused {count:4d}: {reason}")
    for outcome in ("wrong", "crashed", "known difference"):
        for name, detail in by_outcome[outcome]:
            print(f"  {outcome}: {name}: {detail}")
    assert not by_outcome["crashed"], f"{len(by_outcome['crashed'])} cases crashed"
    assert not by_outcome["wrong"], f"{len(by_outcome['wrong'])} cases gave wrong answers"
    assert len(by_outcome["passed"]) >= MINIMUM_PASSING, summary
