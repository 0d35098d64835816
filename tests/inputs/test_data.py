import pandas as pd
import pytest

from rankcert.inputs import data
from rankcert.runtime.errors import RankcertError
from rankcert.tools import demo


def frame(n=20):
    return pd.DataFrame({"sentence": [f"sentence {i}" for i in range(n)], "label": [i % 2 for i in range(n)],
                         "idx": list(range(n))})


@pytest.mark.parametrize("ext", ["parquet", "csv", "tsv", "jsonl"])
def test_local_directory_in_every_format(tmp_path, ext):
    f = frame()
    path = tmp_path / f"train.{ext}"
    if ext == "parquet":
        f.to_parquet(path)
    elif ext == "jsonl":
        f.to_json(path, orient="records", lines=True)
    else:
        f.to_csv(path, sep="\t" if ext == "tsv" else ",", index=False)
    loaded = data.load_split(str(tmp_path), "sst2", "train")
    assert list(loaded.columns) == ["sentence", "label"] and loaded.equals(f[["sentence", "label"]])


BAD_DATA = [
    (pd.DataFrame({"text": ["a"], "label": [0]}), "missing column(s) ['sentence']"),
    (pd.DataFrame({"sentence": ["a", "b"], "label": [0, 2]}), "labels must be 0 or 1; row 1 has 2"),
    (pd.DataFrame({"sentence": ["a", "b"], "label": [0, "pos"]}), "labels must be 0 or 1"),
    (pd.DataFrame({"sentence": ["a", "  "], "label": [0, 1]}), "empty sentence in row 1"),
    (pd.DataFrame({"sentence": ["a", None], "label": [0, 1]}), "empty sentence in row 1"),
]


@pytest.mark.parametrize("bad,message", BAD_DATA)
def test_bad_data_gets_one_clear_error(bad, message):
    with pytest.raises(RankcertError) as err:
        data.validate_frame(bad, "x")
    assert message in str(err.value)


def test_missing_split_file_and_non_directory(tmp_path):
    with pytest.raises(RankcertError, match="no file for split 'validation'"):
        data.load_split(str(tmp_path), "", "validation")
    with pytest.raises(RankcertError, match="is not a directory"):
        data.load_split(str(tmp_path / "nope"), "", "train")


def test_hub_while_offline_points_at_the_parameter(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RankcertError, match="set data.source to a local directory"):
        data.load_split("glue-not-cached-anywhere", "sst2", "train")


def test_too_few_rows():
    with pytest.raises(RankcertError, match="train_size is 30 but the train split has only 20 rows"):
        data.draw_train(frame(), 30, 1, "train split")
    with pytest.raises(RankcertError, match="eval_size is 21"):
        data.take_eval(frame(), 21, "eval split")


def test_draw_is_seeded_and_eval_is_fixed():
    f = frame(100)
    assert data.draw_train(f, 10, 42).equals(data.draw_train(f, 10, 42))
    assert not data.draw_train(f, 10, 42).equals(data.draw_train(f, 10, 123))
    assert list(data.take_eval(f, 5)["sentence"]) == [f"sentence {i}" for i in range(5)]


def test_fingerprint_changes_with_content_and_order():
    f = frame()
    assert data.fingerprint(f) == data.fingerprint(f.copy())
    assert data.fingerprint(f) != data.fingerprint(f.iloc[::-1])
    changed = f.copy()
    changed.loc[3, "label"] = 1 - changed.loc[3, "label"]
    assert data.fingerprint(f) != data.fingerprint(changed)


def test_encode_save_and_load_round_trip(demo_assets, tmp_path):
    tokenizer = data.load_tokenizer(str(demo_assets / "model"))
    f = demo.synthetic_sentiment(12, seed=3)
    encoded = data.encode(f, tokenizer, max_length=16)
    assert encoded.input_ids.shape[0] == 12 and encoded.input_ids.shape[1] <= 16
    data.save_encoded(encoded, tmp_path / "x.safetensors")
    again = data.load_encoded(tmp_path / "x.safetensors")
    assert all((a == b).all() for a, b in zip(encoded.as_dict().values(), again.as_dict().values()))
