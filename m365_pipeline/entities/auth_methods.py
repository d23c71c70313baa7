"""Each user's registered authentication methods (``GET /users/{id}/authentication/methods``,
authentication-list-methods.md), one raw record per method with the user's id.

The answer is a list of ``authenticationMethod`` subtypes told apart by ``@odata.type`` (stored as ``odataType``);
the properties below are the union of the v1.0 types' readable ones (a type leaves the others null). Secrets are
never readable (``password``, ``secretKey``, ``temporaryAccessPass`` come back null) and are not stored.
"""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import GraphTimestamp, Guid, RequiredText

METHOD_TYPES = {
    "#microsoft.graph.passwordAuthenticationMethod": "password",
    "#microsoft.graph.phoneAuthenticationMethod": "phone",
    "#microsoft.graph.emailAuthenticationMethod": "email",
    "#microsoft.graph.fido2AuthenticationMethod": "fido2",
    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticator",
    "#microsoft.graph.softwareOathAuthenticationMethod": "softwareOath",
    "#microsoft.graph.temporaryAccessPassAuthenticationMethod": "temporaryAccessPass",
    "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusiness",
    "#microsoft.graph.platformCredentialAuthenticationMethod": "platformCredential",
}
"""The documented method types (@odata.type -> the short name the warehouse keeps); another type is kept as sent."""


class UserAuthenticationMethod(GraphModel):
    graph_type = "microsoft.graph.authenticationMethod"

    userId: Guid = graph_field("Object id of the user the method is registered to.", PiiClass.QUASI, required=True)
    id: RequiredText = graph_field(
        "Id of the method (the password method has the same id for every user).", PiiClass.QUASI, required=True
    )
    odataType: RequiredText = graph_field(
        "Graph type of the method, e.g. #microsoft.graph.fido2AuthenticationMethod.", PiiClass.NONE, required=True
    )
    displayName: str | None = graph_field(
        "Name of the device or key (Authenticator, FIDO2, Windows Hello, platform credential).", PiiClass.QUASI
    )
    createdDateTime: GraphTimestamp = graph_field("When the method was registered.", PiiClass.QUASI)
    phoneNumber: str | None = graph_field("Phone number of a phone method.", PiiClass.DIRECT)
    phoneType: str | None = graph_field("mobile, alternateMobile or office (phone method).", PiiClass.NONE)
    smsSignInState: str | None = graph_field("Whether the phone may sign in by SMS (phone method).", PiiClass.NONE)
    emailAddress: str | None = graph_field("Address of an email method (self-service password reset).", PiiClass.DIRECT)
    deviceTag: str | None = graph_field("Tag of the Authenticator app's device.", PiiClass.NONE)
    phoneAppVersion: str | None = graph_field("Version of the Authenticator app.", PiiClass.NONE)
    aaGuid: str | None = graph_field("Authenticator attestation GUID of a FIDO2 key's model.", PiiClass.NONE)
    model: str | None = graph_field("Model of a FIDO2 key.", PiiClass.NONE)
    attestationLevel: str | None = graph_field("attested or notAttested (FIDO2 key).", PiiClass.NONE)
    keyStrength: str | None = graph_field(
        "normal, weak or unknown (Windows Hello, platform credential).", PiiClass.NONE
    )
    isUsable: bool | None = graph_field("Whether a temporary access pass can still be used.", PiiClass.NONE)
    lifetimeInMinutes: int | None = graph_field("Lifetime of a temporary access pass.", PiiClass.NONE)


USER_AUTHENTICATION_METHODS = EntitySpec(
    name="user_authentication_methods",
    path="/users/{id}/authentication/methods",
    model=UserAuthenticationMethod,
    permission="UserAuthenticationMethod.Read.All",
    paged=False,
)
