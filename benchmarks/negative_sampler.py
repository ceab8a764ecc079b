"""Negative sampler: minigrad's vectorised UnigramSampler against the book's per-row loop.

    python benchmarks/negative_sampler.py [--quick] [--threads N]

Workload (shared/REFERENCE.md): 100 targets x 5 negatives over a 10,000-word
vocabulary with Zipf-like counts (count ~ 1 / rank, as word frequencies go),
p(w) ~ count ** 0.75, the target excluded. The book's sampler loops over the
rows: copy p, zero the target, renormalise, ``np.random.choice(V, 5,
replace=False, p=p)``; it is written out below. Reference: 8.1 ms for the book's
loop, about 0.1 ms for a vectorised sampler.

Both draw from the same distribution (successive sampling without replacement,
target excluded), not the same numbers. Before timing, both are checked: no
row holds its target or a repeated word, and the first negatives of many rows
have the same distribution for the two samplers.

Timed round-robin (see _harness.py); minigrad's call is short, so each of its
samples is the mean of a block of calls. Results go to
benchmarks/results/negative_sampler.{json,md}.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import pin_threads  # noqa: E402

THREADS = pin_threads()  # before numpy: BLAS sizes its thread pool at load time

import argparse  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402

import _harness as H  # noqa: E402
from minigrad.layers import UnigramSampler  # noqa: E402

VOCAB, BATCH, SAMPLE = 10_000, 100, 5
REFERENCE_MS = {"book per-row loop": 8.1, "vectorised target": 0.1}


class BookSampler:
    """The book's UnigramSampler.get_negative_sample (CPU branch), as written there."""

    def __init__(self, counts, power, sample_size, seed):
        self.vocab_size = len(counts)
        self.sample_size = sample_size
        self.word_p = np.power(counts.astype(np.float64), power)
        self.word_p /= np.sum(self.word_p)
        self.random = np.random.RandomState(seed)

    def get_negative_sample(self, target):
        batch_size = target.shape[0]
        negative_sample = np.zeros((batch_size, self.sample_size), dtype=np.int32)
        for i in range(batch_size):
            p = self.word_p.copy()
            p[target[i]] = 0
            p /= p.sum()
            negative_sample[i, :] = self.random.choice(self.vocab_size, size=self.sample_size,
                                                       replace=False, p=p)
        return negative_sample


def zipf_counts(vocab):
    """Counts ~ 1 / rank over a PTB-sized corpus (about 10**6 tokens)."""
    return np.maximum(1, (1e6 / np.log(vocab) / np.arange(1, vocab + 1)).astype(np.int64))


def check(book, ours, targets_of, rows_book=3000, rows_ours=30000):
    """Both samplers valid, and the same first-slot distribution over the top words."""
    for name, draw, rows in (("book", book.get_negative_sample, rows_book),
                             ("minigrad", ours.sample, rows_ours)):
        t = targets_of(rows)
        neg = draw(t)
        assert neg.shape == (rows, SAMPLE), name
        assert not (neg == t[:, None]).any(), f"{name} returned a target"
        s = np.sort(neg, axis=1)
        assert not (s[:, 1:] == s[:, :-1]).any(), f"{name} repeated a word in a row"
        if name == "book":
            f_book = np.bincount(neg[:, 0], minlength=VOCAB)[:20] / rows
        else:
            f_ours = np.bincount(neg[:, 0], minlength=VOCAB)[:20] / rows
    # Binomial standard error of the book's frequencies dominates (fewer rows).
    se = np.sqrt(f_book * (1 - f_book) / rows_book + f_ours * (1 - f_ours) / rows_ours)
    worst = float(np.max(np.abs(f_book - f_ours) / np.maximum(se, 1e-12)))
    assert worst < 5.0, f"first-slot frequencies differ by {worst:.1f} standard errors"
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (under ~10 s)")
    args = parser.parse_args()
    H.limit_loaded_pools()
    rounds, block = (15, 50) if args.quick else (60, 200)

    counts = zipf_counts(VOCAB)
    book = BookSampler(counts, 0.75, SAMPLE, seed=0)
    ours = UnigramSampler(counts=counts, power=0.75, sample_size=SAMPLE, rng=0)
    np.testing.assert_allclose(ours.word_p, book.word_p, rtol=1e-12)
    data = np.random.default_rng(1)
    # Targets drawn like corpus words: the frequent words (most likely to be
    # drawn as their own negative) come up as targets often.
    targets_of = lambda n: data.choice(VOCAB, n, p=book.word_p)  # noqa: E731
    worst = check(book, ours, targets_of)

    target = targets_of(BATCH)

    def ours_block():
        for _ in range(block):
            ours.sample(target)

    t = H.round_robin({"book per-row loop": lambda: book.get_negative_sample(target),
                       "minigrad UnigramSampler": ours_block}, rounds=rounds, warmup=2)
    per_call = {"book per-row loop": t.wall["book per-row loop"],
                "minigrad UnigramSampler": [x / block for x in t.wall["minigrad UnigramSampler"]]}
    cpu = {"book per-row loop": t.cpu["book per-row loop"],
           "minigrad UnigramSampler": [x / block for x in t.cpu["minigrad UnigramSampler"]]}
    ratio = H.paired_ratio(per_call, "book per-row loop", "minigrad UnigramSampler")

    env = H.environment()
    rows = []
    for name, xs in per_call.items():
        s = H.summarize(xs)
        rows.append([name, f"{s['median'] * 1e3:.4f}", f"{s['p25'] * 1e3:.4f}-{s['p75'] * 1e3:.4f}",
                     f"{statistics.median(cpu[name]) * 1e3:.4f}",
                     f"{REFERENCE_MS['book per-row loop' if 'book' in name else 'vectorised target']}"])
    md = "\n".join([
        f"# Negative sampler: {BATCH} x {SAMPLE} over {VOCAB:,} words",
        "",
        *H.environment_lines(env),
        f"- {rounds} rounds, round-robin; minigrad timed in blocks of {block} calls",
        f"- checked first: no target, no repeat in a row; first-slot frequencies of the top "
        f"20 words agree within {worst:.1f} standard errors",
        "",
        H.md_table(["sampler", "median ms/call", "p25-p75 ms", "CPU median ms", "reference ms"],
                   rows),
        "",
        f"Paired ratio (book / minigrad, median over rounds): **{ratio:.0f}x**",
    ])
    print(md)
    H.write_results("negative_sampler", {
        "environment": env, "workload": {"vocab": VOCAB, "batch": BATCH, "sample_size": SAMPLE,
                                         "power": 0.75, "rounds": rounds, "block": block},
        "seconds_per_call": per_call, "cpu_seconds_per_call": cpu, "paired_ratio": ratio,
        "first_slot_max_z": worst, "reference_ms": REFERENCE_MS}, md)


if __name__ == "__main__":
    main()
