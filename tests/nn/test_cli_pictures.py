"""The pictures `chainrule train` writes: the first training step's backward graph and the learned filters."""
import numpy as np
import pytest

import autograd as ag
from nn import cli


class Drawn(Exception):
    """Stops the run once the picture is drawn: the rest of training is not under test here."""


def test_the_backward_graph_is_drawn_before_the_first_step_and_gives_dropouts_draws_back(tmp_path, monkeypatch):
    """Finding: the graph was drawn from the trained model, where every gradient is 1e-3 to 1e-4."""
    render = cli._render_first_step

    def spy(run, path):
        assert run.progress.seen == 0  # no example seen yet: the initial weights
        state = ag.generator().bit_generator.state
        render(run, path)
        assert ag.generator().bit_generator.state == state  # training draws the same dropout masks
        raise Drawn

    monkeypatch.setattr(cli, "_render_first_step", spy)
    with pytest.raises(Drawn):
        cli.main(["train", "--epochs", "1", "--out", str(tmp_path), "--seed", "2"])
    svg = (tmp_path / "backward_graph.svg").read_text()
    assert "conv2d" in svg and "corr(X, ḡ)" in svg and "(p − t)/N" in svg and "RMS of the gradient" in svg


def test_filters_use_a_diverging_scale_centred_on_zero_with_a_colour_bar():
    weight = np.random.default_rng(0).standard_normal((16, 1, 3, 3))
    fig = cli._filters_figure(weight)
    images = [image for ax in fig.axes for image in ax.get_images()]
    assert len(images) == 16
    limit = np.abs(weight).max()
    for image in images:
        assert image.get_cmap().name == "RdBu_r" and image.get_clim() == (-limit, limit)
    assert len(fig.axes) == 2 * 8 + 1  # the tiles and one colour bar
