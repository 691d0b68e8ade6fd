import numpy as np
import pytest
import torch

from jenacast.data import WindowSpec, make_splits
from jenacast.evaluate import baseline_mae


def book_windows(raw, spec, fractions=(0.5, 0.25), target_column=1):
    """A direct transcription of the book's code with Keras 3's timeseries_dataset_from_array semantics."""
    n = len(raw)
    num_train, num_val = int(fractions[0] * n), int(fractions[1] * n)
    mean = raw[:num_train].mean(axis=0)
    std = raw[:num_train].std(axis=0)
    normed = (raw - mean) / std
    temperature = raw[:, target_column]
    delay = spec.sampling_rate * (spec.sequence_length - 1) + spec.horizon  # the book: 6 * (120 + 24 - 1)
    data, targets = normed[:-delay], temperature[delay:]
    out = {}
    for name, start, end in (
        ("train", 0, num_train),
        ("val", num_train, num_train + num_val),
        ("test", num_train + num_val, None),
    ):
        end = len(data) if end is None else end
        num_seqs = min(end - start - (spec.sequence_length - 1) * spec.sampling_rate, len(targets))
        xs, ys = [], []
        for p in range(num_seqs):
            xs.append([data[start + p + k * spec.sampling_rate] for k in range(spec.sequence_length)])
            ys.append(targets[start + p])
        out[name] = (np.array(xs, dtype=np.float32), np.array(ys, dtype=np.float32))
    return out


def test_book_delay_and_counts_for_the_real_length():
    spec = WindowSpec()
    assert spec.delay == 6 * (120 + 24 - 1) == 858
    splits = make_splits(np.zeros((420_451, 2), dtype=np.float32) + np.arange(2), target_column=1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (209_511, 104_398, 103_542)
    assert [s.num_batches(256) for s in (splits.train, splits.val, splits.test)] == [819, 408, 405]


@pytest.mark.parametrize("spec", [WindowSpec(6, 12, 18), WindowSpec(1, 1, 1), WindowSpec(3, 5, 7), WindowSpec(2, 4, 1)])
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_batches_equal_the_books_loop(spec, batch_size):
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(601, 4)) * [1, 5, 10, 0.1] + [0, 10, -3, 2]
    expected = book_windows(raw, spec)
    splits = make_splits(raw, spec=spec)
    for name in ("train", "val", "test"):
        split = getattr(splits, name)
        x_ref, y_ref = expected[name]
        batches = list(split.batches(batch_size))
        assert len(split) == len(x_ref)
        assert len(batches) == -(-len(x_ref) // batch_size)
        assert len(batches[-1][1]) == len(x_ref) - (len(batches) - 1) * batch_size  # last partial batch kept
        x = torch.cat([b[0] for b in batches]).numpy()
        y = torch.cat([b[1] for b in batches]).numpy()
        assert x.shape == (len(x_ref), spec.sequence_length, 4) and x.dtype == np.float32
        np.testing.assert_allclose(x, x_ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(y, y_ref)


def test_target_is_horizon_rows_after_last_input_row():
    raw = np.stack([np.zeros(200), np.arange(200.0)], axis=1)  # temperature column = row index
    splits = make_splits(raw, spec=WindowSpec(sampling_rate=2, sequence_length=3, horizon=5))
    x, y = next(splits.val.batches(1000))
    last_row = x[:, -1, 1] * float(splits.std[1]) + float(splits.mean[1])
    np.testing.assert_allclose(y.numpy() - last_row.numpy(), 5, atol=1e-4)


def test_normalisation_uses_training_rows_only_with_ddof_0():
    raw = np.random.default_rng(1).normal(size=(400, 3)) * 4 + 7
    splits = make_splits(raw, spec=WindowSpec(1, 2, 1))
    np.testing.assert_allclose(splits.mean, raw[:200].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(splits.std, raw[:200].std(axis=0, ddof=0), rtol=1e-6)


def test_shuffle_is_a_seeded_permutation_of_the_same_windows():
    raw = np.random.default_rng(2).normal(size=(500, 3))
    split = make_splits(raw, spec=WindowSpec(2, 5, 3)).train
    a = torch.cat([y for _, y in split.batches(16, shuffle=True, seed=5)])
    b = torch.cat([y for _, y in split.batches(16, shuffle=True, seed=5)])
    c = torch.cat([y for _, y in split.batches(16, shuffle=True, seed=6)])
    plain = torch.cat([y for _, y in split.batches(16)])
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, plain)
    assert torch.equal(a.sort().values, plain.sort().values)


def test_windows_share_one_array_and_move_to_the_requested_device():
    raw = np.random.default_rng(3).normal(size=(300, 3))
    splits = make_splits(raw, spec=WindowSpec(2, 5, 3))
    assert splits.train.data.data_ptr() == splits.val.data.data_ptr() == splits.test.data.data_ptr()
    x, y = next(splits.test.batches(8, device="cpu"))
    assert x.device.type == "cpu" and x.shape == (8, 5, 3) and y.shape == (8,)


def test_baseline_equals_last_temperature_persistence():
    raw = np.random.default_rng(4).normal(size=(600, 3)) + 20
    spec = WindowSpec(3, 4, 5)
    splits = make_splits(raw, spec=spec)
    split = splits.test
    last = np.array([raw[split.start + p + spec.span, 1] for p in range(len(split))])
    target = np.array([raw[split.start + p + spec.delay, 1] for p in range(len(split))])
    assert baseline_mae(split) == pytest.approx(np.abs(last - target).mean(), rel=1e-5)


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="no complete window"):
        make_splits(np.zeros((100, 2)))
    with pytest.raises(ValueError, match="sampling_rate must be a positive integer"):
        WindowSpec(sampling_rate=0)
    with pytest.raises(ValueError, match="2-D"):
        make_splits(np.zeros(100))
    with pytest.raises(ValueError, match="target_column 5 is out of range"):
        make_splits(np.zeros((1000, 2)), target_column=5)
    with pytest.raises(ValueError, match="fractions"):
        make_splits(np.zeros((1000, 2)), fractions=(0.8, 0.3))
