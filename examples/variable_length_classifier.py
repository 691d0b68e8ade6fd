"""A sequence classifier over sequences of different lengths, the way PyTorch users write one, with recurrent
dropout from a one-line change: ``nn.LSTM`` becomes ``jenacast.rnn.VariationalLSTM``.

    python examples/variable_length_classifier.py [--torch] [--epochs 4] [--sequences 6000] [--seed 0]

The task, generated here: a sequence of 8 to 80 tokens from a vocabulary of 12; its label says whether token 1
occurs more often than token 2 anywhere in it. The model has to count over the whole sequence, so the
final state matters, and sequences are packed (``pack_padded_sequence``), so that each one's final state is
taken at its own last token. ``--torch`` trains the same model with ``nn.LSTM`` (no recurrent dropout) to compare.
After training, Monte Carlo dropout: ``eval()`` with explicit masks, one forward pass of all samples, gives each
prediction's spread.

Four epochs, about a minute on two CPU cores (the fastest epoch measured took 13 s on two shared cores; the CPU
kernels compile once on first use, about two minutes, and are cached after); the validation accuracy reaches
0.97 with seed 0.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from jenacast.rnn import VariationalLSTM

VOCAB, MIN_LEN, MAX_LEN = 12, 8, 80


def make_data(count: int, generator: torch.Generator):
    """``(tokens [N, MAX_LEN] zero-padded (0 is padding), lengths [N], labels [N])``."""
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (count,), generator=generator)
    tokens = torch.randint(1, VOCAB, (count, MAX_LEN), generator=generator)
    tokens[torch.arange(MAX_LEN).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    labels = ((tokens == 1).sum(1) > (tokens == 2).sum(1)).long()
    return tokens, lengths, labels


class Classifier(nn.Module):
    def __init__(self, use_torch: bool):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32, padding_idx=0)
        if use_torch:
            self.rnn = nn.LSTM(32, 64, num_layers=2, batch_first=True, dropout=0.25)
        else:  # the one-line change: the same arguments, plus recurrent dropout
            self.rnn = VariationalLSTM(32, 64, num_layers=2, batch_first=True, dropout=0.25, recurrent_dropout=0.25)
        self.head = nn.Linear(64, 2)

    def forward(self, tokens, lengths, masks=None):
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        extra = {} if masks is None else {"masks": masks}
        _, (h_n, _) = self.rnn(packed, **extra)
        return self.head(h_n[-1])  # the last layer's state at each sequence's own last token


def accuracy(model, data) -> float:
    tokens, lengths, labels = data
    model.eval()
    with torch.no_grad():
        return (model(tokens, lengths).argmax(1) == labels).float().mean().item()


def monte_carlo(model: Classifier, tokens, lengths, samples: int) -> torch.Tensor:
    """``[samples, N]``: each sample's probability of label 1, all samples in one batch (each its own masks)."""
    n = tokens.shape[0]
    model.eval()
    with torch.no_grad():
        repeated = tokens.repeat(samples, 1), lengths.repeat(samples)
        masks = model.rnn.sample_masks(samples * n)
        return model(*repeated, masks=masks).softmax(1)[:, 1].view(samples, n)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="nn.LSTM instead of VariationalLSTM")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sequences", type=int, default=6000, help="training sequences")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train, val = make_data(args.sequences, generator), make_data(1000, generator)
    model = Classifier(args.torch)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    print(f"{type(model.rnn).__name__}: {sum(p.numel() for p in model.parameters())} parameters")
    for epoch in range(args.epochs):
        start = time.perf_counter()
        model.train()
        for batch in torch.randperm(len(train[0])).split(64):
            tokens, lengths, labels = (t[batch] for t in train)
            loss = nn.functional.cross_entropy(model(tokens, lengths), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        score = accuracy(model, val)
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, validation accuracy {score:.3f} ({seconds:.1f} s)")
    if not args.torch:
        probabilities = monte_carlo(model, val[0][:5], val[1][:5], samples=100)
        for i, (mean, std) in enumerate(zip(probabilities.mean(0), probabilities.std(0))):
            print(f"sequence {i} (length {val[1][i]}, label {val[2][i]}): p(label 1) = {mean:.2f} +- {std:.2f}")


if __name__ == "__main__":
    main()
