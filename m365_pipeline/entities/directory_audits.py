"""Directory audits (``GET /auditLogs/directoryAudits``): changes to the directory, a UTC day at a time."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, RequiredText


class AuditUser(GraphModel):
    graph_type = "microsoft.graph.userIdentity"

    id: str | None = graph_field("Object id of the user who acted.", PiiClass.QUASI)
    displayName: str | None = graph_field("Name of the user who acted.", PiiClass.DIRECT)
    userPrincipalName: str | None = graph_field("Sign-in name of the user who acted.", PiiClass.DIRECT)
    ipAddress: str | None = graph_field("IP address the user acted from.", PiiClass.QUASI)


class AuditApp(GraphModel):
    graph_type = "microsoft.graph.appIdentity"

    appId: str | None = graph_field("Id of the application that acted.", PiiClass.NONE)
    displayName: str | None = graph_field("Name of the application that acted.", PiiClass.NONE)
    servicePrincipalId: str | None = graph_field("Service principal of the application.", PiiClass.NONE)
    servicePrincipalName: str | None = graph_field("Name of the service principal.", PiiClass.NONE)


class AuditActivityInitiator(GraphModel):
    graph_type = "microsoft.graph.auditActivityInitiator"

    user: AuditUser | None = graph_field("The user who acted, when a user did.", PiiClass.DIRECT)
    app: AuditApp | None = graph_field("The application that acted, when an application did.", PiiClass.NONE)


class ModifiedProperty(GraphModel):
    graph_type = "microsoft.graph.modifiedProperty"

    displayName: str | None = graph_field("Name of the property changed.", PiiClass.NONE)
    oldValue: str | None = graph_field("Value before the change (JSON text).", PiiClass.QUASI)
    newValue: str | None = graph_field("Value after the change (JSON text).", PiiClass.QUASI)


class TargetResource(GraphModel):
    graph_type = "microsoft.graph.targetResource"

    id: str | None = graph_field("Id of the object changed.", PiiClass.QUASI)
    displayName: str | None = graph_field("Name of the object changed.", PiiClass.DIRECT)
    type: str | None = graph_field("Kind of object: User, Group, Device, ServicePrincipal...", PiiClass.NONE)
    userPrincipalName: str | None = graph_field("Sign-in name, when the object is a user.", PiiClass.DIRECT)
    modifiedProperties: list[ModifiedProperty] | None = graph_field(
        "Properties changed, with old and new values.", PiiClass.QUASI
    )


class KeyValue(GraphModel):
    graph_type = "microsoft.graph.keyValue"

    key: str | None = graph_field("Name of the detail.", PiiClass.NONE)
    value: str | None = graph_field("Value of the detail.", PiiClass.QUASI)


class DirectoryAudit(GraphModel):
    graph_type = "microsoft.graph.directoryAudit"

    id: RequiredText = graph_field("Id of the audit event.", PiiClass.NONE, required=True)
    activityDateTime: GraphTimestamp = graph_field(
        "When the activity happened (UTC; up to 7 fractional digits, kept exactly as Graph sent it).",
        PiiClass.QUASI,
        required=True,
    )
    activityDisplayName: str | None = graph_field("What happened, e.g. Add member to group.", PiiClass.NONE)
    category: str | None = graph_field("Area changed: UserManagement, GroupManagement...", PiiClass.NONE)
    correlationId: str | None = graph_field("Id shared by the events of one operation.", PiiClass.NONE)
    result: str | None = graph_field("success, failure, timeout or unknownFutureValue.", PiiClass.NONE)
    resultReason: str | None = graph_field("Why the result is what it is.", PiiClass.NONE)
    loggedByService: str | None = graph_field("Service that logged the event.", PiiClass.NONE)
    operationType: str | None = graph_field("Add, Assign, Update, Delete...", PiiClass.NONE)
    initiatedBy: AuditActivityInitiator | None = graph_field("Who or what acted.", PiiClass.DIRECT)
    targetResources: list[TargetResource] | None = graph_field("Objects the activity changed.", PiiClass.DIRECT)
    additionalDetails: list[KeyValue] | None = graph_field(
        "More about the activity, as key-value pairs.", PiiClass.QUASI
    )


DIRECTORY_AUDITS = EntitySpec(
    name="directory_audits",
    path="/auditLogs/directoryAudits",
    model=DirectoryAudit,
    permission="AuditLog.Read.All",
)
