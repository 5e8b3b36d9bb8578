"""Shipping a student: self-describing files, export to ONNX/TorchScript, prediction."""

from fsbbt.ship.export import ExportReport, export_student
from fsbbt.ship.predict import Prediction, ShippedModel, load_shipped_model, predict
from fsbbt.ship.student_file import StudentInfo, load_student, resolve_student, save_student

__all__ = [
    "ExportReport",
    "Prediction",
    "ShippedModel",
    "StudentInfo",
    "export_student",
    "load_shipped_model",
    "load_student",
    "predict",
    "resolve_student",
    "save_student",
]
