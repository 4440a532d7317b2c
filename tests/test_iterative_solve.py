"""Kernel ridge regression by preconditioned conjugate gradients (`solver: cg`, or `auto` where the
float64 factor does not fit the memory budget): the same weights as the Cholesky solve to its
tolerance, for every nested size and every ridge a search tries, the same records but for how
they were solved, and a plan that counts the solver instead of a factorisation."""

from __future__ import annotations

import numpy as np
import pytest

import ntkbench
from ntkbench.api import CellFailure
from ntkbench.numerics import _iterative_solve
from ntkbench.numerics._iterative_solve import NystromPreconditioned
from ntkbench.numerics._kernel_ridge import factor_kernel, one_hot
from ntkbench.numerics._ridge_search import choose_ridges

SPEC = {
    "name": "solved",
    "dataset": {"name": "teacher_student", "dim": 8, "pool": 3000, "n_test": 200, "validation_n": 200},
    "architecture": {"name": "mlp", "width": 32, "depth": 1},
    "learners": [{"name": "ntk_infinite", "ridge": 1e-4}, {"id": "tuned", "name": "ntk_infinite", "ridge": "auto"}],
    "sweep": {"n_train": [64, 256, 1024], "seeds": [0]},
    "compare": {"reference": "ntk_infinite"},
}


def kernel(n: int, seed: int = 0) -> np.ndarray:
    """A smooth kernel of decaying spectrum (an RBF on 5-d inputs), float32 as tiles are."""
    x = np.random.default_rng(seed).normal(size=(n, 5))
    squared = np.sum(x**2, 1)[:, None] + np.sum(x**2, 1)[None] - 2 * x @ x.T
    return np.exp(-squared / 10).astype(np.float32)


@pytest.mark.parametrize(("ridge", "landmarks"), [(1e-2, 16), (1e-6, 300)])
def test_conjugate_gradients_give_the_factorisations_weights_for_every_nested_size(ridge, landmarks):
    k = kernel(600)
    targets = one_hot(np.random.default_rng(1).integers(0, 4, 600), 4)
    heard = []
    solver = NystromPreconditioned(k, ridge, landmarks=landmarks, tolerance=1e-10, on_iteration=lambda *args: heard.append(args))
    for n in (100, 350, 600):
        heard.clear()
        exact = factor_kernel(k[:n, :n], ridge).weights(targets[:n])
        solved = solver.weights(targets[:n])
        assert np.max(np.abs(solved - exact)) <= 1e-6 * np.max(np.abs(exact))
        assert solver.facts.iterations >= 1 and solver.facts.relative_residual <= 1e-10
        assert [args[0] for args in heard] == list(range(1, solver.facts.iterations + 1))  # the progress display hears each
        assert heard[-1][1:] == (solver.facts.relative_residual, 1e-10)
    stacked = solver.prefix_weights(targets, [100, 600])
    assert np.allclose(stacked[:100, :4], solver.weights(targets[:100])) and not stacked[100:, :4].any()


def test_a_solve_that_does_not_converge_fails_its_cell_with_a_reason(monkeypatch):
    monkeypatch.setattr(_iterative_solve, "MAX_ITERATIONS", 2)
    solver = NystromPreconditioned(kernel(300), 1e-8, landmarks=4, tolerance=1e-12)
    with pytest.raises(CellFailure, match="conjugate gradients reached a relative residual of .* in 2 iterations"):
        solver.weights(np.ones((300, 2)))


