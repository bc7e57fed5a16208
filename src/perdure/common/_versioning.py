"""Worker versioning: behaviors, deployment versions, overrides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum

from temporalio.api.deployment.v1 import message_pb2 as deployment_pb
from temporalio.api.enums.v1 import workflow_pb2 as enums_workflow_pb
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb

# --------------------------------------------------------------------------- versioning

_Behavior = enums_workflow_pb.VersioningBehavior


class VersioningBehavior(IntEnum):
    """Whether a workflow stays on its worker build or moves to the current one."""

    UNSPECIFIED = _Behavior.VERSIONING_BEHAVIOR_UNSPECIFIED
    """Not set (versioned workers must choose one)."""
    PINNED = _Behavior.VERSIONING_BEHAVIOR_PINNED
    """Stay on the build that started it unless moved by hand."""
    AUTO_UPGRADE = _Behavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
    """Move to the current build on the next workflow task."""


@dataclass(frozen=True)
class WorkerDeploymentVersion:
    """One build of one worker deployment."""

    deployment_name: str
    build_id: str

    def to_canonical_string(self) -> str:
        """``<deployment_name>.<build_id>``."""
        return f"{self.deployment_name}.{self.build_id}"

    @staticmethod
    def from_canonical_string(canonical: str) -> WorkerDeploymentVersion:
        """Parse ``<deployment_name>.<build_id>`` (the name cannot contain a dot)."""
        name, dot, build_id = canonical.partition(".")
        if not dot:
            raise ValueError(
                f"Cannot parse version string: {canonical}, "
                "must be in format <deployment_name>.<build_id>"
            )
        return WorkerDeploymentVersion(name, build_id)

    def _to_proto(self) -> deployment_pb.WorkerDeploymentVersion:
        return deployment_pb.WorkerDeploymentVersion(
            deployment_name=self.deployment_name, build_id=self.build_id
        )


class VersioningOverride(ABC):
    """An override of a workflow's versioning behavior."""

    @abstractmethod
    def _to_proto(self) -> workflow_pb.VersioningOverride:
        """The Temporal API form."""


@dataclass(frozen=True)
class PinnedVersioningOverride(VersioningOverride):
    """Pin the workflow to one deployment version."""

    version: WorkerDeploymentVersion

    def _to_proto(self) -> workflow_pb.VersioningOverride:
        override = workflow_pb.VersioningOverride
        return override(
            # The deprecated fields too, for older servers.
            behavior=_Behavior.VERSIONING_BEHAVIOR_PINNED,
            pinned_version=self.version.to_canonical_string(),
            pinned=override.PinnedOverride(
                version=self.version._to_proto(),
                behavior=override.PinnedOverrideBehavior.PINNED_OVERRIDE_BEHAVIOR_PINNED,
            ),
        )


@dataclass(frozen=True)
class AutoUpgradeVersioningOverride(VersioningOverride):
    """Move the workflow to the current deployment version on its next task."""

    def _to_proto(self) -> workflow_pb.VersioningOverride:
        return workflow_pb.VersioningOverride(
            behavior=_Behavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE, auto_upgrade=True
        )


@dataclass(frozen=True)
class OneTimeVersioningOverride(VersioningOverride):
    """Send workflow tasks to ``target_version`` until one completes there, then clear."""

    target_version: WorkerDeploymentVersion

    def _to_proto(self) -> workflow_pb.VersioningOverride:
        return workflow_pb.VersioningOverride(
            one_time=workflow_pb.VersioningOverride.OneTimeOverride(
                target_deployment_version=self.target_version._to_proto()
            )
        )
