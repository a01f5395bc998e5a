from pathlib import Path

from app.cpu_priority import alone_in_autogroup, autogroup_of, autogroups_enabled, lower_cpu_priority


def fake_proc(tmp_path: Path, groups: dict[int, str], enabled: str = "1") -> Path:
    (tmp_path / "sys/kernel").mkdir(parents=True)
    (tmp_path / "sys/kernel/sched_autogroup_enabled").write_text(enabled + "\n")
    for pid, group in groups.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "autogroup").write_text(f"{group} nice 0\n")
    (tmp_path / "self").mkdir()
    return tmp_path


def test_a_process_alone_in_its_session_group_is_recognised(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: "/autogroup-1", 11: "/autogroup-2", 12: "/autogroup-2"})
    assert autogroup_of(10, proc) == "/autogroup-1"
    assert alone_in_autogroup(10, proc)
    assert not alone_in_autogroup(11, proc)  # shares its group (e.g. with the shell that started it)


def test_a_missing_process_or_kernel_without_autogroups_is_never_alone(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: "/autogroup-1"}, enabled="0")
    assert autogroup_of(99, proc) is None
    assert not alone_in_autogroup(99, proc)
    assert not autogroups_enabled(proc)
    assert autogroups_enabled(fake_proc(tmp_path / "on", {}))


def test_zero_niceness_changes_nothing(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {})
    assert lower_cpu_priority(0, proc) == []
    assert not (proc / "self/autogroup").exists()
