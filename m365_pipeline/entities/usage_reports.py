"""Microsoft 365 usage reports (``GET /reports/get...Detail(period=...)``, CSV): one declaration per report.

A report's columns are named by their CSV header, which Microsoft changes over time: they are read by header
name, never by position; a column the declaration lacks is ignored (and named in the load's metadata), a declared
column the file lacks is null unless it is required. While the tenant conceals names (reportSettings
displayConcealedNames, the default since 2021-09-01) the ``concealable`` columns hold hashes, not names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from m365_pipeline.entities.pii import PiiClass

ColumnKind = Literal["text", "date", "int", "bool"]
CONCEALED_NOTE = " A 32-digit hash instead while the tenant conceals names in reports."


@dataclass(frozen=True)
class ReportColumn:
    header: str  # as in the CSV
    name: str  # the warehouse column
    kind: ColumnKind
    description: str
    pii: PiiClass
    required: bool = False
    concealable: bool = False

    @property
    def documented(self) -> str:
        return self.description + (CONCEALED_NOTE if self.concealable else "")


@dataclass(frozen=True)
class UsageReportSpec:
    name: str  # asset and table name
    function: str  # Graph's function, e.g. getMailboxUsageDetail
    title: str
    columns: tuple[ReportColumn, ...]

    def path(self, period: str) -> str:
        return f"/reports/{self.function}(period='{period}')"

    @property
    def concealable(self) -> tuple[ReportColumn, ...]:
        return tuple(column for column in self.columns if column.concealable)


def _col(
    header: str,
    kind: ColumnKind,
    description: str,
    pii: PiiClass = PiiClass.NONE,
    *,
    required: bool = False,
    concealable: bool = False,
) -> ReportColumn:
    name = header.lower().replace(" (byte)", "_bytes").replace("/", "_").replace("-", "_").replace(" ", "_")
    return ReportColumn(header, name, kind, description, pii, required, concealable)


_REFRESH = _col("Report Refresh Date", "date", "Date the report's data was last refreshed.", required=True)
_PERIOD = _col("Report Period", "int", "Days the report covers (7, 30, 90 or 180).")
_UPN = _col("User Principal Name", "text", "Sign-in name of the user.", PiiClass.DIRECT, concealable=True)
_NAME = _col("Display Name", "text", "Name of the user.", PiiClass.DIRECT, concealable=True)
_DELETED = _col("Is Deleted", "bool", "Whether the user or site was deleted.")
_DELETED_DATE = _col("Deleted Date", "date", "When it was deleted.")
_LAST = _col("Last Activity Date", "date", "Last day with activity in the period.", PiiClass.QUASI)
_PRODUCTS = _col("Assigned Products", "text", "Products licensed to the user, '+'-joined.")
_SERVICES = ("Exchange", "OneDrive", "SharePoint", "Skype For Business", "Yammer", "Teams")

OFFICE365_ACTIVE_USERS = UsageReportSpec(
    "office365_active_users",
    "getOffice365ActiveUserDetail",
    "Microsoft 365 active users: per user, the services licensed and the last activity in each.",
    (
        _REFRESH,
        _UPN,
        _NAME,
        _DELETED,
        _DELETED_DATE,
        *(
            _col(f"Has {service} License", "bool", f"Whether the user has a {service} licence.")
            for service in _SERVICES
        ),
        *(
            _col(f"{service} Last Activity Date", "date", f"Last {service} activity.", PiiClass.QUASI)
            for service in _SERVICES
        ),
        *(_col(f"{service} License Assign Date", "date", f"When {service} was licensed.") for service in _SERVICES),
        _PRODUCTS,
    ),
)

MAILBOX_USAGE = UsageReportSpec(
    "mailbox_usage",
    "getMailboxUsageDetail",
    "Mailbox usage: per mailbox, items, storage and quotas.",
    (
        _REFRESH,
        _UPN,
        _NAME,
        _DELETED,
        _DELETED_DATE,
        _col("Created Date", "date", "When the mailbox was created."),
        _LAST,
        _col("Item Count", "int", "Items in the mailbox."),
        _col("Storage Used (Byte)", "int", "Bytes the mailbox uses."),
        _col("Issue Warning Quota (Byte)", "int", "Size at which the user is warned."),
        _col("Prohibit Send Quota (Byte)", "int", "Size at which sending stops."),
        _col("Prohibit Send/Receive Quota (Byte)", "int", "Size at which sending and receiving stop."),
        _col("Deleted Item Count", "int", "Items in Deleted Items."),
        _col("Deleted Item Size (Byte)", "int", "Bytes in Deleted Items."),
        _col("Deleted Item Quota (Byte)", "int", "Quota of Deleted Items."),
        _col("Has Archive", "bool", "Whether the mailbox has an archive."),
        _PERIOD,
    ),
)

EMAIL_ACTIVITY = UsageReportSpec(
    "email_activity",
    "getEmailActivityUserDetail",
    "E-mail activity: per user, messages sent, received and read, meetings created and interacted with.",
    (
        _REFRESH,
        _UPN,
        _NAME,
        _DELETED,
        _DELETED_DATE,
        _LAST,
        _col("Send Count", "int", "Messages sent in the period."),
        _col("Receive Count", "int", "Messages received in the period."),
        _col("Read Count", "int", "Messages read in the period."),
        _col("Meeting Created Count", "int", "Meetings created in the period."),
        _col("Meeting Interacted Count", "int", "Meetings interacted with in the period."),
        _PRODUCTS,
        _PERIOD,
    ),
)

_TEAMS_COUNTS = (
    "Team Chat Message Count",
    "Private Chat Message Count",
    "Call Count",
    "Meeting Count",
    "Post Messages",
    "Reply Messages",
    "Urgent Messages",
    "Meetings Organized Count",
    "Meetings Attended Count",
    "Ad Hoc Meetings Organized Count",
    "Ad Hoc Meetings Attended Count",
    "Scheduled One-time Meetings Organized Count",
    "Scheduled One-time Meetings Attended Count",
    "Scheduled Recurring Meetings Organized Count",
    "Scheduled Recurring Meetings Attended Count",
)
TEAMS_USER_ACTIVITY = UsageReportSpec(
    "teams_user_activity",
    "getTeamsUserActivityUserDetail",
    "Teams user activity: per user, messages, calls, meetings and their durations.",
    (
        _REFRESH,
        _col("Tenant Display Name", "text", "Name of the user's tenant."),
        _col("Shared Channel Tenant Display Names", "text", "Tenants of the shared channels the user took part in."),
        _col("User Id", "text", "Object id of the user.", PiiClass.QUASI),
        _UPN,
        _LAST,
        _DELETED,
        _DELETED_DATE,
        _PRODUCTS,
        *(
            _col(header, "int", f"How many ({header.removesuffix(' Count')}) in the period.")
            for header in _TEAMS_COUNTS
        ),
        _col("Audio Duration", "text", "Time in audio calls and meetings (ISO 8601 duration)."),
        _col("Video Duration", "text", "Time in video calls and meetings (ISO 8601 duration)."),
        _col("Screen Share Duration", "text", "Time sharing screen (ISO 8601 duration)."),
        _col("Audio Duration In Seconds", "int", "Seconds in audio calls and meetings."),
        _col("Video Duration In Seconds", "int", "Seconds in video calls and meetings."),
        _col("Screen Share Duration In Seconds", "int", "Seconds sharing screen."),
        _col("Has Other Action", "bool", "Whether the user did something else in Teams."),
        _col("Is Licensed", "bool", "Whether the user has a Teams licence."),
        _PERIOD,
    ),
)

_SITE_URL = _col("Site URL", "text", "Address of the site.", PiiClass.QUASI, concealable=True)
_OWNER = _col("Owner Display Name", "text", "Name of the site's owner.", PiiClass.DIRECT, concealable=True)
_OWNER_UPN = _col("Owner Principal Name", "text", "Sign-in name of the owner.", PiiClass.DIRECT, concealable=True)
_FILES = _col("File Count", "int", "Files on the site.")
_ACTIVE_FILES = _col("Active File Count", "int", "Files active in the period.")
_USED = _col("Storage Used (Byte)", "int", "Bytes the site uses.")
_ALLOCATED = _col("Storage Allocated (Byte)", "int", "Bytes the site may use.")

ONEDRIVE_USAGE = UsageReportSpec(
    "onedrive_usage",
    "getOneDriveUsageAccountDetail",
    "OneDrive usage: per account, files and storage.",
    (_REFRESH, _SITE_URL, _OWNER, _DELETED, _LAST, _FILES, _ACTIVE_FILES, _USED, _ALLOCATED, _OWNER_UPN, _PERIOD),
)

SHAREPOINT_SITE_USAGE = UsageReportSpec(
    "sharepoint_site_usage",
    "getSharePointSiteUsageDetail",
    "SharePoint site usage: per site, files, page views and storage.",
    (
        _REFRESH,
        _col("Site Id", "text", "Id of the site."),
        _SITE_URL,
        _OWNER,
        _DELETED,
        _LAST,
        _FILES,
        _ACTIVE_FILES,
        _col("Page View Count", "int", "Page views in the period."),
        _col("Visited Page Count", "int", "Distinct pages visited in the period."),
        _USED,
        _ALLOCATED,
        _col("Root Web Template", "text", "Template of the site's root web."),
        _OWNER_UPN,
        _PERIOD,
    ),
)

USAGE_REPORTS: dict[str, UsageReportSpec] = {
    report.name: report
    for report in (
        OFFICE365_ACTIVE_USERS,
        MAILBOX_USAGE,
        EMAIL_ACTIVITY,
        TEAMS_USER_ACTIVITY,
        ONEDRIVE_USAGE,
        SHAREPOINT_SITE_USAGE,
    )
}
PERIODS = ("D7", "D30", "D90", "D180")
