"""The license products (subscribedSkus) of a synthetic tenant, with Microsoft's real skuIds and service plan ids.

``role`` says how the tenant generator hands a product out: a ``suite`` is a user's main license, an ``addon``
comes on top of a suite, an ``idle`` product is bought but assigned to nobody.
"""

from __future__ import annotations

from typing import Literal, NamedTuple


class ServicePlan(NamedTuple):
    name: str
    plan_id: str
    applies_to: str = "User"


class Sku(NamedTuple):
    part_number: str
    sku_id: str
    plans: tuple[ServicePlan, ...]
    role: Literal["suite", "addon", "idle"]
    weight: int  # relative share among the products of the same role
    has_mailbox: bool = False
    viral: bool = False  # self-service "free" products: a huge prepaid pool


EXCHANGE_ENTERPRISE = ServicePlan("EXCHANGE_S_ENTERPRISE", "efb87545-963c-4e0d-99df-69c6916d9eb0")
EXCHANGE_STANDARD = ServicePlan("EXCHANGE_S_STANDARD", "9aaf7827-d63c-4b61-89c3-182f06f82e5c")
EXCHANGE_FOUNDATION = ServicePlan("EXCHANGE_S_FOUNDATION", "113feb6c-3fe4-4440-bddc-54d774bf0318", "Company")
SHAREPOINT = ServicePlan("SHAREPOINTENTERPRISE", "5dbe027f-2339-4123-9542-606e4d348a72")
OFFICE_ONLINE = ServicePlan("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014")
SKYPE = ServicePlan("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c")
OFFICE_APPS = ServicePlan("OFFICESUBSCRIPTION", "43de0ff5-c92c-492b-9116-175376d08c38")
TEAMS = ServicePlan("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929")
YAMMER = ServicePlan("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653")
SWAY = ServicePlan("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97")
FORMS_E3 = ServicePlan("FORMS_PLAN_E3", "2789c901-c14e-48ab-a76a-be334d9d793a")
FORMS_E5 = ServicePlan("FORMS_PLAN_E5", "e212cbc7-0961-4c40-9825-01117710dcb1")
PLANNER = ServicePlan("PROJECTWORKMANAGEMENT", "b737dad2-2f6c-4c65-90e3-ca563267e8b9")
STREAM = ServicePlan("STREAM_O365_E3", "9e700747-8b1d-45e5-ab8d-ef187ceec156")
FLOW_O365 = ServicePlan("FLOW_O365_P2", "76846ad7-7776-4c40-a281-a386362dd1b9")
POWERAPPS_O365 = ServicePlan("POWERAPPS_O365_P2", "c68f8d98-5534-41c8-bf36-22fa496fa792")
INTUNE = ServicePlan("INTUNE_A", "c1ec4a95-1f05-45b3-a911-aa3fa01094f5")
ENTRA_P1 = ServicePlan("AAD_PREMIUM", "41781fb2-bc02-4b7c-bd55-b576c07bb09d")
ENTRA_P2 = ServicePlan("AAD_PREMIUM_P2", "eec0eb4f-6444-4f95-aba0-50c24d67f998")
RIGHTS_MANAGEMENT = ServicePlan("RMS_S_ENTERPRISE", "bea4c11e-220a-4e6d-8eb8-8ea15d019f90")
RIGHTS_MANAGEMENT_PREMIUM = ServicePlan("RMS_S_PREMIUM", "6c57d4b6-3b23-47a5-9bc9-69f17b4947b3")
PHONE_SYSTEM = ServicePlan("MCOEV", "4828c8ec-dc2e-4779-b502-87ac9ce28ab7")
AUDIO_CONFERENCING = ServicePlan("MCOMEETADV", "3e26ee1f-8a5f-4d52-aee2-b81ce45c8f40")
DEFENDER_OFFICE = ServicePlan("ATP_ENTERPRISE", "f20fedf3-f3c3-43c3-8267-2bfdd51c0939")
POWER_BI_PRO_PLAN = ServicePlan("BI_AZURE_P2", "70d33638-9c74-4d01-bfd3-562de28bd4ba")
POWER_BI_FREE_PLAN = ServicePlan("BI_AZURE_P0", "2049e525-b859-401b-b2a0-e0a31c4b1fe4")
FLOW_VIRAL = ServicePlan("FLOW_P2_VIRAL", "50e68c76-46c6-4674-81f9-75456511b170")
DATAVERSE_VIRAL = ServicePlan("DYN365_CDS_VIRAL", "17ab22cd-a0b3-4536-910a-cb6eb12696c0")
VISIO_CLIENT = ServicePlan("VISIO_CLIENT_SUBSCRIPTION", "663a804f-1c30-4ff0-9915-9db84f0d1cea")
VISIO_ONLINE = ServicePlan("VISIOONLINE", "2bdbaf8f-738f-4ac7-9234-3c3ee2ce7d0f")
PROJECT_CLIENT = ServicePlan("PROJECT_CLIENT_SUBSCRIPTION", "fafd7243-e5c1-4a3a-9e40-495efcb1d3c3")
PROJECT_ONLINE = ServicePlan("SHAREPOINT_PROJECT", "fe71d6c3-a2ea-4499-9778-da042bf08063")

