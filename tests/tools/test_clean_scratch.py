"""make clean-scratch: the ended runs' scratch goes, checkpoints only when asked."""
from rankcert.tools import clean_scratch


def test_clean_scratch_removes_ended_runs_scratch_and_checkpoints_only_when_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    clean_scratch.main([])  # no scratch folder yet: nothing to do, no error
    assert "removed 0 scratch entries" in capsys.readouterr().out
    scratch = tmp_path / ".rankcert-tmp"
    (scratch / ".0123456789ab-adapter.o0123456789ab.x1y2.tmp").mkdir(parents=True)  # its owner's lock is gone
    (scratch / "checkpoints" / "probe-42-abc").mkdir(parents=True)
    (scratch / "timings").mkdir()
    clean_scratch.main([])
    assert "removed 1 scratch entry of ended runs" in capsys.readouterr().out
    assert sorted(p.name for p in scratch.iterdir()) == ["checkpoints", "timings"]
    clean_scratch.main(["--checkpoints"])
    assert "removed 1 training checkpoint(s)" in capsys.readouterr().out
    assert sorted(p.name for p in scratch.iterdir()) == ["timings"]
