"""The compute context (``ctx``): parse ``cpu``/``cpu:N``/``gpu``/``gpu:N`` and check it works."""
import argparse

import mxnet as mx

from . import UsageError

GPU_HINT = ("MXNet's CUDA wheels (mxnet-cu112 and friends) carry kernels for sm_50-sm_86 only, "
            "so they cannot run on Hopper (sm_90) or newer GPUs")


def parse_ctx(text):
    """Turn ``cpu``, ``cpu:N``, ``gpu`` or ``gpu:N`` into an ``mx.Context``; raise ValueError otherwise."""
    kind, _, index = text.strip().lower().partition(":")
    if kind not in ("cpu", "gpu") or (index and not index.isdigit()):
        raise ValueError("expected cpu, cpu:N, gpu or gpu:N, got %r" % text)
    return mx.Context(kind, int(index) if index else 0)


def ctx_arg(text):
    """``argparse`` type for ``--ctx``: like :func:`parse_ctx`, with argparse's error class."""
    try:
        return parse_ctx(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def check_ctx(ctx):
    """Return ``ctx`` after proving one operation runs there; raise UsageError saying why not.

    A GPU context fails when MXNet sees no GPU (CPU-only wheel, no driver) or when the wheel has
    no kernel for the card (sm_90+), which only shows at the first operation.
    """
    if ctx.device_type == "gpu":
        count = mx.context.num_gpus()
        if count == 0:
            raise UsageError(
                "--ctx %s asked for a GPU but MXNet sees none (the installed mxnet is a CPU build or "
                "no CUDA driver is visible): install a CUDA wheel such as mxnet-cu112 on a machine "
                "with an sm_50-sm_86 GPU, or use --ctx cpu." % _name(ctx))
        if ctx.device_id >= count:
            raise UsageError("--ctx %s asked for GPU %d but MXNet sees only %d GPU(s): use an "
                             "index below %d." % (_name(ctx), ctx.device_id, count, count))
    try:
        mx.nd.ones((2, 2), ctx=ctx).sum().asscalar()
    except mx.MXNetError as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
        if "no kernel image" in str(err):
            raise UsageError("--ctx %s failed at its first operation with 'no kernel image': %s; "
                             "use an older GPU or --ctx cpu." % (_name(ctx), GPU_HINT)) from None
        raise UsageError("--ctx %s failed at its first operation (%s): use --ctx cpu."
                         % (_name(ctx), reason)) from None
    return ctx


def _name(ctx):
    return "%s:%d" % (ctx.device_type, ctx.device_id)
