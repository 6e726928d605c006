"""The pictures `chainrule train` writes: the first training step's backward graph and the learned filters."""
import json

import numpy as np

from nn import cli


def test_the_backward_graph_is_drawn_before_the_first_step_and_changes_nothing(tmp_path, monkeypatch):
    """Finding: the graph was drawn from the trained model, where every gradient is 1e-3 to 1e-4."""
    drawn_at = []
    render = cli._render_first_step

    def spy(run, path):
        drawn_at.append(run.progress.seen)
        render(run, path)

    monkeypatch.setattr(cli, "_render_first_step", spy)
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "with"), "--seed", "2"]) == 0
    assert drawn_at == [0]  # no example seen yet: the initial weights
    svg = (tmp_path / "with" / "backward_graph.svg").read_text()
    assert "conv2d" in svg and "corr(X, ḡ)" in svg and "(p − t)/N" in svg and "RMS of the gradient" in svg
    monkeypatch.setattr(cli, "_render_first_step", lambda run, path: None)
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "without"), "--seed", "2"]) == 0
    losses = [json.loads((tmp_path / run / "metrics.json").read_text())["loss"] for run in ("with", "without")]
    assert losses[0] == losses[1]  # dropout's random draws for the picture are given back


def test_filters_use_a_diverging_scale_centred_on_zero_with_a_colour_bar():
    weight = np.random.default_rng(0).standard_normal((16, 1, 3, 3))
    fig = cli._filters_figure(weight)
    images = [image for ax in fig.axes for image in ax.get_images()]
    assert len(images) == 16
    limit = np.abs(weight).max()
    for image in images:
        assert image.get_cmap().name == "RdBu_r" and image.get_clim() == (-limit, limit)
    assert len(fig.axes) == 2 * 8 + 1  # the tiles and one colour bar