SKUS: tuple[Sku, ...] = (
    Sku(
        "SPE_E3",
        "05e9a617-0261-4cee-bb44-138d3ef5d965",
        (
            EXCHANGE_ENTERPRISE,
            SHAREPOINT,
            OFFICE_ONLINE,
            SKYPE,
            OFFICE_APPS,
            TEAMS,
            YAMMER,
            SWAY,
            FORMS_E3,
            PLANNER,
            STREAM,
            FLOW_O365,
            POWERAPPS_O365,
            INTUNE,
            ENTRA_P1,
            RIGHTS_MANAGEMENT,
            EXCHANGE_FOUNDATION,
        ),
        "suite",
        45,
        has_mailbox=True,
    ),
    Sku(
        "ENTERPRISEPACK",
        "6fd2c87f-b296-42f0-b197-1e91e994b900",
        (
            EXCHANGE_ENTERPRISE,
            SHAREPOINT,
            OFFICE_ONLINE,
            SKYPE,
            OFFICE_APPS,
            TEAMS,
            YAMMER,
            SWAY,
            FORMS_E3,
            PLANNER,
            STREAM,
            FLOW_O365,
            POWERAPPS_O365,
            RIGHTS_MANAGEMENT,
            EXCHANGE_FOUNDATION,
        ),
        "suite",
        22,
        has_mailbox=True,
    ),
    Sku(
        "SPE_E5",
        "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
        (
            EXCHANGE_ENTERPRISE,
            SHAREPOINT,
            OFFICE_ONLINE,
            SKYPE,
            OFFICE_APPS,
            TEAMS,
            YAMMER,
            SWAY,
            FORMS_E5,
            PLANNER,
            STREAM,
            FLOW_O365,
            POWERAPPS_O365,
            INTUNE,
            ENTRA_P1,
            ENTRA_P2,
            RIGHTS_MANAGEMENT,
            RIGHTS_MANAGEMENT_PREMIUM,
            PHONE_SYSTEM,
            AUDIO_CONFERENCING,
            DEFENDER_OFFICE,
            POWER_BI_PRO_PLAN,
            EXCHANGE_FOUNDATION,
        ),
        "suite",
        10,
        has_mailbox=True,
    ),
    Sku(
        "EXCHANGESTANDARD",
        "4b9405b0-7788-4568-add1-99614e613b69",
        (EXCHANGE_STANDARD, EXCHANGE_FOUNDATION),
        "suite",
        13,
        has_mailbox=True,
    ),
    Sku("POWER_BI_PRO", "f8a1db68-be16-40ed-86d5-cb42ce701560", (POWER_BI_PRO_PLAN, EXCHANGE_FOUNDATION), "addon", 40),
    Sku(
        "FLOW_FREE",
        "f30db892-07e9-47e9-837c-80727f46fd3d",
        (FLOW_VIRAL, DATAVERSE_VIRAL, EXCHANGE_FOUNDATION),
        "addon",
        25,
        viral=True,
    ),
    Sku(
        "POWER_BI_STANDARD",
        "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235",
        (POWER_BI_FREE_PLAN, EXCHANGE_FOUNDATION),
        "addon",
        15,
        viral=True,
    ),
    Sku(
        "VISIOCLIENT",
        "c5928f49-12ba-48f7-ada3-0d743a3601d5",
        (VISIO_CLIENT, VISIO_ONLINE, EXCHANGE_FOUNDATION),
        "addon",
        12,
    ),
    Sku(
        "PROJECTPROFESSIONAL",
        "53818b1b-4a27-454b-8896-0dba576410e6",
        (PROJECT_CLIENT, PROJECT_ONLINE, PLANNER, EXCHANGE_FOUNDATION),
        "addon",
        8,
    ),
    Sku("EMS", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e", (INTUNE, ENTRA_P1, RIGHTS_MANAGEMENT_PREMIUM), "idle", 0),
)
