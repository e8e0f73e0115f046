"""Peak memory of decoding one picture, measured in a fresh process (growth of VmHWM).

    python tests/images_memory.py FILE...   prints {"FILE": [MiB grown, outcome], ...}

tests/test_images.py runs it on pictures of every pixel mode: a few bytes per pixel at most.
The peak is the process's own (``VmHWM`` in /proc/self/status): ``ru_maxrss`` would also count
the parent's peak, which a child started by a large process (pytest with MXNet) inherits.
"""
import json
import sys


def peak_mib():
    """This process's peak resident memory so far, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(paths):
    from mxsoftmax import images
    Image = images.Image
    results = {}
    for path in paths:
        with Image.open(path) as im:  # warm up the plugin and its codec before measuring
            im.size
        before = peak_mib()
        try:
            outcome = list(images.read_gray(path).shape)
        except images.ImageError as err:
            outcome = str(err)
        results[path] = [peak_mib() - before, outcome]
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
