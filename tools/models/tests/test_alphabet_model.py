"""The alphabet model as llama.cpp reads it: its file, its vocabulary, and the answer its weights give.

That Inferno answers with it is shown on the real binary, not here."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from tools.models import alphabet_model as model


def test_the_answers_are_known_in_advance():
    assert model.expected_text("abc", 5) == "defgh"
    assert model.expected_text("uvw", 5) == "xyz"
    assert model.expected_text("abc", 5, shift=2) == "egikm"
    assert model.expected_text("ab!", 5) == ""


@pytest.mark.parametrize("shift", [1, 2])
def test_the_file_holds_a_character_vocabulary_and_weights_that_give_those_answers(tmp_path, shift):
    path = model.write_alphabet_model(tmp_path / "alphabet.gguf", shift)
    reader = gguf.GGUFReader(str(path))
    fields = reader.fields

    def text(key: str) -> str:
        field = fields[key]
        return bytes(field.parts[field.data[0]]).decode()

    def number(key: str):
        field = fields[key]
        return field.parts[field.data[0]][0]

    assert text("general.architecture") == "llama" and text("tokenizer.ggml.model") == "llama"
    tokens = [bytes(fields["tokenizer.ggml.tokens"].parts[index]).decode()
              for index in fields["tokenizer.ggml.tokens"].data]
    assert tokens[:3] == ["<unk>", "<s>", "</s>"] and len(tokens) == 98 and len(set(tokens)) == 98
    assert "\u2581" in tokens and not any(token.startswith("<0x") for token in tokens)  # no BYTE tokens
    types = [int(fields["tokenizer.ggml.token_type"].parts[index][0]) for index in fields["tokenizer.ggml.token_type"].data]
    assert types[:3] == [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    assert set(types[3:]) == {gguf.TokenType.NORMAL}
    assert not number("tokenizer.ggml.add_space_prefix")
    assert number("tokenizer.ggml.eos_token_id") == 2 and number("tokenizer.ggml.bos_token_id") == 1

    # The last position's residual is its token's one-hot vector (attention and FFN are zero):
    # the output matrix must rank the successor first, by a margin of LOGIT.
    tensors = {tensor.name: np.array(tensor.data) for tensor in reader.tensors}
    assert not any(tensors[name].any() for name in tensors if name.startswith("blk.0.attn_q")
                   or name.startswith("blk.0.ffn_down"))
    embeddings, output = tensors["token_embd.weight"], tensors["output.weight"]
    for letter in "abcxyz":
        hidden = embeddings[tokens.index(letter)]
        hidden = hidden / np.sqrt(np.mean(hidden ** 2) + 1e-5)
        logits = output @ hidden
        assert tokens[int(np.argmax(logits))] == model.successor(letter, shift)
        assert np.sort(logits)[-1] - np.sort(logits)[-2] > model.LOGIT
    assert path.stat().st_size < 1_000_000


def test_a_shift_that_names_no_letter_is_refused(tmp_path):
    with pytest.raises(ValueError, match="shift 26 must be 1-25"):
        model.write_alphabet_model(tmp_path / "x.gguf", 26)
