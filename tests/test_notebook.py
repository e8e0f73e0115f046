"""mxsoftmax.notebook: train with a learner's tutorial-style functions (the same lines as the
compiled path, bit for bit), the checks before training and the sentence when training breaks,
fit's callback, and LiveCurve inside and outside a kernel."""
import sys
import types

import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from mxsoftmax import errors, feedback, loop, model, notebook
from mxsoftmax.batches import SplitArrays
from mxsoftmax.errors import InvalidInput

from mistakes import net_zeroing_W, softmax_batch_axis, softmax_F_required, softmax_in_place
from tutorial_cells import SGD, cross_entropy, net, softmax  # the tutorial's, as printed


def epoch_lines(text):
    return [line for line in text.splitlines() if line.startswith("Epoch ")]


@pytest.fixture(scope="module")
def small(fashion_subset):
    """2,000 training and 1,000 test images of Fashion-MNIST."""
    return fashion_subset._replace(train=tuple(a[:2000] for a in fashion_subset.train))


@pytest.fixture(scope="module")
def default_run(small):
    """The compiled path's run and the lines it printed."""
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run = notebook.train(small, mx.cpu(), 2)
    return run, epoch_lines(out.getvalue())


@pytest.mark.parametrize("mine", [
    dict(softmax=softmax),
    dict(softmax=softmax, net=net, cross_entropy=cross_entropy, SGD=SGD),
], ids=["softmax", "all four"])
def test_the_tutorials_functions_print_the_compiled_paths_lines_bit_for_bit(small, default_run,
                                                                            mine, capsys):
    run, lines = default_run
    mine_run = notebook.train(small, mx.cpu(), 2, **mine)
    printed = capsys.readouterr().out
    assert epoch_lines(printed) == lines and len(lines) == 2
    assert printed.count("correct.") == len(mine)  # each check said what it found
    for got, expected in zip(mine_run.params + mine_run.init, run.params + run.init):
        assert np.array_equal(got.asnumpy(), expected.asnumpy())
    for row, mine_row in zip(run.history, mine_run.history):
        assert dict(row, seconds=None) == dict(mine_row, seconds=None)


def test_argmax_of_the_tutorials_softmax_is_argmax_of_the_logits_on_the_test_data(small,
                                                                                  default_run):
    """Why the learner path's accuracy equals the compiled path's: on every evaluation slice."""
    params = default_run[0].params
    arrays = SplitArrays(small, mx.cpu(), 64, 0)
    for data, _ in list(arrays.test()) + list(arrays.train_eval()):
        logits = nd.dot(data, params[0]) + params[1]
        probabilities = softmax(logits).asnumpy()
        assert np.isfinite(probabilities).all()
        assert (probabilities.argmax(axis=1) == logits.asnumpy().argmax(axis=1)).all()


def test_the_learners_path_batches_in_the_compiled_paths_order(small):
    seen = []

    def recording(params, lr):
        seen.append(params[0].grad.copy())
        SGD(params, lr)
    params = model.init_params(mx.cpu())
    training = notebook.learner(small, mx.cpu(), notebook.LearnerMath(), recording)
    list(loop.fit(params, training, 1, 0.001))
    arrays = SplitArrays(small, mx.cpu(), 64, 0)
    assert len(seen) == arrays.num_batches() == training.data.num_batches()
    first = next(iter(arrays.train(0)))[0]  # the first batch's gradient: W starts at init
    assert seen[0].shape == (784, 10) and first.shape == (64, 784)


def test_a_failed_check_stops_before_training_unless_asked(small, capsys):
    with pytest.raises(errors.CheckFailed) as caught:
        notebook.train(small, mx.cpu(), 1, softmax=softmax_batch_axis)
    assert caught.value.verdict.failed == "rows" and "check=False" in str(caught.value)
    assert epoch_lines(capsys.readouterr().out) == []
    run = notebook.train(small, mx.cpu(), 1, softmax=softmax_batch_axis, check=False)
    printed = capsys.readouterr().out
    assert printed.startswith("\u2718 ") and len(epoch_lines(printed)) == 1 and run.history


def test_a_loss_that_is_not_finite_says_which_batch_and_what_softmax_returned(fashion_subset):
    small = fashion_subset
    with pytest.raises(errors.Diverged) as caught:  # forgets to normalise: exp overflows
        notebook.train(small, mx.cpu(), 1, softmax=nd.exp, check=False)
    err = caught.value
    assert err.epoch == 0 and not np.isfinite(err.value)
    assert "softmax returned inf for row" in err.finding and "overflows float32" in err.finding
    # the batch named is the first whose loss is not finite, found again by training to it
    mx.random.seed(0)
    params = model.init_params(mx.cpu())
    arrays = SplitArrays(small, mx.cpu(), 64, 0)
    math = notebook.LearnerMath(softmax=nd.exp)
    for i, (data, label) in enumerate(arrays.train(0)):
        loss = loop.train_step(params, (data, label), 0.001, math, SGD)
        if not np.isfinite(loss.asnumpy()).all():
            break
    assert err.batch == i and str(err).startswith("the loss became %s in epoch 0 at batch %d: "
                                                  % (err.value, i))


