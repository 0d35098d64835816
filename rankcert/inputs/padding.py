"""Padding for sequence classification: examples are padded on the right with a token the model knows, and the
classifier reads each example's last real token.

Encoders read a first token ([CLS]) and mask the padding. Decoders (Llama, Qwen2, GPT-2, ...) read the last
token that is not the pad token (transformers takes the rightmost position whose id differs from
config.pad_token_id, so the rule holds for either padding side) and often ship without a pad token: their EOS
token then pads, and the model's config is told so. rankcert always pads on the right, whatever the tokenizer's
padding_side says: each batch is trimmed to its longest example from the right, and every real token keeps
positions 0..n-1 (models with absolute position embeddings, such as GPT-2, read left padding differently).
"""
from __future__ import annotations

import numpy as np

from rankcert.config.records import PadToken  # as run.json states it
from rankcert.inputs.data import Encoded, load_tokenizer
from rankcert.runtime.errors import RankcertError

FROM_TOKENIZER, FROM_EOS = "tokenizer", "eos"  # PadToken.source


def classification_tokenizer(name: str, revision: str = "main"):
    """(the model's tokenizer set to pad on the right with a token it knows, that PadToken)."""
    tokenizer = load_tokenizer(name, revision)
    return tokenizer, set_pad_token(tokenizer, name)


def pad_token(name: str, revision: str = "main") -> PadToken:
    """The token the model's examples are padded with (what prepare pads with)."""
    return classification_tokenizer(name, revision)[1]


def set_pad_token(tokenizer, name: str) -> PadToken:
    """Right padding, with the tokenizer's pad token or, when it has none, its EOS token."""
    tokenizer.padding_side = "right"
    source = FROM_TOKENIZER
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise RankcertError(f"the tokenizer of {name} has neither a pad token nor an EOS token to pad with; add "
                                "a pad_token to its tokenizer_config.json")
        tokenizer.pad_token, source = tokenizer.eos_token, FROM_EOS
    unknown = tokenizer.pad_token != tokenizer.unk_token and tokenizer.pad_token_id == tokenizer.unk_token_id
    if tokenizer.pad_token_id is None or unknown:  # an unknown token's id is the unk token's
        raise RankcertError(f"the pad token {tokenizer.pad_token!r} of {name} is not in its vocabulary; set a "
                            "pad_token the tokenizer knows in its tokenizer_config.json")
    return PadToken(str(tokenizer.pad_token), int(tokenizer.pad_token_id), source)


def configure_model(model, pad: PadToken) -> None:
    """Tell the model which id pads (a decoder's classifier reads the last other token); no KV cache, which
    classification never reuses."""
    for config in {id(c): c for c in (model.config, model.config.get_text_config())}.values():
        config.pad_token_id = pad.id
        if hasattr(config, "use_cache"):
            config.use_cache = False


def check_last_tokens(encoded: Encoded, pad: PadToken, origin: str) -> None:
    """Every example's last real token must differ from the pad token: a decoder's classifier reads the last
    token that isn't the pad token, so it would read an earlier one (a tokenizer that appends its EOS token,
    which also pads, ends every example so)."""
    lengths = encoded.attention_mask.sum(axis=1)
    last = encoded.input_ids[np.arange(len(encoded)), np.maximum(lengths - 1, 0)]
    bad = np.flatnonzero(last == pad.id)
    if bad.size:
        raise RankcertError(f"{origin}: {bad.size} examples (the first is row {int(bad[0])}) end with the pad token "
                            f"{pad.token!r} (id {pad.id}), so a decoder's classifier would read the token before "
                            "it; give the tokenizer a pad token of its own (pad_token in its tokenizer_config.json)")
