"""A tiny GGUF model whose every answer is known in advance, made here without a model hub.

    python -m tools.models.alphabet_model OUT.gguf [--shift N]

It is a one-layer llama (llama.cpp's architecture "llama") whose text is fixed by its weights:
after a lowercase letter it writes the letter ``shift`` places on, and after ``z`` (or a letter
that would pass it) it ends the text. With the default shift of 1, ``abc`` is answered with
``defgh`` (five tokens), and ``uvw`` with ``xyz``, then the end. A model with another shift
answers differently, so a test can tell which file served.

How the weights do it:

* the vocabulary is ``<unk>``, ``<s>``, ``</s>`` and the 95 printable ASCII characters as NORMAL
  single-character tokens (the space as SentencePiece's ``▁``), with an SPM tokenizer and no
  space prefix. BYTE tokens (``<0xXX>``) would load and run, but Inferno 0.10.3 turns none of
  them into text: every completion came back empty;
* the embeddings are one-hot, and every attention and feed-forward weight is zero, so the
  residual stream at the last position is the last token's one-hot vector (scaled by the RMS
  norms, whose weights are one);
* the output matrix maps each token's column to its successor's row, with a logit of
  ``LOGIT``; every other logit is 0. At Inferno's sampling settings that are safe in 0.10.3
  (temperature 0.1, top_k at least the vocabulary size, top_p 1.0) the successor wins with a
  probability above 1 - 1e-80.
"""

from __future__ import annotations

import argparse
import string
from pathlib import Path

import numpy as np

ARCHITECTURE = "llama"
UNKNOWN, BEGIN, END = "<unk>", "<s>", "</s>"
SPACE = "\u2581"  # SentencePiece's word boundary: the text's spaces are tokenized as this piece
CHARACTERS = [SPACE if char == " " else char for char in string.printable[:95]]
TOKENS = [UNKNOWN, BEGIN, END] + sorted(CHARACTERS, key=lambda piece: " " if piece == SPACE else piece)
EMBEDDING = 128  # at least the vocabulary (98), and a multiple of the heads' size
HEADS = 2
FEED_FORWARD = 64
CONTEXT = 4096
LOGIT = 20.0


def successor(token: str, shift: int) -> str:
    """The token the model writes after ``token``: a lowercase letter ``shift`` on, else the end."""
    if token in string.ascii_lowercase and token != "z":
        following = chr(ord(token) + shift)
        return following if following <= "z" else END
    return END


def expected_text(prompt: str, max_tokens: int, shift: int = 1) -> str:
    """What the model answers ``prompt`` with, in at most ``max_tokens`` tokens: for tests."""
    text, last = "", prompt[-1]
    for _ in range(max_tokens):
        last = successor(last, shift)
        if last == END:
            break
        text += last
    return text


def weights(shift: int) -> dict[str, np.ndarray]:
    """The tensors by GGUF name, as numpy arrays (rows first: GGUF stores the shape reversed)."""
    vocabulary, zeros = len(TOKENS), np.zeros
    index = {token: number for number, token in enumerate(TOKENS)}
    embeddings = zeros((vocabulary, EMBEDDING), dtype=np.float32)
    embeddings[np.arange(vocabulary), np.arange(vocabulary)] = 1.0
    output = zeros((vocabulary, EMBEDDING), dtype=np.float32)
    for token in TOKENS:
        output[index[successor(token, shift)], index[token]] = LOGIT
    ones = np.ones(EMBEDDING, dtype=np.float32)
    square = zeros((EMBEDDING, EMBEDDING), dtype=np.float32)
    return {
        "token_embd.weight": embeddings,
        "output_norm.weight": ones,
        "output.weight": output,
        "blk.0.attn_norm.weight": ones,
        "blk.0.attn_q.weight": square,
        "blk.0.attn_k.weight": square,
        "blk.0.attn_v.weight": square,
        "blk.0.attn_output.weight": square,
        "blk.0.ffn_norm.weight": ones,
        "blk.0.ffn_gate.weight": zeros((FEED_FORWARD, EMBEDDING), dtype=np.float32),
        "blk.0.ffn_up.weight": zeros((FEED_FORWARD, EMBEDDING), dtype=np.float32),
        "blk.0.ffn_down.weight": zeros((EMBEDDING, FEED_FORWARD), dtype=np.float32),
    }


def write_alphabet_model(path: Path, shift: int = 1) -> Path:
    """Write the model to ``path`` (about 0.2 MB); returns ``path``."""
    import gguf

    if not 1 <= shift <= 25:
        raise ValueError(f"shift {shift} must be 1-25: the letter a model writes after another")
    writer = gguf.GGUFWriter(str(path), ARCHITECTURE)
    writer.add_name(f"inferno-ops alphabet +{shift}")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBEDDING)
    writer.add_block_count(1)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(EMBEDDING // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")  # SentencePiece (SPM)
    writer.add_token_list(TOKENS)
    writer.add_token_scores([0.0] * len(TOKENS))
    writer.add_token_types([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
                           + [gguf.TokenType.NORMAL] * len(CHARACTERS))
    writer.add_unk_token_id(TOKENS.index(UNKNOWN))
    writer.add_bos_token_id(TOKENS.index(BEGIN))
    writer.add_eos_token_id(TOKENS.index(END))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    for name, tensor in weights(shift).items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the .gguf file to write")
    parser.add_argument("--shift", type=int, default=1, help="how many letters on the model answers (1-25)")
    arguments = parser.parse_args()
    write_alphabet_model(arguments.path, arguments.shift)
    print(arguments.path)


if __name__ == "__main__":
    main()
