"""What ran, from the stages' records, against params: the level's numbers and one line per disagreement."""
import dataclasses

from rankcert.certification import stats
from rankcert.certification.recorded import recorded
from rankcert.certification.run_results import RunResults
from rankcert.config.params import load_params
from rankcert.config.records import IMPORTED, AdapterRun, Evaluation, Manifest, PadToken, Sample, Training
from tests.helpers import PROJECT, stand_in_training

PARAMS = load_params(PROJECT / "params.yaml")  # 3 seeds, 500 steps, 2000 train, 500 eval: certifiable
NAMES = ["probe", *PARAMS.variant_names]


def results(params=PARAMS, steps=None, train_rows=None, eval_rows=None, seeds=None, source=None, recipe=None,
            probe_rank=None) -> RunResults:
    """Records of every seed's probe and variants as the stages write them, each fact overridable."""
    seeds = params.seeds if seeds is None else seeds
    runs, evaluations, manifests = {}, {}, {}
    for seed in seeds:
        training = stand_in_training(params, seed, steps)
        training = dataclasses.replace(training, recipe=recipe or training.recipe)
        rows = params.data.train_size if train_rows is None else train_rows
        manifests[seed] = Manifest(seed, source or params.data.source,
                                   train=Sample(rows, f"{seed:064d}", 64, positive=1),
                                   eval=Sample(eval_rows or 500, "f" * 64, 64, positive=1, split_rows=872))
        for name in NAMES:
            rank = (probe_rank or params.probe.rank) if name == "probe" else 8
            runs[(seed, name)] = AdapterRun(name, seed, {"l0.q": rank}, "m", "a", training, "r", "distilbert",
                                            PadToken("[PAD]", 0, "tokenizer"), 10, "3", {}, "cpu")
            evaluations[(seed, name)] = Evaluation("a", "p", 0.8, 400, eval_rows or 500, 10, 0.0)
    return RunResults({}, evaluations, runs, manifests, {}, {}, {}, "", {})


def level(found: RunResults, params=PARAMS) -> stats.Level:
    ran = recorded(params, found)
    return stats.validation_level(len(ran.seeds), ran.steps, ran.train_examples, ran.eval_examples,
                                  params.certify.certifiable)


def test_a_run_as_params_declare_it_agrees_and_is_certifiable():
    ran = recorded(PARAMS, results())
    assert ran.disagreements == [] and (ran.seeds, ran.steps, ran.train_examples, ran.eval_examples) == (
        [42, 123, 456], 500, 2000, 500)
    assert level(results()).name == "certifiable" and ran.recipe == PARAMS.train


def test_the_level_is_what_ran_not_what_params_say():
    assert level(results(steps=200)).reasons == ["200 steps < 500"]
    assert level(results(train_rows=800, eval_rows=300)).reasons == ["800 train examples < 2000",
                                                                     "300 eval examples < 500"]
    assert level(results(seeds=[42, 123])).name == "screening+"  # params list 3 seeds; 2 ran


def test_params_changed_after_the_stages_ran_are_one_line_per_fact_naming_both_values():
    params = dataclasses.replace(PARAMS, train=dataclasses.replace(PARAMS.train, steps=800, precision="bf16"),
                                 data=dataclasses.replace(PARAMS.data, train_size=4000, eval_size=600))
    lines = recorded(params, results(seeds=[42])).disagreements
    assert lines == [
        "probe@42, compress@42 trained 500 steps; params say train.steps 800",
        "probe@42, compress@42 trained with train.precision fp32; params say train.precision bf16",
        "prepare@42 drew 2000 train examples; params say data.train_size 4000",
        "evaluate@42 evaluated 500 examples; params say data.eval_size 600",
    ]


def test_records_that_disagree_with_each_other_or_with_the_probe_and_data_params_are_named():
    found = results(seeds=[42], source="other/data", probe_rank=16)
    redrawn = dataclasses.replace(found.manifests[42], train=dataclasses.replace(found.manifests[42].train,
                                                                                   fingerprint="9" * 64))
    found = dataclasses.replace(found, manifests={42: redrawn})
    lines = recorded(PARAMS, found).disagreements
    assert "probe@42 has rank 16; params say probe.rank 32" in lines
    assert "prepare@42 drew from other/data; params say data.source glue" in lines
    assert ("probe@42, compress@42 trained on train sample 000000000000 (2000 examples); prepare@42 has drawn "
            "999999999999 (2000) since") in lines


def test_the_whole_eval_split_is_what_eval_size_all_asks_for():
    params = dataclasses.replace(PARAMS, data=dataclasses.replace(PARAMS.data, eval_size="all"))
    assert recorded(params, results(params, seeds=[42], eval_rows=872)).disagreements == []
    assert recorded(params, results(params, seeds=[42], eval_rows=500)).disagreements == [
        "evaluate@42 evaluated 500 examples; params say data.eval_size all (872 rows)"]


def test_many_stage_runs_are_named_in_one_line():
    lines = recorded(PARAMS, results(steps=100)).disagreements
    assert lines == ["probe@42, compress@42, probe@123, compress@123, probe@456 and 1 more trained 100 steps; "
                     "params say train.steps 500"]


def test_nothing_recorded_is_nothing_ran():
    ran = recorded(PARAMS, RunResults({}, {}, {}, {}, {}, {}, {}, "unknown", {}))
    assert (ran.seeds, ran.steps, ran.train_examples, ran.eval_examples, ran.recipe) == ([], 0, 0, 0, None)


def _imported(found: RunResults) -> RunResults:
    """`found` with every probe an imported adapter and every truncated variant a cut of it."""
    for key, run in found.runs.items():
        if key[1] == "probe":
            found.runs[key] = dataclasses.replace(run, training=Training(IMPORTED))
    return found


def test_an_imported_probe_is_read_as_imported_and_its_unknown_training_is_not_a_disagreement():
    params = dataclasses.replace(PARAMS, seeds=[42], probe=dataclasses.replace(PARAMS.probe, adapter="mine"))
    ran = recorded(params, _imported(results(params)))
    assert ran.imported and ran.disagreements == [] and ran.steps == 500  # the retrained variants' steps
    assert stats.validation_level(1, ran.steps, ran.train_examples, ran.eval_examples, params.certify.certifiable,
                                  imported=ran.imported).name == "imported"


def test_a_probe_imported_or_trained_against_params_is_one_line():
    trained_here = dataclasses.replace(PARAMS, seeds=[42], probe=dataclasses.replace(PARAMS.probe, adapter="mine"))
    assert recorded(trained_here, results(trained_here)).disagreements == [
        "probe@42 trained the probe here; params say probe.adapter mine"]
    one_seed = dataclasses.replace(PARAMS, seeds=[42])
    ran = recorded(one_seed, _imported(results(one_seed)))
    assert ran.imported and ran.disagreements == ["probe@42 imported an adapter; params say probe.adapter null"]
