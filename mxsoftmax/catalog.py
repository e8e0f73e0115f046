"""What each known data set is: its class names, its files' checksums and sizes, where it is kept.

The same images exist as different ``.gz`` byte streams (gluon's host, the original MNIST files,
Debian's repack), so a file is known by the SHA-256 of its decompressed idx bytes and their size.
The size bounds every read and every download; the digest verifies a file and recognises which
data set a folder of idx files holds.

MNIST also ships inside mxsoftmax (``mxsoftmax/datasets/mnist``, made with ``gzip -9 -n``): the
SHA-256 of those exact ``.gz`` bytes lets a damaged install be noticed before a file is read, so
the data can come from elsewhere instead.
"""
DIGITS = tuple(str(d) for d in range(10))
DATASETS = {
    "mnist": dict(
        title="MNIST",
        thing="digit",
        recipe=(20, "mass"),  # digits were scaled to 20 px and centred by their centre of mass
        class_names=DIGITS,
        files={  # (split, kind) -> (SHA-256 of the decompressed idx bytes, their size)
            ("train", "images"): (
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
            ("train", "labels"): (
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
            ("test", "images"): (
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
            ("test", "labels"): (
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
        },
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        debian_dir=None,
        package=None,
        shipped=dict(
            folder=("datasets", "mnist"),  # inside the mxsoftmax package
            files={  # (split, kind) -> (SHA-256 of the shipped .gz bytes, their size)
                ("train", "images"): (
                    "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971", 9719438),
                ("train", "labels"): (
                    "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203", 28857),
                ("test", "images"): (
                    "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be", 1616508),
                ("test", "labels"): (
                    "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b", 4517),
            },
        ),
    ),
    "fashion-mnist": dict(
        title="Fashion-MNIST",
        thing="garment, shoe or bag",
        recipe=(28, "box"),  # products were scaled to 28 px and centred by their bounding box
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
        files={
            ("train", "images"): (
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
            ("train", "labels"): (
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
            ("test", "images"): (
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
            ("test", "labels"): (
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        debian_dir="/usr/share/datasets/fashion-mnist",
        package="dataset-fashion-mnist",
        shipped=None,
    ),
}
NAMES = tuple(DATASETS)


def class_names(dataset):
    """The ten class names of ``dataset`` as a list (MNIST's digits are the strings '0'-'9')."""
    return list(DATASETS[dataset]["class_names"])


def classes_text(dataset):
    """The classes of ``dataset`` in a few words: ``0-9`` for digits, else the ten names."""
    names = class_names(dataset)
    return "0-9" if tuple(names) == DIGITS else ", ".join(names)


def identify(split, kind, digest):
    """The known data set whose ``split``'s ``kind`` file has this SHA-256, or None."""
    for name, entry in DATASETS.items():
        if entry["files"][(split, kind)][0] == digest:
            return name
    return None
