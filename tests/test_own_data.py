"""``optprior compare``: the methods side by side on a user's own .npz file."""

import json

import numpy as np
import pytest

from optprior.cli import main
from optprior.data.user import own_data_setting, sha256

TINY = """
seeds = 1
[model]
latent_dim = 3
hidden_sizes = [16]
discriminator_hidden_sizes = [16]
[training]
epochs = 2
batch_size = 50
warmup_epochs = 1
[evaluation]
n_samples = 5
probe_points = 20
figures = false
"""


@pytest.fixture
def own_file(tmp_path, two_tasks):
    """An .npz of 240 binary 3 x 4 images in two tasks, labelled by their first pixel."""
    x, s = two_tasks
    path = tmp_path / "mine.npz"
    np.savez(path, X=x.reshape(len(x), 3, 4), s=s, y=(x[:, 0] > 0.5).astype(np.int64))
    return path


def test_splits_share_the_test_set_and_draw_validation_by_seed(own_file):
    first = own_data_setting("mine", 0, file=str(own_file), test_fraction=0.25)
    second = own_data_setting("mine", 1, file=str(own_file), test_fraction=0.25)
    np.testing.assert_array_equal(first.test.index, second.test.index)
    assert not np.array_equal(first.val.index, second.val.index)
    for data in (first, second):
        every = np.concatenate([data.train.index, data.val.index, data.test.index])
        assert sorted(every) == list(range(240))  # disjoint and complete
        assert (data.test.s == 0).sum() == (data.test.s == 1).sum() == 30
        assert (data.val.s == 0).sum() == 9  # 0.1 of the 90 points left in task 0
    assert first.image_shape == (3, 4) and first.train.X.shape[1] == 12
    np.testing.assert_array_equal(first.test.y, (first.test.X[:, 0] > 0.5).astype(int))


def test_bad_own_data_is_named(own_file, tmp_path):
    with pytest.raises(ValueError, match="has changed since these runs were planned"):
        own_data_setting("mine", 0, file=str(own_file), sha256_digest="0" * 64)
    assert own_data_setting("mine", 0, file=str(own_file), sha256_digest=sha256(own_file))
    with pytest.raises(ValueError, match="not a task of"):
        own_data_setting("mine", 0, file=str(own_file), target_task=2)
    few = tmp_path / "few.npz"
    np.savez(few, X=np.full((5, 2), 0.5), s=[0, 0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"task\(s\) \[1\] .* get no test point"):
        own_data_setting("few", 0, file=str(few))
    labels = tmp_path / "labels.npz"
    np.savez(labels, X=np.full((5, 2), 0.5), y=[0, 1, -2, 0, 1])
    with pytest.raises(ValueError, match="-1 where a point has none"):
        own_data_setting("labels", 0, file=str(labels))
    counts = tmp_path / "counts.npz"
    np.savez(counts, X=np.full((5, 2), 2.0))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] for the Bernoulli"):
        own_data_setting("counts", 0, file=str(counts))
    assert own_data_setting("counts", 0, file=str(counts), likelihood="gaussian")


def test_compare_trains_scores_tabulates_and_skips_finished_runs(own_file, tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "runs"
    argv = ["compare", "--data", str(own_file), "--config", str(config), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "### mine" in printed and "3 runs ok, 0 failed" in printed
    for method in ("vae", "cvae", "optimal"):
        assert f"| {method} | 1/0 |" in printed
    result = json.loads((out / "mine/optimal/seed-0/result.json").read_text())
    assert result["config"]["data"]["sha256_digest"] == sha256(own_file)
    assert result["metrics"]["accuracy_logistic"] is not None  # y was read
    assert (out / "results.png").is_file()
    written = (out / "mine/vae/seed-0/result.json").stat().st_mtime_ns

    assert main([*argv, "--quiet"]) == 0  # finished runs are skipped
    assert (out / "mine/vae/seed-0/result.json").stat().st_mtime_ns == written

    np.savez(own_file, X=np.full((10, 12), 0.5), s=np.repeat([0, 1], 5))
    assert main([*argv, "--quiet"]) == 2
    assert "data.sha256_digest" in capsys.readouterr().err  # the file changed under its runs


def test_compare_refuses_paper_names_and_unknown_keys(own_file, tmp_path, capsys):
    argv = ["compare", "--data", str(own_file), "--out", str(tmp_path / "runs")]
    assert main([*argv, "--name", "usps-mnist"]) == 2
    assert "names a setting of the paper" in capsys.readouterr().err
    config = tmp_path / "bad.toml"
    config.write_text("[data]\nimage_size = [8, 8]\n")
    assert main([*argv, "--config", str(config)]) == 2
    assert "unknown key(s) ['image_size'] in [data]" in capsys.readouterr().err


def test_vectors_get_no_image_figures(tmp_path, two_tasks, capsys):
    x, s = two_tasks
    path = tmp_path / "vectors.npz"
    np.savez(path, X=x, s=s)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.replace("figures = false", "figures = true"))
    out = tmp_path / "runs"
    argv = ["compare", "--data", str(path), "--config", str(config), "--out", str(out)]
    assert main([*argv, "--methods", "cvae", "--quiet"]) == 0
    figures = json.loads((out / "vectors/cvae/seed-0/result.json").read_text())["figures"]
    assert figures == ["curves.png", "embedding.png"]
