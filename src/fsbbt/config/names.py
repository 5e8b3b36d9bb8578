"""The names a config may give a recipe's choices; the code that acts on them imports
them from here, so the schema and the behaviour cannot drift apart."""

from __future__ import annotations

from typing import Literal

AugmentationName = Literal["none", "standard", "combination"]
GeometryName = Literal["auto", "grey", "cifar"]
LrScheduleName = Literal["constant", "cosine", "cifar100"]
TeacherKind = Literal["train", "local", "torchscript", "onnx", "python", "http"]
TeacherOutput = Literal["probabilities", "logits", "label", "topk"]
