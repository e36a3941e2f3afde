"""Reference implementation of engine-sim's output definition (tools/engine-sim/gen.h), written
from the definition rather than the C code, so the wire tests can check the binary byte for byte."""
import math
import struct

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
ASSISTANT = "<|im_start|>assistant\n"
END = "<|im_end|>"
EMBED_SALT = 0x656D6265645F7631

VOCAB = [" " + w for w in (
    "the of and a to in is it that for on with as was at by an be this from or are but not which have one all "
    "were when there can more if out so up said what about into than them only other new some could time these "
    "two may then first any like now my such make over our even most").split()]
assert len(VOCAB) == 64


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return h


class SplitMix:
    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + GOLDEN) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def chatml(messages):
    """messages: [(role, content)] -> canonical text (a trailing assistant message stays open)."""
    out = []
    for i, (role, content) in enumerate(messages):
        out.append(f"<|im_start|>{role}\n{content}")
        if i == len(messages) - 1 and role == "assistant":
            return "".join(out)
        out.append(END + "\n")
    out.append(ASSISTANT)
    return "".join(out)


def full_output(text: str, seed=0, min_tokens=4, max_tokens=64):
    seed = 0 if seed is None or seed < 0 else seed
    rng = SplitMix(fnv1a(text.encode()) ^ ((seed * GOLDEN) & MASK))
    n = min_tokens + rng.next() % (max_tokens - min_tokens + 1)
    return [VOCAB[rng.next() % 64] for _ in range(n)]


def words(text: str) -> int:
    return len(text.split())


def generate(text: str, seed=0, max_tokens=None, min_out=4, max_out=64):
    """Returns (pieces emitted, finish "stop"|"length", prompt_tokens)."""
    prompt_tokens = 1 + len(text.encode().split())
    base, tail = text, ""
    mark = text.rfind(ASSISTANT)
    if mark >= 0:
        b = mark + len(ASSISTANT)
        t = text[b:]
        if t and END not in t and "".join(full_output(text[:b], seed, min_out, max_out)).startswith(t):
            base, tail = text[:b], t
    toks = full_output(base, seed, min_out, max_out)
    # Skip what the tail already holds; a partial token continues with its rest.
    pieces, pos = [], 0
    for tok in toks:
        if pos + len(tok) <= len(tail):
            pos += len(tok)
            continue
        cut = len(tail) - pos if pos < len(tail) else 0
        pieces.append(tok[cut:])
        pos = len(tail)
    finish = "stop"
    if max_tokens is not None and max_tokens >= 0 and len(pieces) > max_tokens:
        pieces, finish = pieces[:max_tokens], "length"
    return pieces, finish, prompt_tokens


def embed(text: str, dim: int):
    rng = SplitMix(fnv1a(text.encode()) ^ EMBED_SALT)
    v = [2.0 * ((rng.next() >> 11) * 2.0 ** -53) - 1.0 for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in v))
    return [struct.unpack("f", struct.pack("f", x / norm))[0] for x in v]


if __name__ == "__main__":
    p, f, n = generate(chatml([("user", "hello there")]))
    print(repr("".join(p)), f, n)
