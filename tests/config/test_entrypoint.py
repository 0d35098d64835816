"""Every entry point's harness (rankcert.config.entrypoint): the shared command line, and a refusal as one line on
stderr with exit code 2."""
from __future__ import annotations

import pytest
import yaml

from rankcert.config import entrypoint
from rankcert.config.entrypoint import command_line, per_seed, run_main
from rankcert.runtime.errors import RankcertError


def refuse(argv):
    raise RankcertError("data.train_size is 0; set it to at least 1")


def test_a_per_seed_stage_reads_its_seed_and_params_and_is_labelled_by_both(tmp_path, raw_params):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw_params))
    seed, params, label = per_seed("probe", "doc", ["--seed", "7", "--params", str(tmp_path / "p.yaml")])
    assert (seed, label) == (7, "probe@7") and params.probe.rank == raw_params["probe"]["rank"]


def test_a_per_seed_stage_without_a_seed_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        per_seed("probe", "doc", [])
    assert stop.value.code == 2 and "--seed" in capsys.readouterr().err


@pytest.mark.parametrize("seed,params,options", [(False, False, []), (False, True, ["--params"]),
                                                 (True, True, ["--seed", "--params"])])
def test_the_command_line_has_the_shared_options_asked_for_in_order(seed, params, options):
    parser = command_line("what the stage does", seed=seed, params=params)
    assert parser.description == "what the stage does"
    assert [a.option_strings[0] for a in parser._actions if a.dest != "help"] == options
    if params:
        assert str(parser.parse_args(["--seed", "1"] if seed else []).params) == "params.yaml"


def test_a_refusal_is_one_line_on_stderr_and_exit_2(monkeypatch, capsys):
    monkeypatch.delenv("DVC_STAGE", raising=False)
    with pytest.raises(SystemExit) as stop:
        run_main(refuse, [])
    out = capsys.readouterr()
    assert stop.value.code == 2 and out.out == ""
    assert out.err == "rankcert: error: data.train_size is 0; set it to at least 1\n"


@pytest.mark.parametrize("keeps_outputs", [False, True])
def test_under_dvc_the_line_says_how_to_restore_unless_the_outputs_persist(monkeypatch, capsys, keeps_outputs):
    monkeypatch.setenv("DVC_STAGE", "probe@42")
    with pytest.raises(SystemExit):
        run_main(refuse, [], keeps_outputs=keeps_outputs)
    err = capsys.readouterr().err.strip()
    restore = " (DVC removed this stage's previous outputs before running it: `dvc checkout probe@42` brings them back)"
    assert err == "rankcert: error: data.train_size is 0; set it to at least 1" + ("" if keeps_outputs else restore)


def test_debugging_shows_the_traceback_and_a_malformed_debug_setting_does_not(monkeypatch, capsys):
    monkeypatch.setenv("RANKCERT_DEBUG", "1")
    with pytest.raises(RankcertError):
        run_main(refuse, [])
    assert entrypoint._debugging()
    monkeypatch.setenv("RANKCERT_DEBUG", "yes please")
    assert not entrypoint._debugging()  # the malformed setting is what gets reported, as one line
    with pytest.raises(SystemExit):
        run_main(refuse, [])
    assert "RANKCERT_DEBUG='yes please' is not valid" in capsys.readouterr().err


def test_settings_are_checked_before_the_stage_runs_and_a_finished_stage_says_how_long(monkeypatch, capsys):
    ran = []

    def stage(argv):
        ran.append(argv)
    monkeypatch.setenv("RANKCERT_WORKER", "offf")
    with pytest.raises(SystemExit):
        run_main(stage, ["--x"])
    assert ran == [] and "RANKCERT_WORKER='offf'" in capsys.readouterr().err
    monkeypatch.delenv("RANKCERT_WORKER")
    run_main(stage, ["--x"])
    out = capsys.readouterr().out
    assert ran == [["--x"]] and out.startswith("[test_entrypoint] finished in ") and out.endswith(" s (start-up included)\n")
