"""python -m mxsoftmax.export: each format read back by an independent reader (json, numpy,
onnxruntime, Chromium from file://) against the run and the Python pipeline, and every refusal."""
import base64
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from PIL import Image

import images_pages
from mxsoftmax import catalog, formats, images, runs
from mxsoftmax.classify import classify, predict_proba
from mxsoftmax import export, train


@pytest.fixture(scope="module")
def run(run_dir):
    return runs.load_run(run_dir)


def call(argv, capsys):
    code = export.main(argv)
    return code, capsys.readouterr()


def arrays(run):
    return [p.asnumpy() for p in run.params]


def softmax(scores):
    """Row-wise softmax in float64, written here: the reference the formats are held to."""
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------- json and npz

def test_json_holds_the_runs_W_b_class_names_and_recipe(run, run_dir, tmp_path, capsys):
    target = str(tmp_path / "model.json")
    code, out = call(["--params", run_dir, "--to", target], capsys)
    assert code == 0 and out.out.startswith("Wrote %s (" % target) and not out.err
    with open(target) as f:
        card = json.load(f)
    W, b = arrays(run)
    assert np.array_equal(np.array(card["W"], dtype=np.float32), W) and W.shape == (784, 10)
    assert np.array_equal(np.array(card["b"], dtype=np.float32), b)
    assert card["class_names"] == list(catalog.DATASETS["fashion-mnist"]["class_names"])
    assert (card["format"], card["version"], card["dataset"]) == ("mxsoftmax-model", 1,
                                                                  "fashion-mnist")
    assert card["recipe"]["side"] == 28 and card["recipe"]["centring"] == "box"
    assert card["recipe"]["ink_threshold"] == images.INK_THRESHOLD


def test_npz_loads_without_pickles_and_equals_the_run(run, run_dir, tmp_path, fashion_subset,
                                                      capsys):
    target = str(tmp_path / "model.npz")
    assert call(["--params", run_dir, "--to", target], capsys)[0] == 0
    with np.load(target, allow_pickle=False) as saved:
        W, b = arrays(run)
        assert saved["W"].dtype == np.float32 and np.array_equal(saved["W"], W)
        assert saved["b"].dtype == np.float32 and np.array_equal(saved["b"], b)
        assert saved["class_names"].tolist() == run.class_names
        card = json.loads(str(saved["card"]))
        # the model as the card states it, computed with numpy alone, is the run's model
        x = fashion_subset.test[0][:200].reshape(200, 784).astype(np.float64) / 255
        mine = softmax(x @ saved["W"].astype(np.float64) + saved["b"])
    assert card["recipe"]["side"] == 28 and "W" not in card
    assert np.abs(mine - predict_proba(fashion_subset.test[0][:200], run.params,
                                       run.params[0].context)).max() < 1e-5


# ---------------------------------------------------------------------------- onnx

