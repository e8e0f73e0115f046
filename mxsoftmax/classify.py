"""TEMPORARY (replaced by the draw branch): the model's answer for one image."""
import numpy as np

from .model import predict_proba


def classify(image, params, class_names, ctx):
    """The answer for one (28, 28) uint8 image as a JSON-ready dict."""
    probs = predict_proba(image[np.newaxis], params, ctx)[0]
    top = np.argsort(-probs)[:3]
    label = int(top[0])
    return {"label": label, "name": class_names[label], "probability": float(probs[label]),
            "top3": [{"label": int(k), "name": class_names[k], "probability": float(probs[k])}
                     for k in top],
            "probabilities": [float(p) for p in probs]}
