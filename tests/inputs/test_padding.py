"""Padding: a token the model knows, always on the right, and the classifier reading each last real token."""
import numpy as np
import pytest
import torch
import yaml
from safetensors.numpy import load_file

from rankcert.config import codec
from rankcert.config.params import ModelParams
from rankcert.inputs import data, padding
from rankcert.inputs.data import Encoded
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT
from rankcert.tools import demo
from rankcert.training import modeling
from stages import prepare

SENTENCES = ["the film was good", "bad", "a very dull and boring plot but the cast is fine", "superb"]


def _model_params(folder, family):
    targets = {"llama": ["q_proj", "v_proj"], "gpt2": ["c_attn"]}[family]
    return ModelParams(name=str(folder), target_modules=targets, head_modules=["score"], num_labels=2, max_length=32)


@pytest.mark.parametrize("family,eos", [("llama", "</s>"), ("gpt2", "<|endoftext|>")])
def test_a_tokenizer_without_a_pad_token_pads_with_its_eos_token_on_the_right(decoder_assets, family, eos):
    folder = decoder_assets / family / "model"
    assert data.load_tokenizer(str(folder)).pad_token is None  # as decoder checkpoints usually ship
    tokenizer, pad = padding.classification_tokenizer(str(folder))
    assert (pad.token, pad.source) == (eos, "eos") and pad.id == tokenizer.convert_tokens_to_ids(eos)
    assert codec.dump(pad) == {"token": eos, "id": pad.id, "source": "eos"}  # as run.json states it
    ids = tokenizer(SENTENCES[:2], padding="longest")["input_ids"]
    assert ids[1][-1] == pad.id and ids[0][-1] != pad.id  # the short one is padded on the right


def test_a_tokenizer_with_a_pad_token_keeps_it(demo_assets):
    tokenizer, pad = padding.classification_tokenizer(str(demo_assets / "model"))
    assert (pad.token, pad.id, pad.source) == ("[PAD]", 0, "tokenizer")


def test_a_tokenizer_without_pad_or_eos_is_one_line(decoder_assets):
    tokenizer = data.load_tokenizer(str(decoder_assets / "llama" / "model"))
    tokenizer.eos_token = None
    with pytest.raises(RankcertError, match="neither a pad token nor an EOS token"):
        padding.set_pad_token(tokenizer, "m")
    tokenizer.pad_token = "<never-seen>"
    with pytest.raises(RankcertError, match="is not in its vocabulary"):
        padding.set_pad_token(tokenizer, "m")


def test_the_model_is_told_which_token_pads(decoder_assets):
    params = _model_params(decoder_assets / "llama" / "model", "llama")
    model = modeling.load_base_model(params)
    assert model.config.pad_token_id == 2 and model.config.use_cache is False
    other = modeling.load_base_model(params, padding.PadToken("<s>", 1, "tokenizer"))
    assert other.config.pad_token_id == 1


def test_an_example_ending_with_the_pad_token_is_refused():
    pad = padding.PadToken("</s>", 2, "eos")
    ids = np.array([[1, 5, 6, 2], [1, 7, 2, 2]])  # the second ends with </s> itself, then one pad
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 0]])
    with pytest.raises(RankcertError, match=r"eval set: 1 examples \(the first is row 1\) end with the pad token"):
        padding.check_last_tokens(Encoded(ids, mask, np.array([0, 1])), pad, "eval set")
    padding.check_last_tokens(Encoded(ids[:1], mask[:1], np.array([0])), pad, "eval set")


def _logits(model, tokenizer, side):
    tokenizer.padding_side = side
    batch = tokenizer(SENTENCES, padding="longest", return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_the_classifier_reads_the_last_real_token_of_right_padded_examples(decoder_assets, family):
    """transformers' decoders read the rightmost token whose id isn't config.pad_token_id: with right padding
    (what rankcert writes) each example's logits are those it has alone, unpadded."""
    folder = decoder_assets / family / "model"
    tokenizer, _ = padding.classification_tokenizer(str(folder))
    model = modeling.load_base_model(_model_params(folder, family)).eval()
    padded = _logits(model, tokenizer, "right")
    with torch.no_grad():
        alone = torch.cat([model(**tokenizer([s], return_tensors="pt")).logits for s in SENTENCES])
    assert torch.allclose(padded, alone, atol=1e-5)
    left = _logits(model, tokenizer, "left")
    if family == "llama":  # rotary positions are relative: left padding reads the same token, the same way
        assert torch.allclose(left, alone, atol=1e-5)
    else:  # absolute positions shift under left padding: why rankcert always pads on the right
        assert not torch.allclose(left, alone, atol=1e-3)


def test_the_tokenizers_padding_side_does_not_change_the_prepared_examples(decoder_assets, raw_params, tmp_path,
                                                                          monkeypatch):
    """A tokenizer saved to pad on the left prepares the same bytes as one saved to pad on the right, so every
    stage after prepare, and every prediction, is the same."""
    monkeypatch.chdir(tmp_path)
    prepared = {}
    for side in ("left", "right"):
        folder = tmp_path / side
        demo.write_decoder_model(folder, "llama", padding_side=side)
        raw_params["model"].update(name=str(folder), target_modules=["q_proj"], head_modules=["score"])
        raw_params["inputs"]["model"] = str(folder)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
        prepare.main(["--seed", "3"])
        prepared[side] = {name: load_file(str(LAYOUT.prepared(3) / f"{name}.safetensors")) for name in ("train", "eval")}
    assert data.load_tokenizer(str(tmp_path / "left")).padding_side == "left"
    for name in ("train", "eval"):
        for key, array in prepared["right"][name].items():
            assert np.array_equal(array, prepared["left"][name][key]), (name, key)
    mask = prepared["right"]["eval"]["attention_mask"]
    assert (mask[:, 0] == 1).all() and not mask[:, -1].all()  # padded, and on the right