def test_a_net_taking_only_X_or_reading_globals_is_named(small):
    def one_argument_net(X):
        return softmax(X)
    with pytest.raises(errors.CheckFailed) as caught:
        notebook.train(small, mx.cpu(), 1, net=one_argument_net)
    assert caught.value.verdict.failed == "arity"
    assert "cannot be called as net(X, params)" in str(caught.value)
    W, b = model.init_params(mx.cpu())

    def global_net(X, params):
        return softmax(nd.dot(X, W) + b)
    assert feedback.check_net(global_net).failed == "params"
    assert feedback.check_net(net).ok


def test_train_refuses_what_is_not_a_function(small):
    with pytest.raises(errors.InvalidValue, match="^softmax must be a function"):
        notebook.train(small, mx.cpu(), 1, softmax="softmax")


def test_fit_calls_back_after_every_epoch_and_every_n_batches(small):
    rows = []
    mx.random.seed(0)
    params = model.init_params(mx.cpu())
    path = notebook.learner(small, mx.cpu(), notebook.LearnerMath(softmax), SGD)
    yielded = list(loop.fit(params, path, 2, 0.001, callback=rows.append, every=10))
    epochs = [row for row in rows if "batch" not in row]
    assert epochs == yielded and epochs is not yielded
    batches = [row for row in rows if "batch" in row]
    per_epoch = path.data.num_batches() // 10
    assert [(r["epoch"], r["batch"]) for r in batches] == [
        (e, 10 * k + 9) for e in range(2) for k in range(per_epoch)]
    assert all(r["batches"] == path.data.num_batches() and np.isfinite(r["loss"]) for r in batches)
    # the first partial row's loss is the mean loss of batches 9: the mean of the epoch's 10th
    mx.random.seed(0)
    again = model.init_params(mx.cpu())
    arrays = SplitArrays(small, mx.cpu(), 64, 0)
    for i, (data, label) in enumerate(arrays.train(0)):
        loss = loop.train_step(again, (data, label), 0.001, notebook.LearnerMath(softmax), SGD)
        if i == 9:
            break
    assert batches[0]["loss"] == float(nd.mean(loss).asscalar())
    with pytest.raises(InvalidInput):
        list(loop.fit(params, path, 1, 0.001, every=10))  # every without a callback
    with pytest.raises(InvalidInput):
        list(loop.fit(params, path, 1, 0.001, callback=rows.append, every=-1))
    rows.clear()
    list(loop.fit(params, path, 1, 0.001, callback=rows.append, every=0))
    assert [sorted(row) for row in rows] == [sorted(yielded[0])]


def test_live_curve_outside_a_kernel_draws_and_prints_nothing(capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    curve = notebook.LiveCurve()
    curve(dict(epoch=0, loss=1., train_acc=.5, test_acc=.5))
    assert curve.handle is None and capsys.readouterr() == ("", "")
    assert "IPython" not in sys.modules


class FakeHandle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, obj):
        self.shown.append(("update", obj))


def test_live_curve_in_a_kernel_shows_one_figure_and_replaces_it(monkeypatch):
    """With a kernel, one display with a display_id, then one update per row, each a PNG."""
    pytest.importorskip("IPython")
    import IPython
    import IPython.display
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))

    def display(obj, display_id=False):
        assert display_id is True
        shown.append(("display", obj))
        return FakeHandle(shown)
    monkeypatch.setattr(IPython.display, "display", display)
    curve = notebook.LiveCurve([dict(epoch=0, loss=1.5, train_acc=.6, test_acc=.6)])
    curve(dict(epoch=1, batch=9, batches=20, loss=1.2))
    curve(dict(epoch=1, loss=1.1, train_acc=.7, test_acc=.7, seconds=1., line="Epoch 1."))
    assert [kind for kind, _ in shown] == ["display", "update", "update"]
    assert all(obj.data.startswith(b"\x89PNG") for _, obj in shown)
    figure = curve.figure()
    loss_axes = figure.axes[0]
    assert [list(line.get_xdata()) for line in loss_axes.lines][:2] == [[0, 1], [0.5]]


# The six rows of issue 20's table, each with its own sentence.

def softmax_with_nd(y_linear):
    exp = nd.exp(nd.broadcast_sub(y_linear, nd.max(y_linear)))
    return nd.broadcast_div(exp, nd.sum(exp, axis=1, keepdims=True))


def test_1_and_2_a_correct_softmax_with_operators_or_nd_trains_with_the_default_lines(
        small, default_run, capsys):
    for mine in (softmax, softmax_with_nd):
        notebook.train(small, mx.cpu(), 2, softmax=mine)
        verdict, *lines = capsys.readouterr().out.splitlines()
        assert verdict.startswith("\u2714 softmax: correct.") and lines == default_run[1]


