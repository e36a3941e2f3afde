"""Writes a tiny llama-architecture GGUF model with the `gguf` package: 2 layers, n_embd 64,
4 heads, n_ff 128, F32 weights, and a byte-level SentencePiece-style vocabulary (<unk>, <s>, </s>
and the 256 byte tokens <0x00>..<0xFF>, which llama.cpp's SPM tokenizer uses as byte fallback
for every character).

The weights are small and random (seeded, so the file is the same every time) plus a planted
rule with a wide margin, so greedy (temperature 0) answers are printable and predictable: every
token embedding carries a large constant in dimension 0, which the output matrix turns into a
bonus for the letters a-z only; letter i also carries a large value in dimension 1+i, which the
output matrix turns into a bonus for letter i+1 (z -> a); every other token carries dimension 27,
which favours "a". So after "...fox" the model writes "yzabcdef", after a non-letter "abcdefgh";
it never emits </s>, so a generation with max_tokens N stops for "length" after N tokens. The
margins (about 11 logits) dwarf the random part, so the answer does not depend on how llama.cpp
batches the evaluation.

    python make_model.py OUT.gguf
"""
import sys

import gguf
import numpy as np

N_VOCAB_SPECIAL = 3  # <unk>, <s>, </s>
N_VOCAB = N_VOCAB_SPECIAL + 256
N_EMBD, N_HEAD, N_HEAD_KV, N_FF, N_LAYER, N_CTX = 64, 4, 4, 128, 2, 512
UNK, BOS, EOS = 0, 1, 2
NAME = "eco-tiny-llama"
OTHER_DIM = 27  # the embedding dimension of every non-letter token


def expected(last_char, n):
    """The model's greedy continuation of text ending in last_char."""
    c = ord(last_char) - ord("a") + 1 if "a" <= last_char <= "z" else 0
    return "".join(chr(ord("a") + (c + k) % 26) for k in range(n))


def byte_token(b):
    return N_VOCAB_SPECIAL + b


def write(path, seed=1234):
    rng = np.random.default_rng(seed)

    def rnd(*shape, scale=0.02):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(NAME)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_vocab_size(N_VOCAB)

    tokens = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{b:02X}>".encode() for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * N_VOCAB)
    w.add_token_types(types)
    w.add_unk_token_id(UNK)
    w.add_bos_token_id(BOS)
    w.add_eos_token_id(EOS)
    w.add_add_bos_token(True)

    # numpy shapes are (rows, cols) = ggml's ne reversed: token_embd is ne [n_embd, n_vocab].
    letters = [byte_token(c) for c in range(ord("a"), ord("z") + 1)]
    embd = rnd(N_VOCAB, N_EMBD)
    embd[:, 0] = 4.0
    embd[:, OTHER_DIM] = 4.0
    for i, t in enumerate(letters):
        embd[t, OTHER_DIM] = 0.0
        embd[t, 1 + i] = 4.0
    w.add_tensor("token_embd.weight", embd)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, np.float32))
        w.add_tensor(p + "attn_q.weight", rnd(N_EMBD, N_EMBD))
        w.add_tensor(p + "attn_k.weight", rnd(N_EMBD * N_HEAD_KV // N_HEAD, N_EMBD))
        w.add_tensor(p + "attn_v.weight", rnd(N_EMBD * N_HEAD_KV // N_HEAD, N_EMBD))
        w.add_tensor(p + "attn_output.weight", rnd(N_EMBD, N_EMBD))
        w.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, np.float32))
        w.add_tensor(p + "ffn_gate.weight", rnd(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_up.weight", rnd(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_down.weight", rnd(N_EMBD, N_FF))
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, np.float32))
    out = rnd(N_VOCAB, N_EMBD, scale=0.1)
    out[:, 0] = -1.0
    out[letters, 0] = 1.0
    for i in range(26):
        out[letters[(i + 1) % 26], 1 + i] = 2.0
    out[letters[0], OTHER_DIM] = 2.0
    w.add_tensor("output.weight", out)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_model.py OUT.gguf")
    write(sys.argv[1])
