"""The teacher behind the black-box boundary: its interface, kinds and answer checks."""

from fsbbt.teacher.blackbox import BlackBoxTeacher, QueryOracle, validate_probabilities
from fsbbt.teacher.local import LocalTeacher, TeacherMetadata, read_metadata, save_teacher

__all__ = [
    "BlackBoxTeacher",
    "LocalTeacher",
    "QueryOracle",
    "TeacherMetadata",
    "read_metadata",
    "save_teacher",
    "validate_probabilities",
]