def test_onnx_runs_in_onnxruntime_with_the_models_answers_on_every_test_image(
        run, run_dir, tmp_path, fashion, capsys):
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    target = str(tmp_path / "model.onnx")
    code, out = call(["--params", run_dir, "--to", target], capsys)
    assert code == 0 and "opset 13" in out.out
    model = onnx.load(target)
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Add", "Softmax"]
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]
    softmax_axis = [a.i for a in model.graph.node[2].attribute if a.name == "axis"]
    assert softmax_axis == [1]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    W, b = arrays(run)
    assert np.array_equal(weights["W"], W) and np.array_equal(weights["b"], b)

    session = onnxruntime.InferenceSession(target, providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert given.name == "x" and given.type == "tensor(float)" and given.shape[1] == 784
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == run.class_names
    assert json.loads(meta["recipe"])["centring"] == "box"
    assert json.loads(meta["mxsoftmax"])["dataset"] == "fashion-mnist"

    test_images = fashion.test[0]
    assert len(test_images) == 10000
    x = test_images.reshape(-1, 784).astype(np.float32) / 255
    (theirs,) = session.run(["probabilities"], {"x": x})
    ours = predict_proba(test_images, run.params, run.params[0].context)
    assert theirs.shape == (10000, 10)
    assert np.array_equal(theirs.argmax(1), ours.argmax(1))
    assert np.abs(theirs - ours).max() < 1e-5


def test_onnx_without_the_onnx_package_says_how_to_install_it(run_dir, tmp_path, monkeypatch,
                                                              capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    target = tmp_path / "model.onnx"
    code, out = call(["--params", run_dir, "--to", str(target)], capsys)
    assert code == 2 and not out.out and not target.exists()
    assert out.err.count("\n") == 1 and "needs the onnx package" in out.err
    with open(os.path.join(os.path.dirname(formats.__file__), os.pardir, "pyproject.toml"), "rb") as f:
        extra, = tomllib.load(f)["project"]["optional-dependencies"]["export"]
    assert out.err.endswith(": `%s -m pip install '%s'`.\n" % (shlex.quote(sys.executable), extra))
    assert "Traceback" not in out.err
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("case, flags, words", [
    ("unknown extension", lambda d, run: ["--params", run, "--to", str(d / "model.pt")],
     "model.pt has the unknown extension '.pt': give a file ending in .onnx, .html, .npz or .json"),
    ("no extension", lambda d, run: ["--params", run, "--to", str(d / "model")],
     "model has no extension"),
    ("params not a run", lambda d, run: ["--params", str(d), "--to", str(d / "m.json")],
     "holds no state.json"),
    ("params missing", lambda d, run: ["--params", str(d / "nothing"), "--to", str(d / "m.json")],
     "nothing does not exist"),
    ("starting weights", lambda d, run: ["--params", os.path.join(run, "init.npz"),
                                         "--to", str(d / "m.json")], "starting weights"),
    ("folder missing", lambda d, run: ["--params", run, "--to", str(d / "no" / "m.html")],
     "its folder %s does not exist"),
    ("folder is a file", lambda d, run: ["--params", run, "--to", str(d / "file" / "m.npz")],
     "is a file, not a folder"),
    ("target is a folder", lambda d, run: ["--params", run, "--to", str(d / "dir.json")],
     "dir.json is a folder"),
])
def test_refusals_are_one_sentence_exit_2_and_nothing_written(case, flags, words, run_dir,
                                                              tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    (tmp_path / "dir.json").mkdir()
    before = sorted(os.listdir(tmp_path))
    code = export.main(flags(tmp_path, run_dir))
    out = capsys.readouterr()
    assert code == 2, case
    assert not out.out and out.err.count("\n") == 1 and "Traceback" not in out.err
    assert out.err.startswith("python -m mxsoftmax.export: error: --"), out.err
    assert words.replace("%s", str(tmp_path / "no")) in out.err, out.err
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(tmp_path / "dir.json") == []
    assert (tmp_path / "file").read_text() == "mine"


def test_an_existing_file_is_kept_unless_force(run, run_dir, tmp_path, capsys):
    target = tmp_path / "model.json"
    target.write_text("my notes")
    code, out = call(["--params", run_dir, "--to", str(target)], capsys)
    assert code == 2 and target.read_text() == "my notes"
    assert out.err == ("python -m mxsoftmax.export: error: --to: %s exists: add --force to "
                       "replace it, or choose another name.\n" % target)
    code, out = call(["--params", run_dir, "--to", str(target), "--force"], capsys)
    assert code == 0 and json.loads(target.read_text())["b"] == pytest.approx(
        arrays(run)[1].tolist())
    assert os.listdir(tmp_path) == ["model.json"]


def test_a_file_that_appears_while_writing_is_not_overwritten(tmp_path):
    target = tmp_path / "model.json"
    target.write_text("came first")
    with pytest.raises(formats.InvalidInput) as caught:
        formats._write(str(target), b"late", replace=False)  # the check passed before it came
    assert caught.value.path == str(target) and target.read_text() == "came first"
    assert os.listdir(tmp_path) == ["model.json"]  # no temporary file left
    formats._write(str(tmp_path / "new.json"), b"data", replace=False)
    assert (tmp_path / "new.json").read_bytes() == b"data"
    assert sorted(os.listdir(tmp_path)) == ["model.json", "new.json"]


def test_a_model_holding_nan_is_refused_not_written(run, tmp_path):
    W = run.params[0].copy()
    W[3, 4] = np.nan
    broken = runs.Run([W, run.params[1]], run.class_names, run.dataset, run.path)
    for name in ("m.json", "m.html", "m.npz"):
        with pytest.raises(formats.InvalidInput, match="inf or NaN"):
            formats.export(broken, tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_a_run_built_by_hand_is_checked_before_anything_is_written(run, tmp_path):
    from mxsoftmax.errors import InvalidValue
    from mxsoftmax.validation import CONSTRAINTS
    for value, param in [(v, "run") for v in CONSTRAINTS["run"].invalid_examples()] + [
            (run._replace(class_names=["a"] * 9), "class_names"),
            (run._replace(dataset="cifar"), "dataset"), (run._replace(params=run.params[::-1]),
                                                         "model")]:
        with pytest.raises(InvalidValue) as refused:
            formats.export(value, tmp_path / "m.json")
        assert refused.value.param == param
    assert os.listdir(tmp_path) == []


def test_python_dash_m_mxsoftmax_export_runs_the_command(run_dir, tmp_path):
    target = str(tmp_path / "model.json")
    done = subprocess.run([sys.executable, "-m", "mxsoftmax.export", "--params", run_dir,
                           "--to", target], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("Wrote " + target), done.stderr
    assert len(json.load(open(target))["W"]) == 784


# ---------------------------------------------------------------------------- html

HOSTILE = ["</script><script>window.pwned = 1</script>", "<!--", "-->", "&amp; & <b>bold</b>",
           '"quoted" \'single\'', "{{model}}", "\u2028line\u2029", "</SCRIPT >", "<![CDATA[", "ok"]


def test_the_page_embeds_the_model_as_json_no_text_can_break_out_of(run, tmp_path):
    hostile = runs.Run(run.params, HOSTILE, "fashion-mnist", "runs/<title>&\"x'")
    target = tmp_path / "page.html"
    assert formats.export(hostile, target) == "HTML"
    page = target.read_text("utf-8")
    assert page.lower().count("<script") == 2 and page.lower().count("</script") == 2
    assert "<!--" not in page and "window.pwned" in page  # present, but only as escaped JSON
    start = page.index('id="model">') + len('id="model">')
    card = json.loads(page[start:page.index("</script>", start)])
    assert card["class_names"] == HOSTILE
    assert np.array_equal(np.array(card["W"], dtype=np.float32), arrays(run)[0])
    assert page.count("&lt;title&gt;&amp;&quot;x&#x27;") == 2  # in the title and the header


CLASSIFY_PNGS = """
const [pngs, done] = arguments;
Promise.all(pngs.map(async function (text) {
  const bytes = Uint8Array.from(atob(text), c => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], {type: "image/png"}),
                                         {colorSpaceConversion: "none", premultiplyAlpha: "none"});
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const g = canvas.getContext("2d");
  g.drawImage(bitmap, 0, 0);
  try {
    const r = window.mxsoftmaxClassify(g.getImageData(0, 0, bitmap.width, bitmap.height));
    return {label: r.label, seen: r.seen, probabilities: r.probabilities};
  } catch (err) {
    return {error: err.message};
  }
})).then(done, err => done({error: String(err)}));
"""


def png_base64(array, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def variants(image):
    """Pictures of one 28x28 test image that exercise the whole recipe: dark on light and larger,
    in colour with a margin, and white strokes on a transparent sheet."""
    big = np.asarray(Image.fromarray(255 - image).resize((97, 130), Image.BICUBIC))
    framed = np.full((150, 160, 3), 250, np.uint8)
    framed[10:140, 30:127] = big[..., None] * np.array([1.0, 0.9, 0.8])
    clear = np.zeros((60, 45, 4), np.uint8)
    clear[10:38, 5:33, :3] = 255
    clear[10:38, 5:33, 3] = image
    return [(big, "L"), (framed, "RGB"), (clear, "RGBA")]


def python_answers(pngs, run):
    """Labels and 28x28 inputs of the Python pipeline for base64 PNGs (load_image + classify)."""
    answers = []
    for text in pngs:
        try:
            seen = images.load_image(base64.b64decode(text), "auto", run.dataset)
        except images.ImageError as err:
            answers.append({"error": str(err)})
            continue
        answer = classify(seen, run.params, run.class_names, run.params[0].context)
        answers.append({"label": answer["label"], "seen": seen,
                        "probabilities": answer["probabilities"]})
    return answers


def agree(page, python):
    """How many answers have the same label, and how many the same 28x28 input, in both."""
    assert len(page) == len(python)
    for mine, theirs in zip(page, python):
        assert ("error" in mine) == ("error" in theirs), (mine.get("error"), theirs.get("error"))
    labels = sum(p.get("label") == q.get("label") for p, q in zip(page, python))
    seen = sum("error" in p or np.array_equal(np.array(p["seen"]).reshape(28, 28), q["seen"])
               for p, q in zip(page, python))
    return labels, seen


def mnist_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("export-mnist") / "run")
    assert train.main(["--dataset", "mnist", "--epochs", "2", "--quiet", "--no-pictures",
                       "--out", out]) == 0  # the MNIST that ships with mxsoftmax
    return runs.load_run(out)


def open_page(driver, run, folder):
    target = os.path.join(str(folder), "model.html")
    formats.export(run, target, force=True)
    driver.get("file://" + target)
    return target


@pytest.mark.parametrize("which", ["fashion-mnist", "fashion weights, mnist recipe", "mnist"])
def test_the_page_from_file_gives_pythons_answers_on_the_first_100_test_images(
        which, run, fashion, mnist, driver, tmp_path, tmp_path_factory):
    if which == "mnist":
        run, test_images = mnist_run(tmp_path_factory), mnist.test[0]
    else:
        test_images = fashion.test[0]
        if which != "fashion-mnist":
            run = runs.Run(run.params, list(catalog.DIGITS), "mnist", run.path)
    open_page(driver, run, tmp_path)
    assert driver.execute_script("return typeof window.mxsoftmaxClassify") == "function"
    first = [test_images[i, ..., 0] for i in range(100)]
    pngs = [png_base64(image) for image in first]
    page = driver.execute_async_script(CLASSIFY_PNGS, pngs)
    python = python_answers(pngs, run)
    labels, seen = agree(page, python)
    print(which, "same label:", labels, "same 28x28:", seen)
    assert labels >= 99 and seen >= 99
    close = [np.abs(np.array(p["probabilities"]) - q["probabilities"]).max()
             for p, q in zip(page, python) if "error" not in p]
    assert max(close) < 1e-4

    # the same images drawn other ways: larger, dark on light, in colour, transparent; and bars
    # whose scaled width is exactly 2.5 pixels in either recipe (5x56 to 28, 5x40 to 20), which
    # Python rounds to 2 (half to even)
    bars = [np.zeros((80, 80), np.uint8) for _ in range(2)]
    bars[0][10:66, 30:35] = bars[1][10:50, 30:35] = 255
    others = [png_base64(*v) for image in first[:20] for v in variants(image)]
    others += [png_base64(bar) for bar in bars]
    page, python = driver.execute_async_script(CLASSIFY_PNGS, others), python_answers(others, run)
    labels, seen = agree(page, python)
    print(which, "variants: same label:", labels, "same 28x28:", seen, "of", len(others))
    assert labels >= len(others) - 1 and seen >= len(others) - 3
    for mine, theirs in zip(page[-2:], python[-2:]):
        assert np.array_equal(np.array(mine["seen"]).reshape(28, 28), theirs["seen"])

    problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, problems
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0


def test_the_page_flattens_uneven_light_on_a_photographed_digit_as_python_does(run, driver,
                                                                               tmp_path):
    """Printed digits photographed on paper under a gradient, a soft shadow or both (noise and JPEG
    too; given to both sides as the same decoded pixels, in a PNG): the page divides out the
    paper's light as images.flattened does, so it gets Python's label and 28x28. Flattening
    matters on these pages: without it at least half of the 28x28s would differ."""
    digits = runs.Run(run.params, list(catalog.DIGITS), "mnist", run.path)
    open_page(driver, digits, tmp_path)
    photos = []
    for _, shots in images_pages.pages(1, seed=11):
        for kind in ("flat",) + images_pages.LIGHTS:
            photos.append(np.asarray(Image.open(io.BytesIO(shots[kind])).convert("L")))
    pngs = [png_base64(photo) for photo in photos]
    page, python = driver.execute_async_script(CLASSIFY_PNGS, pngs), python_answers(pngs, digits)
    labels, seen = agree(page, python)
    print("uneven light: same label:", labels, "same 28x28:", seen, "of", len(pngs))
    assert labels == len(pngs) and seen >= len(pngs) - 1
    for mine, theirs in zip(page, python):
        if "error" not in mine:
            assert np.abs(np.array(mine["seen"]).reshape(28, 28) - theirs["seen"]).max() <= 1
    unflattened = 0
    for photo, theirs in zip(photos, python):
        try:
            plain = images.to_model_input(255 - photo.astype(np.float32), "no", "mnist")
        except images.ImageError:
            plain = None
        unflattened += "error" in theirs or plain is None or not np.array_equal(plain, theirs["seen"])
    print("differ without flattening:", unflattened)
    assert unflattened >= len(photos) // 2
    problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, problems


def stroke(driver, element, points):
    """Press, move through ``points`` (fractions of the element's size) and lift the mouse."""
    from selenium.webdriver.common.action_chains import ActionChains
    box = element.rect
    at = [(int(box["width"] * (x - .5)), int(box["height"] * (y - .5))) for x, y in points]
    chain = ActionChains(driver, duration=20).move_to_element_with_offset(element, *at[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(at, at[1:]):
        for step in range(1, 7):
            chain.move_to_element_with_offset(element, x0 + (x1 - x0) * step // 6,
                                              y0 + (y1 - y0) * step // 6)
    chain.release().perform()


def test_a_drawn_stroke_gets_pythons_answer_to_the_whole_drawing(run, fashion, driver, tmp_path):
    from selenium.webdriver.common.by import By
    open_page(driver, run, tmp_path)
    assert "Fashion-MNIST" in driver.title
    pad = driver.find_element(By.ID, "pad")
    label = driver.find_element(By.ID, "label")
    assert label.text == "?" and len(driver.find_elements(By.CSS_SELECTOR, "#bars li")) == 10
    for points in ([(.5, .15), (.5, .85)], [(.2, .3), (.8, .3), (.8, .7), (.2, .7)]):
        stroke(driver, pad, points)
        # read at once: the page answered when the pen lifted, from the canvas as it is
        shown, drawing, seen = driver.execute_script(
            "const s = document.getElementById('seen').getContext('2d')"
            "  .getImageData(0, 0, 28, 28).data;"
            "return [document.getElementById('label').textContent,"
            "        document.getElementById('pad').toDataURL('image/png').split(',')[1],"
            "        Array.from(s).filter((v, i) => i % 4 === 0)];")
        (python,) = python_answers([drawing], run)
        assert shown == str(python["label"]), (shown, python)
        assert np.array_equal(np.array(seen).reshape(28, 28), python["seen"])
        captions = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#maps figcaption")]
        k, bias = python["label"], float(arrays(run)[1][python["label"]])
        assert len(captions) == 3 and captions[0].startswith("%d %s · " % (k, run.class_names[k]))
        assert ("+ b (−%.2f) =" % -bias if bias < 0 else "+ b %.2f =" % bias) in captions[0]
        share = driver.execute_script(
            "const f = document.querySelector('#bars li.top .fill');"
            "return f.getBoundingClientRect().width / f.parentNode.getBoundingClientRect().width;")
        assert abs(share - python["probabilities"][k]) < .01  # the bar is drawn, and to scale
    driver.find_element(By.ID, "clear").click()
    assert label.text == "?"

    # a picture of one's own, opened with the page's file chooser
    from selenium.webdriver.support.ui import WebDriverWait
    picture = tmp_path / "my picture.png"
    Image.fromarray(255 - fashion.test[0][7, ..., 0]).resize((90, 90)).save(picture)
    driver.find_element(By.ID, "open").send_keys(str(picture))
    WebDriverWait(driver, 10).until(
        lambda _: driver.find_element(By.ID, "status").text.startswith("my picture.png: "))
    (python,) = python_answers([base64.b64encode(picture.read_bytes()).decode()], run)
    assert label.text == str(python["label"])
    problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, problems


def test_hostile_class_names_show_as_text_and_run_nothing(run, driver, tmp_path):
    from selenium.webdriver.common.by import By
    open_page(driver, runs.Run(run.params, HOSTILE, "fashion-mnist", run.path), tmp_path)
    assert driver.execute_script("return window.pwned === undefined && "
                                 "document.scripts.length === 2")
    names = driver.execute_script(
        "return [...document.querySelectorAll('#bars .class')].map(e => e.textContent)")
    assert names == ["%d %s" % (k, name) for k, name in enumerate(HOSTILE)]
    assert driver.find_element(By.ID, "label").text == "?"


def test_a_run_is_never_overwritten_by_its_own_export(run, tmp_path):
    """--force replaces a file of the user's, never one of the run it reads."""
    out = str(tmp_path / "run")
    shutil.copytree(run.path if os.path.isdir(run.path) else os.path.dirname(run.path), out)
    before = open(os.path.join(out, "state.json"), "rb").read()
    with pytest.raises(formats.InvalidInput, match="is a file of the run being exported"):
        formats.export(runs.load_run(out), os.path.join(out, "state.json"), force=True)
    assert open(os.path.join(out, "state.json"), "rb").read() == before


def test_a_run_folder_named_in_another_encoding_exports_its_page(run, tmp_path):
    out = os.path.join(str(tmp_path), os.fsdecode(b"run\xff"))
    shutil.copytree(run.path if os.path.isdir(run.path) else os.path.dirname(run.path), out)
    target = os.path.join(str(tmp_path), "page.html")
    assert formats.export(runs.load_run(out), target) == "HTML"
    assert "run\ufffd" in open(target, encoding="utf-8").read()
