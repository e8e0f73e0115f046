"""The compute context (``ctx``): parse ``cpu``/``cpu:N``/``gpu``/``gpu:N`` and check it works."""
import re

import mxnet as mx

from .errors import InvalidInput, InvalidValue, reason

GPU_HINT = ("MXNet's CUDA wheels (mxnet-cu112 and friends) carry kernels for sm_50-sm_86 only, "
            "so they cannot run on Hopper (sm_90) or newer GPUs")


def parse_ctx(text):
    """Turn ``cpu``, ``cpu:N``, ``gpu`` or ``gpu:N`` into an ``mx.Context``; ValueError otherwise."""
    found = isinstance(text, str) and re.fullmatch(r"\s*(cpu|gpu)(?::([0-9]{1,3}))?\s*",
                                                   text.lower(), flags=re.ASCII)
    if not found:
        raise InvalidValue(param="ctx", value=text, shown=repr(text),
                           expected="cpu, cpu:N, gpu or gpu:N with N below 1000")
    return mx.Context(found.group(1), int(found.group(2) or 0))


def check_ctx(ctx):
    """Return ``ctx`` after proving one operation runs there; InvalidInput saying why not.

    A GPU context fails when MXNet sees no GPU (CPU-only wheel, no driver) or when the wheel has
    no kernel for the card (sm_90+), which only shows at the first operation.
    """
    if ctx.device_type == "gpu":
        count = mx.context.num_gpus()
        if count == 0:
            raise InvalidInput(
                "%s asks for a GPU but MXNet sees none (the installed mxnet is a CPU build or no "
                "CUDA driver is visible): install a CUDA wheel such as mxnet-cu112 on a machine "
                "with an sm_50-sm_86 GPU, or use the CPU." % name(ctx), param="ctx")
        if ctx.device_id >= count:
            raise InvalidInput("%s asks for GPU %d but MXNet sees only %d GPU(s): use an index "
                               "below %d." % (name(ctx), ctx.device_id, count, count),
                               param="ctx")
    try:
        mx.nd.ones((2, 2), ctx=ctx).sum().asscalar()
    except mx.MXNetError as err:
        if "no kernel image" in str(err):
            raise InvalidInput("%s failed at its first operation with 'no kernel image': %s; use "
                               "an older GPU or the CPU." % (name(ctx), GPU_HINT),
                               param="ctx") from None
        raise InvalidInput("%s failed at its first operation (%s): use the CPU."
                           % (name(ctx), reason(err)), param="ctx") from None
    return ctx


def name(ctx):
    """``cpu:0``, ``gpu:1``: how a context is written on the command line."""
    return "%s:%d" % (ctx.device_type, ctx.device_id)
