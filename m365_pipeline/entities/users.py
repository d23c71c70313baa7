"""Users (``GET /users``) with their assigned licences and, where the tenant and app may read it, sign-in activity."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, Guid, RequiredText


class AssignedLicense(GraphModel):
    graph_type = "microsoft.graph.assignedLicense"

    skuId: Guid = graph_field("Id of the assigned license SKU (subscribedSku.skuId).", PiiClass.NONE, required=True)
    disabledPlans: list[Guid] | None = graph_field("Service plan ids disabled for this user.", PiiClass.NONE)


class SignInActivity(GraphModel):
    graph_type = "microsoft.graph.signInActivity"

    lastSignInDateTime: GraphTimestamp = graph_field(
        "Last interactive sign-in attempt, successful or not; 0001-01-01 when never.", PiiClass.QUASI
    )
    lastSignInRequestId: str | None = graph_field("Request id of the last interactive sign-in.", PiiClass.QUASI)
    lastNonInteractiveSignInDateTime: GraphTimestamp = graph_field(
        "Last non-interactive sign-in attempt (a client signing in for the user).", PiiClass.QUASI
    )
    lastNonInteractiveSignInRequestId: str | None = graph_field(
        "Request id of the last non-interactive sign-in.", PiiClass.QUASI
    )
    lastSuccessfulSignInDateTime: GraphTimestamp = graph_field(
        "Last successful sign-in, interactive or not.", PiiClass.QUASI
    )
    lastSuccessfulSignInRequestId: str | None = graph_field(
        "Request id of the last successful sign-in.", PiiClass.QUASI
    )


class DirectoryObjectRef(GraphModel):
    graph_type = "microsoft.graph.directoryObject"

    id: Guid = graph_field("Object id.", PiiClass.QUASI, required=True)


class User(GraphModel):
    graph_type = "microsoft.graph.user"

    id: Guid = graph_field(
        "Object id of the user in Entra ID (a pseudonymous identifier).", PiiClass.QUASI, required=True
    )
    userPrincipalName: RequiredText = graph_field(
        "Sign-in name of the user (user@domain).", PiiClass.DIRECT, required=True
    )
    displayName: str | None = graph_field("Name shown for the user in the address book.", PiiClass.DIRECT)
    givenName: str | None = graph_field("Given (first) name.", PiiClass.DIRECT)
    surname: str | None = graph_field("Surname (family name).", PiiClass.DIRECT)
    mail: str | None = graph_field("Primary SMTP address.", PiiClass.DIRECT)
    jobTitle: str | None = graph_field("Job title.", PiiClass.QUASI)
    department: str | None = graph_field("Department.", PiiClass.QUASI)
    officeLocation: str | None = graph_field("Office location.", PiiClass.QUASI)
    usageLocation: str | None = graph_field(
        "Two-letter country code where the user's licensed services are used.", PiiClass.QUASI
    )
    preferredLanguage: str | None = graph_field("Preferred language (ISO 639-1 / BCP 47).", PiiClass.QUASI)
    accountEnabled: bool | None = graph_field("Whether the account can sign in.", PiiClass.NONE)
    userType: str | None = graph_field("Member or Guest.", PiiClass.NONE)
    createdDateTime: GraphTimestamp = graph_field("When the user object was created.", PiiClass.QUASI)
    onPremisesSyncEnabled: bool | None = graph_field(
        "True when synced from on-premises Active Directory; null when never synced.", PiiClass.NONE
    )
    businessPhones: list[str] | None = graph_field("Business telephone numbers.", PiiClass.DIRECT)
    mobilePhone: str | None = graph_field("Mobile telephone number.", PiiClass.DIRECT)
    assignedLicenses: list[AssignedLicense] | None = graph_field(
        "Licenses assigned to the user directly (not through a group).", PiiClass.NONE
    )
    signInActivity: SignInActivity | None = graph_field(
        "Last sign-in times; needs AuditLog.Read.All and an Entra ID P1/P2 licence.", PiiClass.QUASI
    )
    manager: DirectoryObjectRef | None = graph_field(
        "The user's manager ($expand=manager); null when none.", PiiClass.QUASI
    )


USERS = EntitySpec(
    name="users",
    path="/users",
    model=User,
    permission="User.Read.All",
    resource_unit_cost=2,
    optional_select=("signInActivity",),
    optional_permission="AuditLog.Read.All",
    expand=("manager",),
)