def test_a_run_solved_by_conjugate_gradients_records_the_same_cells_and_how_they_were_solved(tmp_path, monkeypatch):
    factored = ntkbench.run(SPEC, out=tmp_path / "factored", leaderboard=False)
    solved_spec = {**SPEC, "learners": [{**learner, "solver": "cg"} for learner in SPEC["learners"]]}
    solved = ntkbench.run(solved_spec, out=tmp_path / "solved", leaderboard=False)
    columns = ["learner_id", "n_train", "test_error", "info.ridge"]
    order = ["learner_id", "n_train"]
    a = factored.records.sort_values(order)
    b = solved.records.sort_values(order)
    assert a["cell_key"].tolist() == b["cell_key"].tolist()  # the solver is performance-only: the same cells
    assert a[columns].reset_index(drop=True).equals(b[columns].reset_index(drop=True))
    np.testing.assert_allclose(b["test_loss"], a["test_loss"], rtol=1e-6)
    assert set(a["info.solver"]) == {"cholesky"} and set(b["info.solver"]) == {"cg"}
    assert (b["info.cg_iterations"] >= 1).all() and (b["info.cg_relative_residual"] <= 1e-8).all()
    # `auto` takes conjugate gradients where the float64 factor would not fit the budget, and the
    # plan counts the solver, not a factorisation.
    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "4M")  # the float64 factor of 1024 rows takes 8 MiB
    first = next(p for p in ntkbench.plan(SPEC).plans if p.cell.learner_id == "ntk_infinite" and p.cell.n_train == 64)
    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "16G")
    factored_first = next(p for p in ntkbench.plan(SPEC).plans if p.cell == first.cell)
    assert first.cost.factor_flops == 0 < factored_first.cost.factor_flops
    assert first.cost.flops > factored_first.cost.flops  # a hundred products with the kernel, counted


def test_a_spectrum_past_the_budget_is_refused_even_when_the_cells_solve_iteratively(monkeypatch):
    from ntkbench.api import InputError

    monkeypatch.setenv("NTKBENCH_MEMORY_BUDGET", "64M")  # the cells' float32 kernels fit; a 4096-sample eigendecomposition does not
    spec = {**SPEC, "learners": [{"name": "ntk_infinite", "ridge": 1e-4, "solver": "cg"}], "compare": {"reference": "ntk_infinite"},
            "dataset": {**SPEC["dataset"], "pool": 8000}, "spectrum": {"pool": 4096}}
    with pytest.raises(InputError, match=r"(?s)ntk_infinite n=1024 seed=0: .*no iterative solver applies to it, so lower spectrum.pool"):
        ntkbench.run(spec, leaderboard=False)
    solved = {**spec, "spectrum": {"pool": 1024}, "sweep": {"n_train": [64, 256], "seeds": [0]}}
    assert ntkbench.plan(solved).plans  # within the budget: planned, not refused


def test_a_run_killed_during_a_solve_resumes_without_recomputing_the_kernel(tmp_path, monkeypatch):
    spec = {**SPEC, "learners": [{"name": "ntk_infinite", "ridge": 1e-4, "solver": "cg"}], "compare": {"reference": "ntk_infinite"}}
    solve = NystromPreconditioned.weights

    def killed(self, targets):
        raise KeyboardInterrupt  # as a kill arrives: inside the solve, after the kernel's tiles were stored

    monkeypatch.setattr(NystromPreconditioned, "weights", killed)
    with pytest.raises(KeyboardInterrupt):
        ntkbench.run(spec, out=tmp_path / "out", leaderboard=False)
    assert list((tmp_path / "out" / "kernels").rglob("*")), "the kernel's tiles were stored before the solve"
    monkeypatch.setattr(NystromPreconditioned, "weights", solve)
    records = ntkbench.run(spec, out=tmp_path / "out", leaderboard=False).records
    assert (records["status"] == "ok").all() and set(records["info.solver"]) == {"cg"}
    assert records["info.kernel_tiles_computed"].sum() == 0 < records["info.kernel_tiles_read"].sum()


def test_the_plan_counts_an_iterative_solves_reads_of_a_kernel_on_disk(monkeypatch):
    from ntkbench.numerics import _costs

    spec = {**SPEC, "learners": [{"name": "ntk_infinite", "ridge": 1e-4, "solver": "cg"}], "compare": {"reference": "ntk_infinite"}}
    assert "read about" not in ntkbench.plan(spec).text()  # a kernel in memory: no reads from disk
    monkeypatch.setattr(_costs, "MEMMAP_BYTES", 1 << 20)  # the 1024-row float32 kernel (4 MiB) memory-mapped
    plan = ntkbench.plan(spec)
    read = {p.cell.n_train: p.cost.read_bytes for p in plan.plans}
    assert read[1024] == _costs.CG_PLANNED_ITERATIONS * 4 * 1024**2 and read[256] == _costs.CG_PLANNED_ITERATIONS * 4 * 256**2
    assert f"iterative solves read about {ntkbench.api.format_bytes(int(sum(read.values())))} from kernels memory-mapped" in plan.text()


