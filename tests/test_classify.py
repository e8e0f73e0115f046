"""mxsoftmax.classify against numpy: the answer dict, the evidence maps, and loading a run."""
import json
import shutil

import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from mxsoftmax import runs
from mxsoftmax.catalog import class_names
from mxsoftmax.classify import classify, evidence, predict_proba
from mxsoftmax.runs import load_run
from mxsoftmax.errors import InvalidInput, InvalidValue

NAMES = class_names("fashion-mnist")


@pytest.fixture
def model():
    rng = np.random.RandomState(0)
    W, b = rng.normal(0, .1, (784, 10)).astype(np.float32), rng.normal(0, 1, 10).astype(np.float32)
    image = rng.randint(0, 256, (28, 28)).astype(np.uint8)
    return W, b, image, [nd.array(W), nd.array(b)]


def numpy_logits(W, b, image):
    return (image.reshape(-1).astype(np.float32) / 255) @ W + b


def test_answer_matches_numpy_softmax_with_top3_in_order(model):
    W, b, image, params = model
    logits = numpy_logits(W, b, image).astype(np.float64)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    result = classify(image, params, NAMES, mx.cpu())
    np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5, atol=1e-7)
    order = np.argsort(-expected)
    assert [t["label"] for t in result["top3"]] == list(order[:3])
    assert [t["name"] for t in result["top3"]] == [NAMES[k] for k in order[:3]]
    probs = [t["probability"] for t in result["top3"]]
    assert probs == sorted(probs, reverse=True) and probs[0] == max(result["probabilities"])
    assert (result["label"], result["name"], result["probability"]) == (
        order[0], NAMES[order[0]], probs[0])
    assert isinstance(result["label"], int) and len(result["probabilities"]) == 10
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_evidence_maps_sum_to_the_logits_minus_the_bias(model):
    W, b, image, params = model
    classes = [7, 2, 9]
    maps = evidence(image, params[0], classes)
    assert maps.shape == (3, 28, 28)
    np.testing.assert_allclose(maps.sum(axis=(1, 2)) + b[classes], numpy_logits(W, b, image)[classes],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps[1], (image / 255 * W[:, 2].reshape(28, 28)), rtol=1e-6)
    assert not maps[:, image == 0].any()  # pixels without ink cast no vote
    np.testing.assert_array_equal(evidence(image, W, classes), maps)


def test_bad_images_and_non_finite_answers_are_refused(model):
    """The entry points check once (the constraint table, tests/test_validation.py); a model whose
    scores overflow is refused by its answer."""
    W, b, image, params = model
    with pytest.raises(InvalidValue, match="^image28 must be one uint8 image"):
        classify(image / 255, params, NAMES, mx.cpu())
    huge = [nd.array(np.full((784, 10), 3e38, np.float32) * np.sign(W)), params[1]]
    with pytest.raises(InvalidInput, match="not finite"):
        classify(image, huge, NAMES, mx.cpu())
    with pytest.raises(InvalidValue, match="^class_names must be a list of 10 class names"):
        classify(image, params, "0123456789", mx.cpu())
    with pytest.raises(InvalidValue, match="^images must be uint8 images"):
        predict_proba(np.zeros((1, 27, 28), np.uint8), params, mx.cpu())
    with pytest.raises(InvalidValue, match="^ctx must be an mx.Context"):
        predict_proba(np.zeros((1, 28, 28), np.uint8), params, "cpu")


def test_load_run_takes_names_and_dataset_from_the_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    params = [nd.zeros((784, 10)), nd.zeros(10)]
    flags = dict(dataset="fashion-mnist", batch_size=64, lr=.001, seed=0, stable=False, epochs=1)
    folder = runs.RunFolder(run)
    folder.open_new()
    folder.save_epoch(params, dict(epoch=0, moving_loss=1., flags=flags, class_names=NAMES), [])
    folder.close()
    for path in (run, run / "epoch-0.npz"):
        loaded = load_run(str(path), mx.cpu())
        assert (loaded.dataset, loaded.class_names, loaded.path) == ("fashion-mnist", NAMES, str(path))
        assert loaded.params[0].shape == (784, 10)
    alone = tmp_path / "alone.npz"
    shutil.copy(run / "epoch-0.npz", alone)
    loaded = load_run(str(alone), mx.cpu())
    assert (loaded.dataset, loaded.class_names) == ("mnist", class_names("mnist"))
    with pytest.raises(runs.InvalidInput, match="does not exist"):
        load_run(str(tmp_path / "nope"), mx.cpu())
