from __future__ import annotations

import pytest

from m365_pipeline.reports.sku_names import sku_display_name


@pytest.mark.parametrize(
    ("part_number", "product_name"),
    [
        ("SPE_E3", "Microsoft 365 E3"),
        ("SPE_E5", "Microsoft 365 E5"),
        ("ENTERPRISEPACK", "Office 365 E3"),
        ("ENTERPRISEPREMIUM", "Office 365 E5"),
        ("EXCHANGESTANDARD", "Exchange Online (Plan 1)"),
        ("POWER_BI_PRO", "Power BI Pro"),
        ("POWER_BI_STANDARD", "Power BI (無料)"),
        ("FLOW_FREE", "Microsoft Power Automate Free"),
        ("TEAMS_EXPLORATORY", "Teams Exploratory"),
        ("VISIOCLIENT", "Visio Plan 2"),
        ("PROJECTPREMIUM", "Project Plan 5"),
        ("EMS", "Enterprise Mobility + Security E3"),
        ("AAD_PREMIUM", "Microsoft Entra ID P1"),
        ("O365_BUSINESS_PREMIUM", "Microsoft 365 Business Standard"),
        ("Microsoft_Teams_Premium", "Microsoft Teams Premium"),
    ],
)
def test_known_part_numbers_show_the_product_name(part_number: str, product_name: str) -> None:
    assert sku_display_name(part_number) == product_name


def test_part_numbers_match_regardless_of_case() -> None:
    assert sku_display_name("AAD_Premium") == "Microsoft Entra ID P1"


def test_unknown_part_number_is_shown_as_itself() -> None:
    assert sku_display_name("CONTOSO_CUSTOM_SKU") == "CONTOSO_CUSTOM_SKU"
