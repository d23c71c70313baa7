"""Sign-ins (``GET /auditLogs/signIns``): one event per sign-in attempt, newest first, a UTC day at a time."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, RequiredText


class SignInStatus(GraphModel):
    graph_type = "microsoft.graph.signInStatus"

    errorCode: int | None = graph_field("0 for a successful sign-in, else the Entra error code.", PiiClass.NONE)
    failureReason: str | None = graph_field("Why the sign-in failed.", PiiClass.NONE)
    additionalDetails: str | None = graph_field("More about the outcome.", PiiClass.NONE)


class DeviceDetail(GraphModel):
    graph_type = "microsoft.graph.deviceDetail"

    deviceId: str | None = graph_field("Id of the device; empty when unregistered.", PiiClass.QUASI)
    displayName: str | None = graph_field("Name of the device.", PiiClass.QUASI)
    operatingSystem: str | None = graph_field("Operating system of the device.", PiiClass.NONE)
    browser: str | None = graph_field("Browser used to sign in.", PiiClass.NONE)
    isCompliant: bool | None = graph_field("Whether the device is compliant.", PiiClass.NONE)
    isManaged: bool | None = graph_field("Whether the device is managed.", PiiClass.NONE)
    trustType: str | None = graph_field("How the device is joined to Entra ID.", PiiClass.NONE)


class GeoCoordinates(GraphModel):
    graph_type = "microsoft.graph.geoCoordinates"

    altitude: float | None = graph_field("Altitude in metres.", PiiClass.QUASI)
    latitude: float | None = graph_field("Latitude of the sign-in's location.", PiiClass.QUASI)
    longitude: float | None = graph_field("Longitude of the sign-in's location.", PiiClass.QUASI)


class SignInLocation(GraphModel):
    graph_type = "microsoft.graph.signInLocation"

    city: str | None = graph_field("City the sign-in came from (by IP address).", PiiClass.QUASI)
    state: str | None = graph_field("State or province the sign-in came from.", PiiClass.QUASI)
    countryOrRegion: str | None = graph_field("Two-letter country or region code.", PiiClass.QUASI)
    geoCoordinates: GeoCoordinates | None = graph_field("Coordinates of the location.", PiiClass.QUASI)


class AppliedConditionalAccessPolicy(GraphModel):
    graph_type = "microsoft.graph.appliedConditionalAccessPolicy"

    id: str | None = graph_field("Id of the conditional access policy.", PiiClass.NONE)
    displayName: str | None = graph_field("Name of the policy.", PiiClass.NONE)
    enforcedGrantControls: list[str] | None = graph_field("Grant controls the policy enforced.", PiiClass.NONE)
    enforcedSessionControls: list[str] | None = graph_field("Session controls the policy enforced.", PiiClass.NONE)
    result: str | None = graph_field(
        "success, failure, notApplied, notEnabled, unknown, or (asked for) reportOnly*; unknownFutureValue otherwise.",
        PiiClass.NONE,
    )


class SignIn(GraphModel):
    graph_type = "microsoft.graph.signIn"

    id: RequiredText = graph_field("Id of the sign-in event.", PiiClass.NONE, required=True)
    createdDateTime: GraphTimestamp = graph_field(
        "When the sign-in happened (UTC; up to 7 fractional digits, kept exactly as Graph sent it).",
        PiiClass.QUASI,
        required=True,
    )
    userDisplayName: str | None = graph_field("Name of the user who signed in.", PiiClass.DIRECT)
    userPrincipalName: str | None = graph_field("Sign-in name of the user.", PiiClass.DIRECT)
    userId: str | None = graph_field("Object id of the user.", PiiClass.QUASI)
    appId: str | None = graph_field("Id of the application signed in to.", PiiClass.NONE)
    appDisplayName: str | None = graph_field("Name of the application signed in to.", PiiClass.NONE)
    ipAddress: str | None = graph_field("IP address the sign-in came from.", PiiClass.QUASI)
    clientAppUsed: str | None = graph_field("Client used: Browser, Exchange ActiveSync, IMAP4...", PiiClass.NONE)
    correlationId: str | None = graph_field("Id shared by the requests of one sign-in flow.", PiiClass.NONE)
    conditionalAccessStatus: str | None = graph_field(
        "Outcome of conditional access: success, failure, notApplied.", PiiClass.NONE
    )
    isInteractive: bool | None = graph_field("Whether the user signed in interactively.", PiiClass.NONE)
    riskDetail: str | None = graph_field("Why the risk state is what it is.", PiiClass.NONE)
    riskLevelAggregated: str | None = graph_field("Aggregated risk level.", PiiClass.NONE)
    riskLevelDuringSignIn: str | None = graph_field("Risk level during the sign-in.", PiiClass.NONE)
    riskState: str | None = graph_field("Risk state of the user.", PiiClass.NONE)
    riskEventTypes: list[str] | None = graph_field("Risk event types of the sign-in.", PiiClass.NONE)
    resourceDisplayName: str | None = graph_field("Name of the resource signed in to.", PiiClass.NONE)
    resourceId: str | None = graph_field("Id of the resource signed in to.", PiiClass.NONE)
    status: SignInStatus | None = graph_field("Outcome of the sign-in.", PiiClass.NONE)
    deviceDetail: DeviceDetail | None = graph_field("Device the sign-in came from.", PiiClass.QUASI)
    location: SignInLocation | None = graph_field("Where the sign-in came from.", PiiClass.QUASI)
    appliedConditionalAccessPolicies: list[AppliedConditionalAccessPolicy] | None = graph_field(
        "Conditional access policies evaluated for the sign-in and their results.", PiiClass.NONE
    )


SIGN_INS = EntitySpec(
    name="sign_ins",
    path="/auditLogs/signIns",
    model=SignIn,
    permission="AuditLog.Read.All",
)
