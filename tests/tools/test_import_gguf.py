"""rankcert.tools.import_gguf: a GGUF checkpoint becomes a model folder the stages load, with the same weights."""
from __future__ import annotations

import json

import pytest
import torch

from rankcert.config.entrypoint import run_main
from rankcert.config.params import ModelParams
from rankcert.inputs.sources import file_sha256
from rankcert.runtime.errors import RankcertError
from rankcert.tools import import_gguf
from rankcert.training import modeling
from tests.helpers import write_tiny_llama_gguf

gguf = pytest.importorskip("gguf", reason="the gguf extra is not installed (pip install -e '.[gguf]')")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    write_tiny_llama_gguf(folder / "tiny.gguf")
    return folder / "tiny.gguf"


@pytest.fixture(scope="module")
def imported(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "model"
    import_gguf.import_gguf(checkpoint, out)
    return out


def test_the_stages_load_the_de_quantized_weights_exactly(checkpoint, imported):
    params = ModelParams(name=str(imported), target_modules=["q_proj", "v_proj"], head_modules=["score"],
                         num_labels=2, max_length=16, revision="main")
    torch.manual_seed(0)
    model = modeling.load_base_model(params)
    reader = gguf.GGUFReader(str(checkpoint))
    for tensor in reader.tensors:  # attn_q/attn_k are stored permuted for llama.cpp's RoPE: compared below
        target = {"blk.0.attn_v.weight": model.model.layers[0].self_attn.v_proj.weight,
                  "blk.1.ffn_down.weight": model.model.layers[1].mlp.down_proj.weight,
                  "token_embd.weight": model.model.embed_tokens.weight}.get(tensor.name)
        if target is not None:
            values = torch.from_numpy(gguf.quants.dequantize(tensor.data, tensor.tensor_type).copy())
            assert torch.equal(values, target.detach()), tensor.name
    from transformers import AutoModelForCausalLM
    direct = AutoModelForCausalLM.from_pretrained(checkpoint.parent, gguf_file=checkpoint.name, dtype="float32")
    for name, value in direct.model.state_dict().items():
        assert torch.equal(value, model.model.state_dict()[name]), name


def test_the_record_names_the_gguf_and_the_import_is_byte_deterministic(checkpoint, imported, tmp_path):
    record = json.loads((imported / import_gguf.SOURCE_RECORD).read_text())
    assert record["gguf_sha256"] == file_sha256(checkpoint) and record["gguf_file"] == "tiny.gguf"
    assert record["architecture"] == "LlamaForCausalLM" and record["parameters"] > 0
    again = tmp_path / "again"
    import_gguf.import_gguf(checkpoint, again)
    for name in ("model.safetensors", "tokenizer.json", "config.json", import_gguf.SOURCE_RECORD):
        assert (again / name).read_bytes() == (imported / name).read_bytes(), name


def test_the_tokenizer_comes_with_the_weights(imported):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(imported)
    assert tokenizer("ab a")["input_ids"] == [30, 31]  # the two merges: "ab", "Ġa"


def test_an_existing_folder_is_never_overwritten(checkpoint, imported):
    before = (imported / "model.safetensors").read_bytes()
    with pytest.raises(RankcertError, match="already exists"):
        import_gguf.import_gguf(checkpoint, imported)
    assert (imported / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("content, name", [(b"not a gguf file at all", "broken.gguf"), (b"", "model.bin")])
def test_a_file_that_is_no_gguf_is_one_line_and_leaves_nothing(tmp_path, content, name, capsys):
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(SystemExit) as ended:
        run_main(import_gguf.main, [str(bad), str(tmp_path / "out")])
    assert ended.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
