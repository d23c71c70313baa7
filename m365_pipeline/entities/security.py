"""Who registered which authentication methods (``GET /reports/authenticationMethods/userRegistrationDetails``)
and the conditional access policies (``GET /identity/conditionalAccess/policies``). Both need a Microsoft Entra
ID P1/P2 licence: a tenant without one gets empty tables and a warning, not a failed extract."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, Guid


class UserRegistrationDetails(GraphModel):
    graph_type = "microsoft.graph.userRegistrationDetails"

    id: Guid = graph_field("Object id of the user.", PiiClass.QUASI, required=True)
    userPrincipalName: str | None = graph_field("Sign-in name of the user.", PiiClass.DIRECT)
    userDisplayName: str | None = graph_field("Name of the user.", PiiClass.DIRECT)
    userType: str | None = graph_field("member or guest (lower-case here).", PiiClass.NONE)
    isAdmin: bool | None = graph_field("Whether the user holds an admin role.", PiiClass.NONE)
    isMfaRegistered: bool | None = graph_field("Registered a strong method for MFA.", PiiClass.NONE)
    isMfaCapable: bool | None = graph_field("Registered and allowed a strong method.", PiiClass.NONE)
    isSsprRegistered: bool | None = graph_field("Registered for self-service password reset.", PiiClass.NONE)
    isSsprEnabled: bool | None = graph_field("Allowed self-service password reset.", PiiClass.NONE)
    isSsprCapable: bool | None = graph_field("Registered and allowed self-service password reset.", PiiClass.NONE)
    isPasswordlessCapable: bool | None = graph_field("Registered a passwordless method.", PiiClass.NONE)
    methodsRegistered: list[str] | None = graph_field(
        "Methods registered, e.g. microsoftAuthenticatorPush.", PiiClass.NONE
    )
    userPreferredMethodForSecondaryAuthentication: str | None = graph_field(
        "The method the user prefers for the second factor.", PiiClass.NONE
    )
    lastUpdatedDateTime: GraphTimestamp = graph_field("When the record was last updated.", PiiClass.NONE)


class GrantControls(GraphModel):
    graph_type = "microsoft.graph.conditionalAccessGrantControls"

    operator: str | None = graph_field("AND or OR between the controls.", PiiClass.NONE)
    builtInControls: list[str] | None = graph_field("mfa, compliantDevice, block, ...", PiiClass.NONE)


class ConditionalAccessPolicy(GraphModel):
    graph_type = "microsoft.graph.conditionalAccessPolicy"

    id: Guid = graph_field("Id of the policy.", PiiClass.NONE, required=True)
    displayName: str | None = graph_field("Name of the policy.", PiiClass.NONE)
    state: str | None = graph_field("enabled, disabled or enabledForReportingButNotEnforced.", PiiClass.NONE)
    createdDateTime: GraphTimestamp = graph_field("When the policy was created.", PiiClass.NONE)
    modifiedDateTime: GraphTimestamp = graph_field("When the policy was last changed.", PiiClass.NONE)
    grantControls: GrantControls | None = graph_field("What the policy requires to grant access.", PiiClass.NONE)


USER_REGISTRATION_DETAILS = EntitySpec(
    name="user_registration_details",
    path="/reports/authenticationMethods/userRegistrationDetails",
    model=UserRegistrationDetails,
    permission="AuditLog.Read.All",
    paged=False,
    optional=True,
)

CONDITIONAL_ACCESS_POLICIES = EntitySpec(
    name="conditional_access_policies",
    path="/identity/conditionalAccess/policies",
    model=ConditionalAccessPolicy,
    permission="Policy.Read.All",
    paged=False,
    optional=True,
)
