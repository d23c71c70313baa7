"""Microsoft 365 usage reports as the emulator serves them (reportroot-get*.md, concepts/report-concealed-names).

``GET /v1.0/reports/{function}(period='D7'|'D30'|'D90'|'D180')`` answers ``302 Found`` with a ``Location`` on the
download host (another host name in-process, another port when served), whose ``/data/download/{token}`` returns
``200 application/octet-stream``: the report as CSV, UTF-8 with a byte order mark, columns in the documented
order. The token is signed and expires after ``DOWNLOAD_LIFETIME`` seconds; a download that carries an
``Authorization`` header is refused, as the real download host does with a Graph token.

Each tenant has ``/admin/reportSettings`` ``displayConcealedNames`` (true by default, as in Microsoft 365 since
2021-09-01): while it is on, user principal names, display names and personal site URLs are replaced by a
stable hash (32 upper-case hex digits) of the real value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from m365_pipeline.emulator.odata import GraphError, bad_request
from m365_pipeline.emulator.tenant import SyntheticTenant

DOWNLOAD_PATH = "/data/download/"
DOWNLOAD_LIFETIME = 300.0
IN_PROCESS_DOWNLOAD_BASE = "https://reports.emulator.invalid"
PERIODS = {"D7": 7, "D30": 30, "D90": 90, "D180": 180}
CSV_CONTENT_TYPE = "application/octet-stream"
BOM = "\ufeff"
_CALL = re.compile(r"(\w+)\(period='?(\w+)'?\)", re.ASCII)

Row = dict[str, str]


def _hash(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest().upper()


def _flag(value: bool) -> str:
    return "True" if value else "False"


def _date(now: float, days_ago: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now - days_ago * 86_400))


@dataclass(frozen=True)
class _Report:
    columns: tuple[str, ...]
    concealed: tuple[str, ...]  # columns holding names, hashed while names are concealed
    rows: Callable[[SyntheticTenant, random.Random, float, int], list[Row]]


def _licensed(tenant: SyntheticTenant) -> list[dict[str, Any]]:
    return [user for user in tenant.users if user["assignedLicenses"]]


def _active_users(tenant: SyntheticTenant, rng: random.Random, now: float, days: int) -> list[Row]:
    rows = []
    for user in _licensed(tenant):
        active = {service: rng.random() < 0.8 for service in ("Exchange", "OneDrive", "SharePoint", "Teams")}
        row = {"User Principal Name": user["userPrincipalName"], "Display Name": user["displayName"] or ""}
        row |= {"Is Deleted": "False", "Deleted Date": ""}
        for service in ("Exchange", "OneDrive", "SharePoint", "Skype For Business", "Yammer", "Teams"):
            row[f"Has {service} License"] = _flag(service not in ("Skype For Business", "Yammer"))
            row[f"{service} Last Activity Date"] = _date(now, rng.random() * days) if active.get(service) else ""
            row[f"{service} License Assign Date"] = _date(now, 400 + rng.random() * 900)
        row["Assigned Products"] = "OFFICE 365 E3"
        rows.append(row)
    return rows


def _mailbox_usage(tenant: SyntheticTenant, rng: random.Random, now: float, days: int) -> list[Row]:
    rows = []
    for user in tenant.users:
        if not user["mail"] or user["userType"] != "Member":
            continue
        rows.append(
            {
                "User Principal Name": user["userPrincipalName"],
                "Display Name": user["displayName"] or "",
                "Is Deleted": "False",
                "Deleted Date": "",
                "Created Date": user["createdDateTime"][:10],
                "Last Activity Date": _date(now, rng.random() * days),
                "Item Count": str(int(rng.random() * 40_000)),
                "Storage Used (Byte)": str(int(rng.random() * 40_000_000_000)),
                "Issue Warning Quota (Byte)": "105226698752",
                "Prohibit Send Quota (Byte)": "106300440576",
                "Prohibit Send/Receive Quota (Byte)": "107374182400",
                "Deleted Item Count": str(int(rng.random() * 3_000)),
                "Deleted Item Size (Byte)": str(int(rng.random() * 900_000_000)),
                "Deleted Item Quota (Byte)": "32212254720",
                "Has Archive": _flag(rng.random() < 0.2),
            }
        )
    return rows


def _email_activity(tenant: SyntheticTenant, rng: random.Random, now: float, days: int) -> list[Row]:
    rows = []
    for user in tenant.users:
        if not user["mail"] or user["userType"] != "Member":
            continue
        rows.append(
            {
                "User Principal Name": user["userPrincipalName"],
                "Display Name": user["displayName"] or "",
                "Is Deleted": "False",
                "Deleted Date": "",
                "Last Activity Date": _date(now, rng.random() * days),
                "Send Count": str(int(rng.random() * 30 * days)),
                "Receive Count": str(int(rng.random() * 90 * days)),
                "Read Count": str(int(rng.random() * 80 * days)),
                "Meeting Created Count": str(int(rng.random() * days)),
                "Meeting Interacted Count": str(int(rng.random() * 2 * days)),
                "Assigned Products": "OFFICE 365 E3",
            }
        )
    return rows


def _teams_activity(tenant: SyntheticTenant, rng: random.Random, now: float, days: int) -> list[Row]:
    rows = []
    for user in _licensed(tenant):
        audio, video = int(rng.random() * 3600 * days), int(rng.random() * 1200 * days)
        rows.append(
            {
                "Tenant Display Name": tenant.display_name,
                "Shared Channel Tenant Display Names": "",
                "User Id": user["id"],
                "User Principal Name": user["userPrincipalName"],
                "Last Activity Date": _date(now, rng.random() * days),
                "Is Deleted": "False",
                "Deleted Date": "",
                "Assigned Products": "MICROSOFT TEAMS",
                "Team Chat Message Count": str(int(rng.random() * 20 * days)),
                "Private Chat Message Count": str(int(rng.random() * 40 * days)),
                "Call Count": str(int(rng.random() * 3 * days)),
                "Meeting Count": str(int(rng.random() * 4 * days)),
                "Post Messages": str(int(rng.random() * 2 * days)),
                "Reply Messages": str(int(rng.random() * 3 * days)),
                "Urgent Messages": str(int(rng.random() * 0.2 * days)),
                **{header: str(int(rng.random() * days)) for header in _MEETING_COUNTS},
                "Audio Duration": f"PT{audio}S",
                "Video Duration": f"PT{video}S",
                "Screen Share Duration": "PT0S",
                "Audio Duration In Seconds": str(audio),
                "Video Duration In Seconds": str(video),
                "Screen Share Duration In Seconds": "0",
                "Has Other Action": _flag(rng.random() < 0.3),
                "Is Licensed": "True",
            }
        )
    return rows


def _onedrive_usage(tenant: SyntheticTenant, rng: random.Random, now: float, days: int) -> list[Row]:
    rows = []
    for user in _licensed(tenant):
        personal = user["userPrincipalName"].replace("@", "_").replace(".", "_")
        files = int(rng.random() * 20_000)
        rows.append(
            {
                "Site URL": f"https://{tenant.default_domain.split('.')[0]}-my.sharepoint.com/personal/{personal}",
                "Owner Display Name": user["displayName"] or "",
                "Is Deleted": "False",
                "Last Activity Date": _date(now, rng.random() * days),
                "File Count": str(files),
                "Active File Count": str(int(files * rng.random() * 0.1)),
                "Storage Used (Byte)": str(int(rng.random() * 900_000_000_000)),
                "Storage Allocated (Byte)": "1099511627776",
                "Owner Principal Name": user["userPrincipalName"],
            }
        )
    return rows


def _sharepoint_sites(tenant: SyntheticTenant, rng: random.Random, now: float, days: int) -> list[Row]:
    host = tenant.default_domain.split(".")[0]
    rows = []
    sites = [("root", "", "SITEPAGEPUBLISHING#0")] + [
        (group["id"], group["mailNickname"], "GROUP#0") for group in tenant.groups if "Unified" in group["groupTypes"]
    ]
    for site_id, nickname, template in sites:
        files = int(rng.random() * 50_000)
        rows.append(
            {
                "Site Id": site_id,
                "Site URL": f"https://{host}.sharepoint.com/{'sites/' + nickname if nickname else ''}",
                "Owner Display Name": "",
                "Is Deleted": "False",
                "Last Activity Date": _date(now, rng.random() * days),
                "File Count": str(files),
                "Active File Count": str(int(files * rng.random() * 0.1)),
                "Page View Count": str(int(rng.random() * 500 * days)),
                "Visited Page Count": str(int(rng.random() * 50 * days)),
                "Storage Used (Byte)": str(int(rng.random() * 2_000_000_000_000)),
                "Storage Allocated (Byte)": "27487790694400",
                "Root Web Template": template,
                "Owner Principal Name": "",
            }
        )
    return rows


def _columns(*names: str) -> tuple[str, ...]:
    return ("Report Refresh Date", *names, "Report Period")


_MEETING_COUNTS = (
    "Meetings Organized Count",
    "Meetings Attended Count",
    "Ad Hoc Meetings Organized Count",
    "Ad Hoc Meetings Attended Count",
    "Scheduled One-time Meetings Organized Count",
    "Scheduled One-time Meetings Attended Count",
    "Scheduled Recurring Meetings Organized Count",
    "Scheduled Recurring Meetings Attended Count",
)
_SERVICES = ("Exchange", "OneDrive", "SharePoint", "Skype For Business", "Yammer", "Teams")
REPORTS: dict[str, _Report] = {
    "getoffice365activeuserdetail": _Report(
        (
            "Report Refresh Date",
            "User Principal Name",
            "Display Name",
            "Is Deleted",
            "Deleted Date",
            *(f"Has {service} License" for service in _SERVICES),
            *(f"{service} Last Activity Date" for service in _SERVICES),
            *(f"{service} License Assign Date" for service in _SERVICES),
            "Assigned Products",
        ),
        ("User Principal Name", "Display Name"),
        _active_users,
    ),
    "getmailboxusagedetail": _Report(
        _columns(
            "User Principal Name",
            "Display Name",
            "Is Deleted",
            "Deleted Date",
            "Created Date",
            "Last Activity Date",
            "Item Count",
            "Storage Used (Byte)",
            "Issue Warning Quota (Byte)",
            "Prohibit Send Quota (Byte)",
            "Prohibit Send/Receive Quota (Byte)",
            "Deleted Item Count",
            "Deleted Item Size (Byte)",
            "Deleted Item Quota (Byte)",
            "Has Archive",
        ),
        ("User Principal Name", "Display Name"),
        _mailbox_usage,
    ),
    "getemailactivityuserdetail": _Report(
        _columns(
            "User Principal Name",
            "Display Name",
            "Is Deleted",
            "Deleted Date",
            "Last Activity Date",
            "Send Count",
            "Receive Count",
            "Read Count",
            "Meeting Created Count",
            "Meeting Interacted Count",
            "Assigned Products",
        ),
        ("User Principal Name", "Display Name"),
        _email_activity,
    ),
    "getteamsuseractivityuserdetail": _Report(
        _columns(
            "Tenant Display Name",
            "Shared Channel Tenant Display Names",
            "User Id",
            "User Principal Name",
            "Last Activity Date",
            "Is Deleted",
            "Deleted Date",
            "Assigned Products",
            "Team Chat Message Count",
            "Private Chat Message Count",
            "Call Count",
            "Meeting Count",
            "Post Messages",
            "Reply Messages",
            "Urgent Messages",
            *_MEETING_COUNTS,
            "Audio Duration",
            "Video Duration",
            "Screen Share Duration",
            "Audio Duration In Seconds",
            "Video Duration In Seconds",
            "Screen Share Duration In Seconds",
            "Has Other Action",
            "Is Licensed",
        ),
        ("User Principal Name",),
        _teams_activity,
    ),
    "getonedriveusageaccountdetail": _Report(
        _columns(
            "Site URL",
            "Owner Display Name",
            "Is Deleted",
            "Last Activity Date",
            "File Count",
            "Active File Count",
            "Storage Used (Byte)",
            "Storage Allocated (Byte)",
            "Owner Principal Name",
        ),
        ("Site URL", "Owner Display Name", "Owner Principal Name"),
        _onedrive_usage,
    ),
    "getsharepointsiteusagedetail": _Report(
        _columns(
            "Site Id",
            "Site URL",
            "Owner Display Name",
            "Is Deleted",
            "Last Activity Date",
            "File Count",
            "Active File Count",
            "Page View Count",
            "Visited Page Count",
            "Storage Used (Byte)",
            "Storage Allocated (Byte)",
            "Root Web Template",
            "Owner Principal Name",
        ),
        ("Site URL", "Owner Display Name", "Owner Principal Name"),
        _sharepoint_sites,
    ),
}


class UsageReports:
    """Usage reports of the tenants an emulator serves: the 302 and the signed download it points to."""

    def __init__(self, secret: bytes, tenants: dict[str, SyntheticTenant]) -> None:
        self._secret = secret
        self._tenants = tenants
        self.download_base: str | None = None  # where downloads answer; None: IN_PROCESS_DOWNLOAD_BASE
        self.concealed_names = {tenant_id: True for tenant_id in tenants}

    def settings(self, tenant_id: str) -> dict[str, Any]:
        return {"id": tenant_id, "displayConcealedNames": self.concealed_names[tenant_id]}

    def redirect(self, tenant_id: str, call_text: str, now: float) -> str:
        """The Location of ``reports/{call_text}`` for ``tenant_id``."""
        match = _CALL.fullmatch(call_text)
        if match is None or match.group(1).lower() not in REPORTS:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{call_text}'.")
        function, period = match.group(1).lower(), match.group(2)
        if period not in PERIODS:
            raise bad_request(f"Invalid value '{period}' for parameter 'period': expected D7, D30, D90 or D180.")
        payload = f"{tenant_id}|{function}|{period}|{now + DOWNLOAD_LIFETIME:.3f}".encode()
        token = base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()
        return f"{self.download_base or IN_PROCESS_DOWNLOAD_BASE}{DOWNLOAD_PATH}{token}"

    def download(self, token: str, now: float) -> bytes:
        """The CSV of a download token; a GraphError when it was changed or has expired."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        payload, mac = raw[:-16], raw[-16:]
        if len(raw) <= 16 or not hmac.compare_digest(mac, self._mac(payload)):
            raise GraphError(404, "NotFound", "The report download link is not valid.")
        tenant_id, function, period, expires = payload.decode().split("|")
        if now > float(expires):
            raise GraphError(403, "Expired", "The report download link has expired; request the report again.")
        return self._csv(self._tenants[tenant_id], function, period, now)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]

    def _csv(self, tenant: SyntheticTenant, function: str, period: str, now: float) -> bytes:
        report = REPORTS[function]
        days = PERIODS[period]
        refreshed = _date(now, 2)
        rng = random.Random(f"{tenant.tenant_id}|{function}|{period}|{refreshed}")
        conceal = self.concealed_names[tenant.tenant_id]
        lines = [",".join(report.columns)]
        for row in report.rows(tenant, rng, now, days):
            row = {**row, "Report Refresh Date": refreshed, "Report Period": str(days)}
            if conceal:
                row |= {name: _hash(row[name]) for name in report.concealed if row.get(name)}
            lines.append(",".join(_quoted(row.get(column, "")) for column in report.columns))
        return (BOM + "\r\n".join(lines) + "\r\n").encode("utf-8")


def _quoted(value: str) -> str:
    if any(char in value for char in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
