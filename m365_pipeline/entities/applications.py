"""App registrations (``GET /applications``) and service principals (``GET /servicePrincipals``) with their
secrets' and certificates' expiry: the old tool's app-registration report."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, Guid


class PasswordCredential(GraphModel):
    graph_type = "microsoft.graph.passwordCredential"

    keyId: Guid | None = graph_field("Id of the client secret.", PiiClass.NONE)
    displayName: str | None = graph_field("Name given to the secret.", PiiClass.NONE)
    hint: str | None = graph_field("First characters of the secret.", PiiClass.NONE)
    startDateTime: GraphTimestamp = graph_field("When the secret became valid.", PiiClass.NONE)
    endDateTime: GraphTimestamp = graph_field("When the secret expires.", PiiClass.NONE)


class KeyCredential(GraphModel):
    graph_type = "microsoft.graph.keyCredential"

    keyId: Guid | None = graph_field("Id of the certificate credential.", PiiClass.NONE)
    displayName: str | None = graph_field("Name of the certificate (its subject).", PiiClass.NONE)
    type: str | None = graph_field("AsymmetricX509Cert, X509CertAndPassword or Symmetric.", PiiClass.NONE)
    usage: str | None = graph_field("Verify or Sign.", PiiClass.NONE)
    startDateTime: GraphTimestamp = graph_field("When the certificate became valid.", PiiClass.NONE)
    endDateTime: GraphTimestamp = graph_field("When the certificate expires.", PiiClass.NONE)


class Application(GraphModel):
    graph_type = "microsoft.graph.application"

    id: Guid = graph_field("Object id of the app registration.", PiiClass.NONE, required=True)
    appId: Guid | None = graph_field("Application (client) id.", PiiClass.NONE)
    displayName: str | None = graph_field("Name of the application.", PiiClass.NONE)
    createdDateTime: GraphTimestamp = graph_field("When the app was registered.", PiiClass.NONE)
    publisherDomain: str | None = graph_field("Verified publisher domain.", PiiClass.NONE)
    signInAudience: str | None = graph_field("AzureADMyOrg, AzureADMultipleOrgs, ...", PiiClass.NONE)
    passwordCredentials: list[PasswordCredential] | None = graph_field("Client secrets.", PiiClass.NONE)
    keyCredentials: list[KeyCredential] | None = graph_field("Certificates.", PiiClass.NONE)


class ServicePrincipal(GraphModel):
    graph_type = "microsoft.graph.servicePrincipal"

    id: Guid = graph_field("Object id of the service principal.", PiiClass.NONE, required=True)
    appId: Guid | None = graph_field("Application (client) id it represents.", PiiClass.NONE)
    displayName: str | None = graph_field("Name of the service principal.", PiiClass.NONE)
    appDisplayName: str | None = graph_field("Name of the application.", PiiClass.NONE)
    accountEnabled: bool | None = graph_field("Whether it can sign in.", PiiClass.NONE)
    servicePrincipalType: str | None = graph_field("Application, ManagedIdentity, Legacy, ...", PiiClass.NONE)
    appOwnerOrganizationId: Guid | None = graph_field("Tenant that registered the application.", PiiClass.NONE)
    passwordCredentials: list[PasswordCredential] | None = graph_field("Client secrets.", PiiClass.NONE)
    keyCredentials: list[KeyCredential] | None = graph_field("Certificates.", PiiClass.NONE)


APPLICATIONS = EntitySpec(
    name="applications", path="/applications", model=Application, permission="Application.Read.All"
)

SERVICE_PRINCIPALS = EntitySpec(
    name="service_principals", path="/servicePrincipals", model=ServicePrincipal, permission="Application.Read.All"
)
