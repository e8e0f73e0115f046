"""The known data sets: class names, where each is kept, and each file's SHA-256 and size. A file is
known by the SHA-256 of its decompressed idx bytes (hosts gzip the same images differently), which
verifies it and recognises its data set; its size bounds every read and every download."""
DIGITS = tuple(str(d) for d in range(10))
KEYS = (("train", "images"), ("train", "labels"), ("test", "images"), ("test", "labels"))
SIZES = (47040016, 60008, 7840016, 10008)  # idx bytes of 60,000 and 10,000 28x28 images, labels


def _files(digests, sizes=SIZES):
    """(split, kind) -> (SHA-256, size) of the four files, given in the order of :data:`KEYS`."""
    return dict(zip(KEYS, zip(digests, sizes)))


DATASETS = {
    "mnist": dict(
        title="MNIST",
        thing="digit",
        recipe=(20, "mass"),  # digits were scaled to 20 px and centred by their centre of mass
        class_names=DIGITS,
        files=_files(("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                      "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                      "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                      "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        debian_dir=None, package=None,
        # Shipped inside mxsoftmax (``gzip -9 -n``): the SHA-256 of those exact .gz bytes shows a
        # damaged install before a file is read, so the data can come from elsewhere instead.
        shipped=dict(folder=("datasets", "mnist"),
                     files=_files(("0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
                                   "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
                                   "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
                                   "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b"),
                                  (9719438, 28857, 1616508, 4517))),
    ),
    "fashion-mnist": dict(
        title="Fashion-MNIST",
        thing="garment, shoe or bag",
        recipe=(28, "box"),  # products were scaled to 28 px and centred by their bounding box
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
        files=_files(("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                      "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                      "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                      "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")),
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


def identify(split, kind, digest):
    """The known data set whose ``split``'s ``kind`` file has this SHA-256, or None."""
    return next((name for name, entry in DATASETS.items() if entry["files"][(split, kind)][0] == digest),
                None)
