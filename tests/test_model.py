"""The network's hard rules and its checkpoint format."""

import json

import pytest
import torch

from tabicl.checkpoint import load_checkpoint, save_checkpoint
from tabicl.model import TabularConfig, TabularICL, squared_distances

SMALL = dict(d_cell=8, n_row_layers=1, d_model=16, n_heads=2, n_icl_layers=2, max_features=6)


@pytest.fixture(
    params=[
        ("classification", 5, False),
        ("regression", 16, False),
        ("classification", 5, True),
        ("regression", 16, True),
    ],
    ids=["classes", "bins", "distance-attention", "bins-relevance"],
)
def model(request):
    torch.manual_seed(0)
    task, n_outputs, learned_distances = request.param
    config = TabularConfig(
        task=task,
        n_outputs=n_outputs,
        distance_attention=learned_distances,
        feature_relevance=learned_distances,
        **SMALL,
    )
    model = TabularICL(config).eval()
    if learned_distances:  # a trained network's weights, not the zeros they start from
        torch.nn.init.uniform_(model.icl.distance_scale, 0.0, 1.0)
        torch.nn.init.normal_(model.cells.relevance[-1].weight)
    return model


def inputs(model, n_context=30, n_query=9, n_features=4):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, n_context + n_query, n_features, generator=generator)
    x[0, 3, 1] = float("nan")
    if model.config.task == "classification":
        y = torch.randint(0, model.config.n_outputs, (1, n_context), generator=generator).float()
    else:
        y = torch.rand(1, n_context, generator=generator)
    return x, y


def test_query_rows_are_predicted_independently(model):
    x, y = inputs(model)
    n_context = y.shape[1]
    with torch.no_grad():
        batch = model(x, y)[0]
        one_by_one = torch.cat(
            [
                model(torch.cat([x[:, :n_context], x[:, i : i + 1]], dim=1), y)[0]
                for i in range(n_context, x.shape[1])
            ]
        )
    torch.testing.assert_close(batch, one_by_one, atol=1e-5, rtol=0)


def test_context_rows_never_see_query_rows(model):
    x, y = inputs(model)
    n_context = y.shape[1]
    changed = x.clone()
    changed[:, n_context + 1 :] = 100.0  # every query but the first
    with torch.no_grad():
        torch.testing.assert_close(model(x, y)[0, 0], model(changed, y)[0, 0], atol=1e-5, rtol=0)


def test_distances_skip_missing_features():
    x = torch.tensor([[[0.0, 1.0, float("nan")], [2.0, float("nan"), float("nan")]]])
    points = torch.tensor([[[1.0, 3.0, 5.0], [float("nan"), float("nan"), 1.0]]])
    expected = torch.tensor([[[(1 + 4) / 2, 0.0], [1.0, 0.0]]])
    torch.testing.assert_close(squared_distances(x, points), expected)


def test_weighted_distances_are_weighted_means_over_shared_features():
    x = torch.tensor([[[0.0, 1.0, float("nan")]]])
    points = torch.tensor([[[1.0, 3.0, 5.0]]])
    weights = torch.tensor([[3.0, 1.0, 7.0]])
    expected = torch.tensor([[[(3 * 1 + 1 * 4) / (3 + 1)]]])
    torch.testing.assert_close(squared_distances(x, points, weights), expected)


def test_relevance_weights_features_by_how_the_labels_depend_on_them(model):
    if model.cells.relevance is None:
        pytest.skip("this network weighs every feature 1")
    x, y = inputs(model)
    with torch.no_grad():
        relevance = model.encode_context(x[:, : y.shape[1]], y).columns.relevance
        shuffled = model.encode_context(x[:, : y.shape[1]], y.flip(1)).columns.relevance
    assert relevance.shape == (1, x.shape[-1])
    torch.testing.assert_close(relevance.mean(), torch.tensor(1.0))
    assert not torch.allclose(relevance, shuffled)  # it reads the labels


def test_relevance_stays_finite_where_every_weight_underflows():
    config = TabularConfig(task="regression", n_outputs=16, feature_relevance=True, **SMALL)
    model = TabularICL(config).eval()
    torch.nn.init.constant_(model.cells.relevance[-1].bias, -200.0)  # sigmoid(-200) == 0.0
    x, y = torch.randn(1, 20, 1), torch.rand(1, 15)
    with torch.no_grad():
        relevance = model.encode_context(x[:, :15], y).columns.relevance
        assert torch.isfinite(model(x, y)).all()
    torch.testing.assert_close(relevance, torch.ones(1, 1))


def test_output_shape_and_too_many_features(model):
    x, y = inputs(model)
    assert model(x, y).shape == (1, 9, model.config.n_outputs)
    with pytest.raises(ValueError, match="at most 6"):
        model(torch.randn(1, 39, 7), y)


def test_checkpoint_round_trip_without_pickle(model, tmp_path):
    save_checkpoint(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["task"] == model.config.task
    x, y = inputs(model)
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(tmp_path)(x, y), model(x, y))


def test_checkpoint_errors_name_the_problem(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_checkpoint(tmp_path)
    save_checkpoint(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_icl_layers": 3}))
    with pytest.raises(ValueError, match="does not match its config"):
        load_checkpoint(tmp_path)