def test_3_the_F_argument_is_not_needed_and_a_required_one_is_named(small):
    with pytest.raises(errors.CheckFailed) as caught:
        notebook.train(small, mx.cpu(), 1, softmax=softmax_F_required)
    assert str(caught.value).startswith("softmax(y_linear, F) cannot be called as "
                                        "softmax(y_linear): it must take exactly 1 argument")


def test_4_summing_over_the_batch_axis_is_named(small):
    with pytest.raises(errors.CheckFailed, match=r"you normalised over the batch axis \(axis 0\)"):
        notebook.train(small, mx.cpu(), 1, softmax=softmax_batch_axis)


def test_5_forgetting_to_normalise_is_named_before_and_during_training(fashion_subset):
    with pytest.raises(errors.CheckFailed, match="divide each row by the sum of its exps"):
        notebook.train(fashion_subset, mx.cpu(), 1, softmax=nd.exp)
    with pytest.raises(errors.Diverged, match=r"softmax returned inf for row \d+, whose "
                       r"logits reach [0-9.]+ \(exp overflows"):
        notebook.train(fashion_subset, mx.cpu(), 1, softmax=nd.exp, check=False)


def test_6_the_tutorials_loop_written_out_stops_with_a_sentence(fashion_subset):
    """The notebook's loop cell with a softmax gone wrong: check_batch names the batch and cause."""
    def net(X):
        return nd.exp(nd.dot(X, W) + b)  # a softmax that forgot to normalise
    mx.random.seed(0)
    W, b = params = model.init_params(mx.cpu())
    arrays = SplitArrays(fashion_subset, mx.cpu(), 64, 0)
    with pytest.raises(errors.Diverged) as caught:
        for i, (data, label) in enumerate(arrays.train(0)):
            label_one_hot = nd.one_hot(label, 10)
            with mx.autograd.record():
                output = net(data)
                loss = cross_entropy(output, label_one_hot)
            loss.backward()
            SGD(params, .001)
            feedback.check_batch(0, i, output, label_one_hot, loss)
    assert caught.value.batch == i and "softmax returned inf for row" in caught.value.finding


# What the checks refuse, trained with check=False: one sentence naming the function, no traceback.

def sgd_rebinding(params, lr):
    params[0] = params[0] - lr * params[0].grad
    params[1] = params[1] - lr * params[1].grad


@pytest.mark.parametrize("mine, who", [(dict(SGD=sgd_rebinding), "SGD"),
                                       (dict(net=net_zeroing_W), "net"),
                                       (dict(softmax=softmax_in_place, SGD=SGD), "softmax")],
                         ids=["rebinding SGD", "net writing W", "in-place softmax"])
def test_an_error_mid_training_is_one_sentence_naming_the_function(small, mine, who, capsys):
    with pytest.raises(errors.CheckFailed):
        notebook.train(small, mx.cpu(), 1, **mine)
    with pytest.raises(InvalidInput) as caught:
        notebook.train(small, mx.cpu(), 1, check=False, **mine)
    message = str(caught.value)
    assert caught.value.param == who and message.startswith("training with your %s stopped on "
                                                            % who)
    assert "\n" not in message and "check_%s" % who in message and "Traceback" not in message


def test_a_callback_that_raises_is_not_blamed_on_the_learners_functions(small):
    def callback(row):
        raise KeyError("the callback's own")
    with pytest.raises(KeyError, match="the callback's own"):
        notebook.train(small, mx.cpu(), 1, softmax=softmax, callback=callback)


def test_a_learners_run_takes_its_batch_order_from_the_seed_too(small, capsys):
    notebook.train(small, mx.cpu(), 1, seed=1)
    compiled = epoch_lines(capsys.readouterr().out)
    notebook.train(small, mx.cpu(), 1, seed=1, softmax=softmax)
    assert epoch_lines(capsys.readouterr().out) == compiled and len(compiled) == 1


def test_the_notebooks_settings_come_from_the_environment_and_are_checked():
    assert notebook.settings_from_env({}) == dict(dataset=None, data_dir=None, epochs=10)
    assert notebook.settings_from_env(dict(
        MXSOFTMAX_DATASET="fashion-mnist", MXSOFTMAX_DATA_DIR="/d", MXSOFTMAX_EPOCHS="2")) == dict(
        dataset="fashion-mnist", data_dir="/d", epochs=2)
    for variable, value, expected in (("MXSOFTMAX_EPOCHS", "abc", "a whole number from 1 to 1000"),
                                      ("MXSOFTMAX_EPOCHS", "0", "a whole number from 1 to 1000"),
                                      ("MXSOFTMAX_DATASET", "digits", "one of mnist, fashion-mnist")):
        with pytest.raises(errors.InvalidValue) as caught:
            notebook.settings_from_env({variable: value})
        assert caught.value.param == variable and str(caught.value) == "%s must be %s, not %r" % (
            variable, expected, value)
