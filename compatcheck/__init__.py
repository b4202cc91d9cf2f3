"""compatcheck: will this ONNX or TFLite model run inside a mini program?"""

__version__ = "0.1.0"
