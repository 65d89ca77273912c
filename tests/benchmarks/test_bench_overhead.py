"""The overhead benchmark's own logic: run order, the same-configurations check, and its bad input."""

from __future__ import annotations

import json

import pytest

from benchmarks import overhead_loop
from benchmarks.bench_overhead import machine_counters, main, run_order, same_configs


def test_runs_alternate_in_abba_blocks():
    assert run_order(1) == ["search", "loop"]
    assert run_order(2) == ["search", "loop", "loop", "search"]
    order = run_order(3)
    assert order.count("search") == order.count("loop") == 3
    # the first run is a search: the loop trains the configurations that search sampled
    assert order[0] == "search"


def test_same_configs_ignores_order_but_not_values():
    a = [{"rank": 8, "learning_rate": 1e-3}, {"rank": 16, "learning_rate": 2e-3}]
    assert same_configs(a, list(reversed(a)))
    assert same_configs(a, [{"learning_rate": 1e-3, "rank": 8}, {"rank": 16, "learning_rate": 2e-3}])
    assert not same_configs(a, [a[0], {"rank": 16, "learning_rate": 3e-3}])
    assert not same_configs(a, a[:1])


@pytest.mark.parametrize("flag", ["--trials", "--repeats", "--epochs", "--concurrency"])
def test_non_positive_counts_are_refused(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([flag, "0"])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


def test_loop_refuses_a_configs_file_without_configurations(tmp_path, capsys):
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps({"rank": 8}))
    args = ["--config-json", str(tmp_path / "c.json"), "--corpus", str(tmp_path), "--configs", str(configs)]
    with pytest.raises(SystemExit) as exit_info:
        overhead_loop.main([*args, "--out", str(tmp_path / "out.json")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(configs) in err and "non-empty JSON list" in err
    assert not (tmp_path / "out.json").exists()


def test_machine_counters_read_steal_refaults_and_major_faults(tmp_path, monkeypatch):
    monkeypatch.setattr("os.sysconf", lambda name: 100)
    (tmp_path / "stat").write_text("cpu  601558 397229 64238 531150 2808 0 755 392 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    (tmp_path / "vmstat").write_text("nr_free_pages 5\nworkingset_refault_file 2024644\npgmajfault 8227\n")
    assert machine_counters(tmp_path) == {
        "steal_seconds": 3.92, "file_pages_refaulted": 2024644.0, "major_faults": 8227.0}
    # A kernel without these counters (or no /proc at all) gives none, and the benchmark records none.
    (tmp_path / "vmstat").write_text("nr_free_pages 5\n")
    assert machine_counters(tmp_path) == {}
    assert machine_counters(tmp_path / "missing") == {}
