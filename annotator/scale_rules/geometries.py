"""`geometries` of the video task types: one Geometry object per kind (§2)."""

from __future__ import annotations

from typing import Any

from .labels import Leaves, check_label_list, leaf_labels
from .limits import DEFAULT_MIN_VERTICES, GEOMETRY_KINDS
from .report import ARRAY_TYPES, Report, describe, index_path, is_int, is_number, key_path, quote

_LABELS = "objects_to_annotate"
_CAMERA_FIELDS = ("camera_intrinsics", "camera_rotation_quaternion", "camera_height")
GEOMETRY_FIELDS: dict[str, frozenset[str]] = {
    "box": frozenset({_LABELS, "min_height", "min_width", "can_rotate", "integer_pixels"}),
    "polygon": frozenset({_LABELS, "min_vertices", "max_vertices"}),
    # One docs version spells it max_vertives (§2.3); only max_vertices is accepted.
    "line": frozenset({_LABELS, "min_vertices", "max_vertices"}),
    "point": frozenset({_LABELS, "connections"}),
    "cuboid": frozenset({_LABELS, "min_height", "min_width", *_CAMERA_FIELDS}),
    "ellipse": frozenset({_LABELS}),
}
_INTRINSICS_FIELDS = frozenset({"fx", "fy", "cx", "cy", "skew", "scalefactor", "scale_factor"})
_QUATERNION_FIELDS = ("w", "x", "y", "z")
_CONNECTION_FIELDS = frozenset({"pair", "connection_attribute"})


def check_geometries(report: Report, geometries: Any, path: str, leaves: Leaves) -> None:
    if not report.object(geometries, path):
        return
    if not geometries:
        report.add(path, "geometries.empty", f"must enable at least one of {', '.join(GEOMETRY_KINDS)}")
    for kind, geometry in geometries.items():
        geometry_path = key_path(path, kind)
        if kind not in GEOMETRY_FIELDS:
            report.add(
                geometry_path,
                "geometry.unknown_kind",
                f"unknown geometry; expected one of {', '.join(GEOMETRY_KINDS)}",
            )
        elif report.object(geometry, geometry_path):
            _check_geometry(report, kind, geometry, geometry_path, leaves)


def _check_geometry(report: Report, kind: str, geometry: dict[Any, Any], path: str, leaves: Leaves) -> None:
    allowed = GEOMETRY_FIELDS[kind]
    for key in geometry:
        if key in allowed:
            continue
        if kind == "point" and key in ("x", "y"):
            # Reference §2.4: the seed's `"point": {"x": " ", "y": " "}` comes from the OpenAPI
            # spec; x and y are fields of a point *annotation* in the response.
            report.add(
                key_path(path, key),
                "geometry.point_xy",
                "is not a request parameter: x and y are fields of point annotations in "
                'the response (the "point": {"x": " ", "y": " "} in an example of Scale\'s documentation comes '
                "from its API schema); give objects_to_annotate and optional connections",
            )
        else:
            report.unknown_key(key, allowed, path, f"a {kind} geometry")

    # §2: objects_to_annotate defaults to [], so a geometry without labels is accepted.
    if _LABELS in geometry:
        labels_path = key_path(path, _LABELS)
        if report.array(geometry[_LABELS], labels_path):
            leaves.new_list()
            check_label_list(report, geometry[_LABELS], labels_path, leaves, allow_instance=False)

    if kind in ("box", "cuboid"):
        for field in ("min_height", "min_width"):
            _min_int(report, geometry, field, path, minimum=0, code="geometry.min_size")
    if kind == "box":
        _check_box(report, geometry, path)
    elif kind in ("polygon", "line"):
        _check_vertices(report, geometry, path)
    elif kind == "point" and "connections" in geometry:
        report.array(geometry["connections"], key_path(path, "connections"))
    elif kind == "cuboid":
        _check_camera(report, geometry, path)


def _min_int(report: Report, obj: dict[Any, Any], field: str, path: str, *, minimum: int, code: str) -> None:
    if field not in obj:
        return
    value, field_path = obj[field], key_path(path, field)
    if report.integer(value, field_path) and value < minimum:
        report.add(field_path, code, f"must be at least {minimum}, got {describe(value)}")


def _check_box(report: Report, box: dict[Any, Any], path: str) -> None:
    flags = {}
    for flag in ("can_rotate", "integer_pixels"):
        if flag in box and report.boolean(box[flag], key_path(path, flag)):
            flags[flag] = box[flag]
    if flags.get("can_rotate") and flags.get("integer_pixels"):
        report.add(
            key_path(path, "integer_pixels"),
            "box.integer_pixels_rotated",
            "does not work with rotated boxes; turn off can_rotate or integer_pixels",
        )


def _check_vertices(report: Report, geometry: dict[Any, Any], path: str) -> None:
    _min_int(report, geometry, "min_vertices", path, minimum=1, code="geometry.min_vertices")
    minimum = geometry.get("min_vertices", DEFAULT_MIN_VERTICES)
    if not is_int(minimum) or minimum < 1:
        minimum = DEFAULT_MIN_VERTICES
    if "max_vertices" not in geometry or geometry["max_vertices"] is None:
        return  # null means "no maximum" (§2.2)
    max_path = key_path(path, "max_vertices")
    maximum = geometry["max_vertices"]
    if report.integer(maximum, max_path, nullable=True) and maximum < minimum:
        source = "min_vertices" if "min_vertices" in geometry else "min_vertices, the default"
        report.add(
            max_path,
            "geometry.max_vertices",
            f"must be at least {source} ({describe(minimum)}), got {describe(maximum)}",
        )


