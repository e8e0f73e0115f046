"""mxsoftmax.context: ctx from text, and the proof that it works."""
import mxnet as mx
import pytest


def test_no_kernel_image_is_explained(monkeypatch):
    from mxsoftmax import context
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 1)

    def fail(*args, **kwargs):
        raise mx.MXNetError("CUDA: no kernel image is available for execution on the device")
    monkeypatch.setattr(mx.nd, "ones", fail)
    with pytest.raises(context.InvalidInput, match="no kernel image.*sm_90"):
        context.check_ctx(mx.gpu(0))


def test_context_text_and_type_are_checked():
    from mxsoftmax import context
    assert context.parse_ctx(" GPU:12 ") == mx.gpu(12) and context.parse_ctx("cpu") == mx.cpu(0)
    for text in ("cpu:", "cpu:1000", "cpu:\u0663", "cpu:-1", "tpu", "cpu:1:2", None):
        with pytest.raises(context.InvalidValue, match="ctx must be cpu, cpu:N, gpu or gpu:N"):
            context.parse_ctx(text)
