"""What `--ray` and its options say where they cannot work: one sentence each, with or without Ray installed."""

import sys

from jenacast.cli import main

NOT_INSTALLED = "jenacast: error: --ray needs Ray, which is not installed here: pip install 'jenacast[ray]'.\n"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_ray_not_installed_is_one_sentence_with_the_install_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where the extra is not installed
    code, err = run(capsys, "chapter", "--smoke", "--dataset", "synthetic", "--ray", "--out", tmp_path)
    assert (
        code == 1
        and err == "jenacast: error: --ray needs Ray, which is not installed here: pip install 'jenacast[ray]'.\n"
    )
    assert not (tmp_path / "runs").exists()


def test_more_threads_than_the_machine_has_are_refused(tmp_path, capsys):
    code, err = run(capsys, "chapter", "--smoke", "--threads", 100_000, "--out", tmp_path)
    assert code == 1 and "--threads 100000 is more than the" in err and err.count("\n") == 1


def test_a_gpu_share_needs_ray(tmp_path, capsys):
    code, err = run(capsys, "chapter", "--smoke", "--gpus-per-run", 0.5, "--out", tmp_path)
    assert code == 1 and "--gpus-per-run is a positive share of a GPU, and only with --ray." in err


def test_sweep_without_ray_is_one_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    space = tmp_path / "space.json"
    space.write_text('{"units": [8, 16]}')
    code, err = run(capsys, "sweep", "lstm", "--space", space, "--out", tmp_path / "sweep")
    assert code == 1 and err == NOT_INSTALLED