def _check_camera(report: Report, cuboid: dict[Any, Any], path: str) -> None:
    # null is the documented default of all three camera fields (§2.5): same as absent.
    given = [field for field in _CAMERA_FIELDS if cuboid.get(field) is not None]
    if given and len(given) < len(_CAMERA_FIELDS):
        missing = ", ".join(field for field in _CAMERA_FIELDS if field not in given)
        # §2.5 "Give all three camera fields to get perspective-corrected cuboids": a partial
        # camera is silently useless, so the composer should say so rather than submit it.
        report.add(
            path,
            "cuboid.camera_partial",
            f"camera_intrinsics, camera_rotation_quaternion and camera_height must be given "
            f"together for perspective-corrected cuboids (missing: {missing})",
        )
    intrinsics = cuboid.get("camera_intrinsics")
    if intrinsics is not None:
        _check_intrinsics(report, intrinsics, key_path(path, "camera_intrinsics"))
    quaternion = cuboid.get("camera_rotation_quaternion")
    if quaternion is not None:
        quaternion_path = key_path(path, "camera_rotation_quaternion")
        if report.object(quaternion, quaternion_path):
            report.unknown_keys(quaternion, frozenset(_QUATERNION_FIELDS), quaternion_path, "a quaternion")
            _numbers(report, quaternion, _QUATERNION_FIELDS, quaternion_path, required=True)
    if cuboid.get("camera_height") is not None:
        report.number(cuboid["camera_height"], key_path(path, "camera_height"), hint=" (metres)")


def _check_intrinsics(report: Report, intrinsics: Any, path: str) -> None:
    if not report.object(intrinsics, path):
        return
    report.unknown_keys(intrinsics, _INTRINSICS_FIELDS, path, "camera_intrinsics")
    _numbers(report, intrinsics, ("fx", "fy", "cx", "cy"), path, required=True)
    _numbers(report, intrinsics, ("skew", "scalefactor", "scale_factor"), path, required=False)
    # Reference §2.5: the docs table says scalefactor, the docs example scale_factor, and
    # which one the server reads is unconfirmed, so accept either but not both at once.
    if "scalefactor" in intrinsics and "scale_factor" in intrinsics:
        report.add(
            key_path(path, "scale_factor"),
            "cuboid.scalefactor_conflict",
            "give scalefactor or scale_factor, not both",
        )
    for field in ("scalefactor", "scale_factor"):
        value = intrinsics.get(field)
        if is_number(value) and value <= 0:
            report.add(
                key_path(path, field),
                "cuboid.scalefactor_positive",
                f"must be greater than 0 (2 means the image is half size), got {describe(value)}",
            )


def _numbers(report: Report, obj: dict[Any, Any], fields: tuple[str, ...], path: str, *, required: bool) -> None:
    for field in fields:
        if field in obj:
            report.number(obj[field], key_path(path, field))
        elif required:
            report.add(key_path(path, field), "field.required", "is required (a number)")


def check_point_connections(report: Report, geometries: Any, path: str, linked_attributes: set[str]) -> None:
    """Point connections refer to the point's labels and to linked attributes, so they are
    checked once annotation_attributes is known."""
    point = geometries.get("point") if isinstance(geometries, dict) else None
    if not isinstance(point, dict) or not isinstance(point.get("connections"), ARRAY_TYPES):
        return
    point_path = key_path(path, "point")
    point_labels = set(leaf_labels(point.get(_LABELS)))
    connections_path = key_path(point_path, "connections")
    for i, connection in enumerate(point["connections"]):
        connection_path = index_path(connections_path, i)
        if not report.object(connection, connection_path, hint=' like {"pair": ["a", "b"]}'):
            continue
        report.unknown_keys(connection, _CONNECTION_FIELDS, connection_path, "a point connection")
        pair_path = key_path(connection_path, "pair")
        pair = connection.get("pair")
        if "pair" not in connection:
            report.add(pair_path, "field.required", "is required (two point labels to connect)")
        elif not isinstance(pair, ARRAY_TYPES) or len(pair) != 2:
            report.add(pair_path, "point.pair", f"must be an array of two labels, got {describe(pair)}")
        else:
            for j, label in enumerate(pair):
                label_path = index_path(pair_path, j)
                if report.string(label, label_path) and label not in point_labels:
                    report.add(
                        label_path,
                        "point.pair_label",
                        f"{quote(label)} is not a label of the point geometry's objects_to_annotate",
                    )
        if "connection_attribute" in connection:
            attribute_path = key_path(connection_path, "connection_attribute")
            attribute = connection["connection_attribute"]
            if report.string(attribute, attribute_path) and attribute not in linked_attributes:
                report.add(
                    attribute_path,
                    "point.connection_attribute",
                    f"{quote(attribute)} is not a linked attribute of annotation_attributes",
                )
