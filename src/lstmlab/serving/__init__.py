"""Using a trained model: predict (predict.py), export to ONNX (export.py) and serve over HTTP
(serve.py). The top layer: it reads checkpoints through runs/checkpoints.py, and nothing of
the research path imports it."""
