"""Product names for SKU part numbers, as the old tool printed them in its reports.

Where the old tool had its own spelling (`Exchange Online (Plan 1)`, `Teams Exploratory`, `Power BI (無料)`)
it is kept, so that old and new reports compare equal; the rest are Microsoft's product names from "Product
names and service plan identifiers for licensing". A part number not listed is shown as itself.
"""

from __future__ import annotations

_PRODUCT_NAMES = {
    # Microsoft 365 and Office 365 suites
    "SPE_E3": "Microsoft 365 E3",
    "SPE_E5": "Microsoft 365 E5",
    "SPE_F1": "Microsoft 365 F3",
    "M365_F1_COMM": "Microsoft 365 F1",
    "Microsoft_365_E3_(no_Teams)": "Microsoft 365 E3 (no Teams)",
    "Microsoft_365_E5_(no_Teams)": "Microsoft 365 E5 (no Teams)",
    "DEVELOPERPACK_E5": "Microsoft 365 E5 Developer (without Windows and Audio Conferencing)",
    "ENTERPRISEPACK": "Office 365 E3",
    "ENTERPRISEPREMIUM": "Office 365 E5",
    "ENTERPRISEPREMIUM_NOPSTNCONF": "Office 365 E5 without Audio Conferencing",
    "STANDARDPACK": "Office 365 E1",
    "DESKLESSPACK": "Office 365 F3",
    "SPB": "Microsoft 365 Business Premium",
    "O365_BUSINESS_PREMIUM": "Microsoft 365 Business Standard",
    "O365_BUSINESS_ESSENTIALS": "Microsoft 365 Business Basic",
    "O365_BUSINESS": "Microsoft 365 Apps for business",
    "SMB_BUSINESS": "Microsoft 365 Apps for business",
    "OFFICESUBSCRIPTION": "Microsoft 365 Apps for enterprise",
    "M365EDU_A3_FACULTY": "Microsoft 365 A3 for faculty",
    "M365EDU_A3_STUDENT": "Microsoft 365 A3 for students",
    "STANDARDWOFFPACK_FACULTY": "Office 365 A1 for faculty",
    "STANDARDWOFFPACK_STUDENT": "Office 365 A1 for students",
    "Microsoft_365_Copilot": "Microsoft 365 Copilot",
    # Exchange Online and SharePoint Online
    "EXCHANGESTANDARD": "Exchange Online (Plan 1)",
    "EXCHANGEENTERPRISE": "Exchange Online (Plan 2)",
    "EXCHANGEDESKLESS": "Exchange Online Kiosk",
    "EXCHANGEESSENTIALS": "Exchange Online Essentials",
    "EXCHANGEARCHIVE_ADDON": "Exchange Online Archiving for Exchange Online",
    "EXCHANGEARCHIVE": "Exchange Online Archiving for Exchange Server",
    "SHAREPOINTSTANDARD": "SharePoint Online (Plan 1)",
    "SHAREPOINTENTERPRISE": "SharePoint Online (Plan 2)",
    "SHAREPOINTSTORAGE": "Office 365 Extra File Storage",
    # Teams and voice
    "TEAMS_EXPLORATORY": "Teams Exploratory",
    "TEAMS_FREE": "Microsoft Teams (Free)",
    "Microsoft_Teams_Premium": "Microsoft Teams Premium",
    "MEETING_ROOM": "Microsoft Teams Rooms Standard",
    "Microsoft_Teams_Rooms_Pro": "Microsoft Teams Rooms Pro",
    "MCOCAP": "Microsoft Teams Shared Devices",
    "MCOEV": "Microsoft Teams Phone Standard",
    "PHONESYSTEM_VIRTUALUSER": "Microsoft Teams Phone Resource Account",
    "MCOMEETADV": "Microsoft 365 Audio Conferencing",
    "MCOPSTN1": "Skype for Business PSTN Domestic Calling",
    "MCOPSTN2": "Skype for Business PSTN Domestic and International Calling",
    "MCOSTANDARD": "Skype for Business Online (Plan 2)",
    "STREAM": "Microsoft Stream",
    # Identity, device management and security
    "EMS": "Enterprise Mobility + Security E3",
    "EMSPREMIUM": "Enterprise Mobility + Security E5",
    "AAD_PREMIUM": "Microsoft Entra ID P1",
    "AAD_PREMIUM_P2": "Microsoft Entra ID P2",
    "INTUNE_A": "Microsoft Intune Plan 1",
    "RIGHTSMANAGEMENT": "Azure Information Protection Plan 1",
    "RMSBASIC": "Rights Management Service Basic Content Protection",
    "ATP_ENTERPRISE": "Microsoft Defender for Office 365 (Plan 1)",
    "THREAT_INTELLIGENCE": "Microsoft Defender for Office 365 (Plan 2)",
    "WIN_DEF_ATP": "Microsoft Defender for Endpoint",
    "DEFENDER_ENDPOINT_P1": "Microsoft Defender for Endpoint P1",
    "IDENTITY_THREAT_PROTECTION": "Microsoft 365 E5 Security",
    "INFORMATION_PROTECTION_COMPLIANCE": "Microsoft 365 E5 Compliance",
    "WIN10_VDA_E3": "Windows 10/11 Enterprise E3",
    "WIN10_VDA_E5": "Windows 10/11 Enterprise E5",
    "WINDOWS_STORE": "Windows Store for Business",
    # Power Platform
    "POWER_BI_PRO": "Power BI Pro",
    "POWER_BI_STANDARD": "Power BI (無料)",
    "PBI_PREMIUM_PER_USER": "Power BI Premium Per User",
    "FLOW_FREE": "Microsoft Power Automate Free",
    "FLOW_PER_USER": "Power Automate per user plan",
    "POWERAPPS_VIRAL": "Microsoft Power Apps Plan 2 Trial",
    "POWERAPPS_DEV": "Microsoft Power Apps for Developer",
    "POWERAPPS_PER_USER": "Power Apps Premium",
    "CCIBOTS_PRIVPREV_VIRAL": "Power Virtual Agents Viral Trial",
    # Visio and Project
    "VISIOCLIENT": "Visio Plan 2",
    "VISIOONLINE_PLAN1": "Visio Plan 1",
    "PROJECTPREMIUM": "Project Plan 5",
    "PROJECTPROFESSIONAL": "Project Plan 3",
    "PROJECT_P1": "Project Plan 1",
    "PROJECTESSENTIALS": "Project Online Essentials",
}

# Graph spells part numbers in upper case, but its own documentation also shows `AAD_Premium`.
_PRODUCT_NAMES_BY_UPPER_PART_NUMBER = {part.upper(): name for part, name in _PRODUCT_NAMES.items()}


def sku_display_name(sku_part_number: str) -> str:
    """The product name for `sku_part_number`, or the part number itself when it is not a known product."""
    return _PRODUCT_NAMES_BY_UPPER_PART_NUMBER.get(sku_part_number.upper(), sku_part_number)
