"""python -m mxsoftmax.predict on images the tests draw from the test set."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import images_bombs
from mxsoftmax import images, runs
from mxsoftmax.classify import predict_proba
from mxsoftmax import predict, train


@pytest.fixture(scope="module")
def trained(fashion_subset_dir, fashion_subset, tmp_path_factory):
    """A 3-epoch Fashion-MNIST run and a test image it classifies right with confidence."""
    out = str(tmp_path_factory.mktemp("predict") / "run")
    assert train.main(["--dataset", "fashion-mnist", "--data-dir", fashion_subset_dir,
                       "--epochs", "3", "--quiet", "--no-pictures", "--out", out]) == 0
    params = runs.load_run(out).params
    test_images, labels = fashion_subset.test
    probs = predict_proba(test_images[:200, ..., 0], params, params[0].context)
    confident = np.flatnonzero((probs.argmax(1) == labels[:200]) & (probs.max(1) > .95))
    assert confident.size, "no confident correct prediction to test with"
    i = int(confident[0])
    return out, test_images[i, ..., 0], int(labels[i])


def test_png_from_the_test_set_comes_back_with_its_label(cli, trained, tmp_path, capsys):
    out, image, label = trained
    path = str(tmp_path / "item.png")
    Image.fromarray(image).save(path)
    code, out_text, err = cli("predict", *["--params", out, "--json", path])
    assert code == 0
    row = json.loads(out_text)
    assert row["path"] == path and row["label"] == label
    names = runs.load_run(out).class_names
    assert row["name"] == names[label] and names[0] == "T-shirt/top"
    assert row["probability"] == row["top3"][0]["probability"] > .5
    assert [e["label"] for e in row["top3"]][0] == label and len(row["top3"]) == 3
    assert [e["name"] for e in row["top3"]] == [names[e["label"]] for e in row["top3"]]
    p = [e["probability"] for e in row["top3"]]
    assert p[0] >= p[1] >= p[2] and sum(row["probabilities"]) == pytest.approx(1, abs=1e-5)
    code, out_text, err = cli("predict", *["--params", out, path])
    assert out_text.startswith("%s: %s (class %d), p=" % (path, names[label], label))


def test_dark_on_light_colour_and_large_images_are_handled(cli, trained, tmp_path, capsys):
    out, image, label = trained
    rgb = tmp_path / "colour.png"
    Image.fromarray(np.stack([image] * 3, axis=-1)).save(rgb)
    inverted = tmp_path / "scan.png"
    Image.fromarray(255 - image).save(inverted)
    large = tmp_path / "large.jpg"
    Image.fromarray(image).resize((280, 280), Image.NEAREST).save(large, quality=95)
    code, out_text, err = cli("predict", *["--params", out, "--json", str(rgb), str(inverted), str(large)])
    assert code == 0
    assert [json.loads(line)["label"] for line in out_text.splitlines()] == [label] * 3
    seen = images.to_model_input(image, dataset="fashion-mnist")
    np.testing.assert_array_equal(images.load_image(str(inverted), dataset="fashion-mnist"), seen)
    with pytest.raises(images.ImageError, match="blank"):  # not inverted: dark ink on light
        images.load_image(str(inverted), "no", "fashion-mnist")


def test_corrupt_file_is_named_others_still_classified_exit_1(cli, trained, tmp_path, capsys):
    out, image, label = trained
    good = tmp_path / "good.png"
    Image.fromarray(image).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, out_text, err = cli("predict", *["--params", out, "--json", str(bad), str(good)])
    assert code == 1
    rows = [json.loads(line) for line in out_text.splitlines()]
    assert rows[0]["path"] == str(bad) and "error" in rows[0]
    assert rows[1]["label"] == label
    code, out_text, err = cli("predict", *["--params", out, str(bad)])
    assert code == 1 and out_text.startswith("%s: error: " % bad)


def test_a_hostile_picture_fails_alone_and_quietly(trained, tmp_path):
    """With warnings made errors, each picture's content fails that picture only, in its line, and
    nothing reaches stderr: a JPEG whose EXIF makes Pillow warn (a traceback) is read, a TIFF whose
    TileWidth is text (a TypeError ending the command) and one whose StripOffsets are a fraction
    (Pillow's TypeError) are refused, a float TIFF of +-3e38 (NaN: exit 2) is read; the image after
    them is classified, exit 1."""
    out, image, label = trained
    files = {"exif.jpg": images_bombs.corrupt_exif_jpeg(Image.fromarray(image)),
             "text.tif": images_bombs.gray_tiff(10, 10, {322: (2, b"abc\0")}),
             "fraction.tif": images_bombs.gray_tiff(10, 10, {273: (5, [8, 1])})}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    Image.fromarray(np.where(image > 64, 3e38, -3e38).astype(np.float32)).save(tmp_path / "huge.tif")
    Image.fromarray(image).save(tmp_path / "good.png")
    paths = [str(tmp_path / name) for name in list(files) + ["huge.tif", "good.png"]]
    run = subprocess.run([sys.executable, "-m", "mxsoftmax.predict", "--params", out, "--json", *paths],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONWARNINGS="error"))
    assert (run.returncode, run.stderr) == (1, ""), run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [row["path"] for row in rows] == paths and rows[-1]["label"] == label
    assert ["label" in row for row in rows] == [True, False, False, True, True]
    assert rows[1]["error"] == paths[1] + " has a TIFF tag 322 (TileWidth) of 'abc', not a whole " \
                                          "number >= 0: save it again as a PNG."
    assert rows[2]["error"].startswith(paths[2] + " is truncated or corrupt (")


def test_params_that_are_not_a_checkpoint_exit_2(cli, trained, tmp_path, capsys):
    out, image, _ = trained
    img = tmp_path / "x.png"
    Image.fromarray(image).save(img)
    wrong_shape = tmp_path / "wrong.npz"
    np.savez(wrong_shape, W=np.zeros((10, 10), np.float32), b=np.zeros(10, np.float32))
    cases = [(str(img), "is not a checkpoint of mxsoftmax (an .npz of W and b)"),
             (str(wrong_shape), "W (784, 10)"),
             (str(tmp_path), "holds no state.json"),
             (str(tmp_path / "nope"), "does not exist")]
    for params, fragment in cases:
        code, out_text, err = cli("predict", *["--params", params, str(img)])
        assert code == 2 and fragment in err and out_text == "", (params, err)


def test_explain_writes_one_picture_per_image_of_what_the_model_saw(cli, trained, tmp_path, capsys):
    from matplotlib.image import imread
    out, image, label = trained
    paths = []
    for folder in ("a", "b"):  # two images with one name get two pictures
        (tmp_path / folder).mkdir()
        paths.append(str(tmp_path / folder / "item.png"))
        Image.fromarray(image).save(paths[-1])
    explain = tmp_path / "why"
    code, out_text, err = cli("predict", *["--params", out, "--json", "--explain", str(explain)] + paths)
    assert code == 0
    rows = [json.loads(line) for line in out_text.splitlines()]
    assert [r["explanation"] for r in rows] == [str(explain / "item.png.explain.png"),
                                                str(explain / "item.png-2.explain.png")]
    assert sorted(os.listdir(explain)) == ["item.png-2.explain.png", "item.png.explain.png"]
    assert imread(rows[0]["explanation"]).shape[1] > 3 * imread(rows[0]["explanation"]).shape[0]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, out_text, err = cli("predict", *["--params", out, "--explain", str(a_file), paths[0]])
    assert code == 2 and "--explain: %s is a file, not a folder" % a_file in err
    assert out_text == ""
    (explain / ".write-test").write_text("mine")  # a name an explanation folder might hold
    (explain / "item.png.explain.png").unlink()
    (explain / "item.png.explain.png").mkdir()  # the picture's name is taken by a folder
    code, out_text, err = cli("predict", *["--params", out, "--explain", str(explain)] + paths)
    lines = out_text.splitlines()
    assert code == 1 and len(lines) == 2, err
    assert lines[0].startswith(paths[0] + ": ") and "; no explanation: cannot write" in lines[0]
    assert "it is a folder" in lines[0] and "no explanation" not in lines[1]
    assert (explain / ".write-test").read_text() == "mine"
    assert not [n for n in os.listdir(explain) if n.startswith("tmp")]


def test_a_closed_pipe_ends_predict_quietly(trained, tmp_path):
    import subprocess
    import sys
    out, image, _ = trained
    path = str(tmp_path / "item.png")
    Image.fromarray(image).save(path)
    proc = subprocess.Popen([sys.executable, "-m", "mxsoftmax.predict", "--params", out, path, path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like '| head -0': nobody reads
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_a_closed_standard_output_is_one_error_line(trained, tmp_path):
    import subprocess
    import sys
    out, image, _ = trained
    path = str(tmp_path / "item.png")
    Image.fromarray(image).save(path)
    proc = subprocess.run([sys.executable, "-m", "mxsoftmax.predict", "--params", out, path],
                          stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.strip().endswith("standard output: it is closed."), err
    assert len(err.strip().splitlines()) == 1


def test_a_misspelt_flag_is_named_before_a_missing_one(trained, capsys):
    out, _, _ = trained
    with pytest.raises(SystemExit) as stop:
        predict.main(["--param", out, "item.png"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "unrecognized argument --param (did you mean --params?)" in err
    assert "required" not in err


def test_the_starting_weights_are_not_taken_for_a_model(cli, trained, tmp_path, capsys):
    out, image, _ = trained
    path = str(tmp_path / "item.png")
    Image.fromarray(image).save(path)
    code, out_text, err = cli("predict", *["--params", os.path.join(out, "init.npz"), path])
    assert code == 2 and "holds the starting weights a run drew at random" in err
    assert out_text == ""


def test_an_empty_explain_folder_is_refused_not_ignored(trained, capsys):
    out, _, _ = trained
    with pytest.raises(SystemExit) as stop:
        predict.main(["--params", out, "--explain", "", "item.png"])
    assert stop.value.code == 2 and "argument --explain: is empty: give a path" in \
        capsys.readouterr().err
