"""Deployment: ONNX export, int8 quantization and other runtimes."""