@pytest.mark.parametrize("steps", [-2, -1, 1, 2])
def test_a_neighbouring_ridge_is_solved_from_the_factor_of_another(steps):
    """`ShiftedFactor`: the weights of a factorisation at the other ridge, from conjugate gradients on
    the factor that is held; a cap too small to converge gives None (factor it instead)."""
    from ntkbench import RIDGE_GRID
    from ntkbench.numerics._iterative_solve import SHIFT_TOLERANCE, ShiftedFactor, solve_facts

    k = kernel(500)
    targets = one_hot(np.random.default_rng(2).integers(0, 3, 500), 3)
    scale = float(np.mean(np.diagonal(k).astype(np.float64)))
    start = RIDGE_GRID.index(RIDGE_GRID[6])
    held = factor_kernel(k, RIDGE_GRID[start])
    exact = factor_kernel(k, RIDGE_GRID[start + steps])
    shifted = ShiftedFactor.solve(held, RIDGE_GRID[start], RIDGE_GRID[start + steps] * scale, targets, max_iterations=1000)
    assert shifted.effective_ridge == exact.effective_ridge and shifted.facts.relative_residual <= SHIFT_TOLERANCE
    expected = exact.weights(targets)
    assert np.max(np.abs(shifted.weights(targets) - expected)) <= 1e-7 * np.max(np.abs(expected))
    assert np.array_equal(shifted.prefix_weights(targets, [500]), shifted.weights(targets))
    assert solve_facts(shifted) == {"solver": "shifted_cholesky", "cg_iterations": shifted.facts.iterations,
                                    "cg_relative_residual": shifted.facts.relative_residual, "shifted_from_ridge": RIDGE_GRID[start]}
    assert ShiftedFactor.solve(held, RIDGE_GRID[start], RIDGE_GRID[start + steps] * scale, targets, max_iterations=1) is None


def test_a_large_size_searched_alone_factors_once_and_chooses_as_factorisations_do(monkeypatch):
    """Above `SHIFTED_SOLVE_ROWS` (lowered here), one size's ridges are solved from one factor of its
    kernel (and its pilot half's from one of that), with the validation errors and the choice that
    factoring every ridge gives, and test predictions within the shifted solves' tolerance."""
    from ntkbench import RIDGE_GRID
    from ntkbench.numerics import _ridge_search

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400 + 300 + 200, 5))
    labels = (np.sin(x[:, 0] * 2) + x[:, 1] * x[:, 2] > 0).astype(int)
    squared = np.sum(x**2, 1)[:, None] + np.sum(x**2, 1)[None] - 2 * x @ x.T
    full = np.exp(-squared / 10)
    kernels = (full[:400, :400].astype(np.float32), full[700:, :400], full[400:700, :400])

    def chosen(rows_limit: int) -> tuple[dict, list[int]]:
        factored = []
        monkeypatch.setattr(_ridge_search, "SHIFTED_SOLVE_ROWS", rows_limit)
        monkeypatch.setattr(_ridge_search, "shift_iterations", lambda rows: 1000)  # this kernel's spectrum lies between the ridges
        real = _ridge_search.factor_kernel
        monkeypatch.setattr(_ridge_search, "factor_kernel", lambda k, ridge: factored.append(len(k)) or real(k, ridge))
        choices = choose_ridges(*kernels, labels[:400], labels[400:700], 2, sizes=(400,), ridges=RIDGE_GRID)
        monkeypatch.setattr(_ridge_search, "factor_kernel", real)
        return choices[400], factored

    every, factored_every = chosen(10**6)
    shifted, factored_shifted = chosen(100)
    assert factored_every.count(200) == len(RIDGE_GRID) and factored_every.count(400) >= 3  # the pilot half, swept
    assert factored_shifted.count(200) < len(RIDGE_GRID) and factored_shifted.count(400) < factored_every.count(400)
    assert shifted.validation_errors == every.validation_errors and shifted.ridge == every.ridge
    assert shifted.effective_ridge == pytest.approx(every.effective_ridge, rel=1e-12)
    assert np.max(np.abs(shifted.predictions - every.predictions)) <= 1e-6 * np.max(np.abs(every.predictions))
