"""BCF 3.0 (or 2.1) issues from the permit findings, written with bcf-client.

One topic per group of findings (see :class:`Topic`): rule + storey + status
for failures and not-checkable findings (passes make no topic).  Each topic
has one viewpoint with a perspective camera framing the elements, the
elements selected and coloured (red: fail, orange: not checkable), a
horizontal clipping plane when the snapshot is a cut-away, and the PNG
snapshot.  Topic and viewpoint GUIDs are UUID5s of the IFC file hash and the
topic key, so re-running a check gives the same GUIDs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.atomic import atomic_path

from .snapshot import STATUS_COLOURS, Camera, Snapshot

__all__ = ["Topic", "write_bcf", "BCF_VERSIONS", "TOPIC_TYPES"]

BCF_VERSIONS = ("2.1", "3.0")
TOPIC_TYPES = ("Rule violation", "Missing information", "IDS requirement")
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:brussels-twin:permit-check:bcf")
#: BCF components listed per viewpoint selection (viewers slow down on huge lists).
MAX_COMPONENTS = 2000


@dataclass
class Topic:
    """A BCF topic: a group of findings with the same rule, storey and status."""

    key: str
    title: str
    description: str
    topic_type: str
    status: str
    priority: str
    labels: list[str]
    global_ids: list[str]
    finding_indices: list[int]
    camera: Camera | None = None
    cut_z_m: float | None = None
    snapshot: Snapshot | None = None
    snapshot_file: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def guid(self, file_hash: str) -> str:
        """Deterministic topic GUID."""
        return str(uuid.uuid5(_NS, f"{file_hash}|{self.key}"))


def _extensions(mdl: Any, version: str) -> Any:
    kw = {
        "topic_types": mdl.ExtensionsTopicTypes(topic_type=list(TOPIC_TYPES)),
        "topic_statuses": mdl.ExtensionsTopicStatuses(topic_status=["Open", "Closed"]),
        "priorities": mdl.ExtensionsPriorities(priority=["High", "Normal", "Low"]),
        "topic_labels": mdl.ExtensionsTopicLabels(
            topic_label=["fail", "not_checkable", "error", "warning", "info", "S", "M"]
        ),
    }
    return mdl.Extensions(**kw)


def write_bcf(
    path: str | Path,
    topics: Sequence[Topic],
    *,
    version: str,
    provenance: dict[str, Any],
    created: dt.datetime,
) -> Path:
    """Write the topics as a ``.bcf`` file (atomically).

    Parameters
    ----------
    path
        Target file.
    topics
        Topics with their snapshots.
    version
        ``"3.0"`` or ``"2.1"``.
    provenance
        The report provenance (file name, hash, IFC project GUID).
    created
        Creation time stamp of the topics (UTC).

    Returns
    -------
    Path
    """
    if version not in BCF_VERSIONS:
        raise ValueError(f"bcf_version must be one of {', '.join(BCF_VERSIONS)}, not {version!r}.")
    v3 = version == "3.0"
    if v3:
        from bcf.v3 import model as mdl
        from bcf.v3.bcfxml import BcfXml
        from bcf.v3.topic import TopicHandler
        from bcf.v3.visinfo import VisualizationInfoHandler
    else:
        from bcf.v2 import model as mdl
        from bcf.v2.bcfxml import BcfXml
        from bcf.v2.topic import TopicHandler
        from bcf.v2.visinfo import VisualizationInfoHandler
    from xsdata.models.datatype import XmlDateTime

    ifc = provenance["ifc"]
    file_hash = ifc["sha256"]
    when = XmlDateTime.from_datetime(created.astimezone(dt.UTC).replace(microsecond=0))
    project = f"Permit pre-check of {ifc['file']}"
    if v3:
        bcf = BcfXml.create_new(project, extensions=_extensions(mdl, version))
    else:
        bcf = BcfXml.create_new(project)
        from bcf.v2.model import extensions as mdl_ext

        bcf.extensions = _extensions(mdl_ext, version)
    bcf.project_info.project.project_id = str(uuid.uuid5(_NS, f"project|{file_hash}"))
    for index, t in enumerate(topics):
        guid = t.guid(file_hash)
        header_file = {
            "filename": ifc["file"],
            "reference": ifc["file"],
            "ifc_project": provenance.get("ifc_project_global_id") or None,
            "is_external": True,
            "date": XmlDateTime.from_string(ifc["time_stamp"]) if _is_time(ifc["time_stamp"]) else None,
        }
        if v3:
            header = mdl.Header(files=mdl.HeaderFiles(file=[mdl.File(**header_file)]))
            labels = mdl.TopicLabels(label=list(t.labels))
        else:
            header = mdl.Header(file=[mdl.HeaderFile(**header_file)])
            labels = list(t.labels)
        topic = mdl.Topic(
            guid=guid,
            title=t.title[:250],
            description=t.description,
            topic_type=t.topic_type,
            topic_status="Open",
            priority=t.priority,
            labels=labels,
            creation_date=when,
            creation_author="brussels-twin permit pre-check",
            index=index + 1,
        )
        handler = TopicHandler(topic_dir=Path(guid))
        handler.markup = mdl.Markup(header=header, topic=topic)
        vp_guid = str(uuid.uuid5(_NS, f"{file_hash}|{t.key}|viewpoint"))
        handler.add_visinfo_handler(
            VisualizationInfoHandler(
                visualization_info=_visinfo(mdl, vp_guid, t, v3),
                snapshot=t.snapshot.png if t.snapshot else None,
            ),
            snapshot_filename="snapshot.png" if t.snapshot else None,
        )
        bcf.topics[guid] = handler
    path = Path(path)
    with atomic_path(path) as tmp:
        bcf.save(tmp)
    bcf.close()
    return path


def _is_time(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return True


def _point(cls: Any, xyz: Sequence[float]) -> Any:
    return cls(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def _visinfo(mdl: Any, guid: str, t: Topic, v3: bool) -> Any:
    gids = t.global_ids[:MAX_COMPONENTS]
    comps = [mdl.Component(ifc_guid=g) for g in gids]
    colour = STATUS_COLOURS.get(t.status, STATUS_COLOURS["fail"])
    if v3:
        coloring = mdl.ComponentColoring(
            color=[
                mdl.ComponentColoringColor(
                    color=colour, components=mdl.ComponentColoringColorComponents(component=list(comps))
                )
            ]
        )
    else:
        coloring = mdl.ComponentColoring(
            color=[mdl.ComponentColoringColor(color=colour, component=list(comps))]
        )
    components = mdl.Components(
        selection=mdl.ComponentSelection(component=list(comps)),
        visibility=mdl.ComponentVisibility(default_visibility=True),
        coloring=coloring,
    )
    camera = None
    clipping = None
    if t.camera is not None:
        c = t.camera
        aspect = t.snapshot.width_px / t.snapshot.height_px if t.snapshot else 4.0 / 3.0
        camera = mdl.PerspectiveCamera(
            camera_view_point=_point(mdl.Point, c.position),
            camera_direction=_point(mdl.Direction, c.direction),
            camera_up_vector=_point(mdl.Direction, c.up),
            field_of_view=c.field_of_view_deg,
            **({"aspect_ratio": aspect} if v3 else {}),
        )
        if t.cut_z_m is not None:
            clipping = mdl.VisualizationInfoClippingPlanes(
                clipping_plane=[
                    mdl.ClippingPlane(
                        location=_point(mdl.Point, (c.position[0], c.position[1], t.cut_z_m + 0.05)),
                        direction=_point(mdl.Direction, (0.0, 0.0, 1.0)),
                    )
                ]
            )
    return mdl.VisualizationInfo(
        guid=guid, components=components, perspective_camera=camera, clipping_planes=clipping
    )
