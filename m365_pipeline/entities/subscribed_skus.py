"""The tenant's license subscriptions (``GET /subscribedSkus``): units prepaid and consumed, and service plans."""

from __future__ import annotations

from m365_pipeline.entities.pii import PiiClass
from m365_pipeline.entities.spec import EntitySpec, GraphModel, graph_field
from m365_pipeline.entities.types import Guid, RequiredText


class LicenseUnitsDetail(GraphModel):
    graph_type = "microsoft.graph.licenseUnitsDetail"

    enabled: int | None = graph_field("Prepaid licenses in the enabled state.", PiiClass.NONE)
    lockedOut: int | None = graph_field("Prepaid licenses in the locked-out state.", PiiClass.NONE)
    suspended: int | None = graph_field("Prepaid licenses in the suspended state.", PiiClass.NONE)
    warning: int | None = graph_field("Prepaid licenses in the warning state.", PiiClass.NONE)


class ServicePlanInfo(GraphModel):
    graph_type = "microsoft.graph.servicePlanInfo"

    servicePlanId: Guid | None = graph_field("Id of the service plan.", PiiClass.NONE)
    servicePlanName: RequiredText = graph_field("Name of the service plan, e.g. TEAMS1.", PiiClass.NONE, required=True)
    provisioningStatus: str | None = graph_field("Success, Disabled, PendingInput, ...", PiiClass.NONE)
    appliesTo: str | None = graph_field("Whom the plan is assigned to: User or Company.", PiiClass.NONE)


class SubscribedSku(GraphModel):
    graph_type = "microsoft.graph.subscribedSku"

    id: str | None = graph_field("Id of the subscription: {tenant id}_{sku id}.", PiiClass.NONE)
    skuId: Guid = graph_field("Id of the license SKU (product).", PiiClass.NONE, required=True)
    skuPartNumber: RequiredText = graph_field(
        "Part number of the SKU, e.g. ENTERPRISEPACK.", PiiClass.NONE, required=True
    )
    accountName: str | None = graph_field("Name of the account that owns the subscription.", PiiClass.NONE)
    accountId: str | None = graph_field("Id of the account that owns the subscription.", PiiClass.NONE)
    appliesTo: str | None = graph_field("Whom the SKU is assigned to: User or Company.", PiiClass.NONE)
    capabilityStatus: str | None = graph_field(
        "Subscription state: Enabled, Warning, Suspended, Deleted or LockedOut.", PiiClass.NONE
    )
    consumedUnits: int | None = graph_field("Licenses assigned from this SKU.", PiiClass.NONE)
    prepaidUnits: LicenseUnitsDetail | None = graph_field("Prepaid licenses by state.", PiiClass.NONE)
    servicePlans: list[ServicePlanInfo] | None = graph_field("Service plans of the SKU.", PiiClass.NONE)
    subscriptionIds: list[str] | None = graph_field("Ids of the commerce subscriptions.", PiiClass.NONE)


SUBSCRIBED_SKUS = EntitySpec(
    name="subscribed_skus",
    path="/subscribedSkus",
    model=SubscribedSku,
    permission="Organization.Read.All",
    paged=False,
    resource_unit_cost=3,
)
